/**
 * Several datacenters joined over the WAN, as a multi-datacenter dev cluster runs them: each
 * {@link Datacenter} keeps its own state (KV, sessions, catalog, events, prepared queries) and its
 * own leader; a request with `?dc=<other>` is forwarded to a server of that datacenter
 * (agent/consul/rpc.go `forwardDC` through the router), which answers from its own state.
 *
 * What Consul derives from the WAN gossip pool is simulated here:
 * - the route to a datacenter (agent/router/router.go `FindRoute`): a datacenter nobody knows,
 *   or one whose servers are all unreachable (partitioned), has no route, and the request fails
 *   with `No path to datacenter` (structs.ErrNoDCPath), a 500;
 * - the round-trip times between datacenters (network coordinates): `GetDatacentersByDistance`
 *   sorts the datacenters by the median RTT to their servers, ties by name, the local one first
 *   (its RTT is 0). The dev cluster takes them from its options instead of measuring them;
 * - the WAN member list (`/v1/agent/members?wan=1`): every datacenter's servers as `node.dc`,
 *   those of a datacenter cut off from ours `failed`.
 */
import type { Core } from '../core.js';
import { RpcError } from '../http/errors.js';
import type { Datacenter, Member, MemberStatus } from './datacenter.js';

/** structs.ErrNoDCPath. */
export const NO_PATH_TO_DATACENTER = 'No path to datacenter';

/** Default RTT between two datacenters: 10 ms per step of their declaration order. */
export const DEFAULT_RTT_STEP_MS = 10;

interface DcEntry {
  readonly dc: Datacenter;
  readonly agents: readonly Core[];
  readonly order: number;
}

/** A WAN member as one datacenter sees it. */
export interface WanMember {
  readonly member: Member;
  /** The member's status seen from the asking datacenter (failed when cut off from it). */
  readonly status: MemberStatus;
  /** Servers of the member's datacenter (its bootstrap_expect). */
  readonly expect: number;
}

export class Federation {
  private readonly dcs = new Map<string, DcEntry>();
  private readonly partitioned = new Set<string>();

  constructor(
    /** Explicit RTTs in ms, symmetric: `{ dc1: { dc2: 30 } }`. Pairs not given use the default. */
    private readonly rtt: Readonly<Record<string, Readonly<Record<string, number>>>> = {},
  ) {}

  /** Adds a datacenter with its agents (in join order). */
  add(dc: Datacenter, agents: readonly Core[]): void {
    this.dcs.set(dc.name, { dc, agents, order: this.dcs.size });
    dc.federation = this;
  }

  names(): string[] {
    return [...this.dcs.keys()];
  }

  datacenter(name: string): Datacenter | undefined {
    return this.dcs.get(name)?.dc;
  }

  /** Cuts `name` off from every other datacenter (both ways). */
  partition(name: string): void {
    this.require(name);
    this.partitioned.add(name);
  }

  heal(name: string): void {
    this.require(name);
    this.partitioned.delete(name);
  }

  isPartitioned(name: string): boolean {
    return this.partitioned.has(name);
  }

  /** Whether `from` can reach `to` over the WAN (always true for itself). */
  reachable(from: string, to: string): boolean {
    if (from === to) return true;
    return this.dcs.has(to) && !this.partitioned.has(from) && !this.partitioned.has(to);
  }

  /**
   * The agent that serves a request forwarded from `from` to `to`: the leading server of `to`
   * when its process runs, otherwise any running server (a follower forwards to its leader, or
   * answers `No cluster leader`). Throws `No path to datacenter` when there is no route.
   */
  route(from: string, to: string): Core {
    const target = this.dcs.get(to);
    if (!target || !this.reachable(from, to)) throw new RpcError(NO_PATH_TO_DATACENTER);
    const running = target.agents.filter((a) => target.dc.member(a.options.nodeName)?.running);
    const leader = target.dc.leaderNode();
    const serving = running.find((a) => a.options.nodeName === leader) ?? running[0];
    if (!serving) throw new RpcError(NO_PATH_TO_DATACENTER);
    return serving;
  }

  /** Simulated RTT in ms between two datacenters (0 within one). */
  rttMs(a: string, b: string): number {
    if (a === b) return 0;
    const explicit = this.rtt[a]?.[b] ?? this.rtt[b]?.[a];
    if (explicit !== undefined) return explicit;
    const oa = this.dcs.get(a)?.order ?? 0;
    const ob = this.dcs.get(b)?.order ?? 0;
    return DEFAULT_RTT_STEP_MS * Math.abs(oa - ob);
  }

  /**
   * router.go `GetDatacentersByDistance` seen from `from`: every known datacenter (reachable or
   * not: a partitioned one keeps its place), by RTT, then by name.
   */
  byDistance(from: string): string[] {
    return this.names().sort((a, b) => this.rttMs(from, a) - this.rttMs(from, b) || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The WAN pool as `from` sees it: every datacenter's servers, in datacenter order. */
  wanMembers(from: string): WanMember[] {
    const out: WanMember[] = [];
    for (const [name, { dc }] of this.dcs) {
      const members = dc.listMembers();
      for (const member of members) {
        const cutOff = !this.reachable(from, name);
        out.push({ member, status: cutOff && member.status === 'alive' ? 'failed' : member.status, expect: members.length });
      }
    }
    return out;
  }

  private require(name: string): void {
    if (!this.dcs.has(name)) throw new TypeError(`unknown datacenter ${JSON.stringify(name)}; datacenters are ${this.names().join(', ')}`);
  }
}
