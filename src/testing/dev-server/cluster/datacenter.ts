/**
 * One datacenter's servers as a whole: the Raft state (KV, sessions, catalog, indexes), its
 * leadership, the leader's session TTL timers (agent/consul/session_ttl.go), the tombstone GC,
 * and the Serf LAN member list with the leader's member reconciliation (agent/consul/leader.go
 * `reconcileMember`: handleAliveMember / handleFailedMember / handleLeftMember).
 *
 * Agents ({@link DcAgent}, one per node) attach to it. A single `startDevServer()` is a datacenter
 * with one agent; `startDevCluster()` attaches several. A second datacenter is just another
 * instance: nothing here is global.
 */
import { Timers, type TimerHandle } from '../clock.js';
import { NO_LEADER, RequestAborted, RpcError } from '../http/errors.js';
import type { ResolvedOptions } from '../options.js';
import { deleteCheck, deleteService, ensureCheck, ensureNode, ensureService, nodeChecks, servicesOfNode } from '../state/catalog.js';
import { reapTombstones } from '../state/kv.js';
import { nodeSessions, sessionDestroy, sessionGet } from '../state/sessions.js';
import { Store, type WriteResult, type WriteTx } from '../state/store.js';
import type { CheckRow, CheckStatus, SessionRow } from '../state/types.js';
import type { UserEvent } from '../agent/events.js';
import { parseGoDurationNs } from '../../../internal/duration.js';
import type { Federation } from './federation.js';

/** structs.SessionTTLMultiplier: a TTL session is invalidated after TTL × 2 without a renew. */
export const SESSION_TTL_MULTIPLIER = 2;

/** structs.SerfCheckID and friends (agent/structs). */
export const SERF_CHECK_ID = 'serfHealth';
export const SERF_CHECK_NAME = 'Serf Health Status';
export const SERF_ALIVE_OUTPUT = 'Agent alive and reachable';
export const SERF_FAILED_OUTPUT = 'Agent not live or unreachable';

/** structs.ConsulServiceID / ConsulServiceName. */
export const CONSUL_SERVICE_ID = 'consul';

/** Reported by /v1/agent/self, node meta and member tags. */
export const DEV_SERVER_CONSUL_VERSION = '1.20.0';

/**
 * Raft entries a fresh dev agent applies before any user write (raft configuration, autopilot,
 * CA and other leader bootstrap writes). Only their count matters: the first user write must land
 * above index 1, as on a real agent.
 */
const INTERNAL_BOOTSTRAP_WRITES = 10;

/**
 * memberlist's failure detection with Consul's LAN defaults (DefaultLANConfig: ProbeInterval 1 s,
 * SuspicionMult 4): a suspected member is declared dead after
 * `SuspicionMult × max(1, log10(n)) × ProbeInterval` (util.go suspicionTimeout), 4 s for a
 * cluster of up to 10 nodes. The probe that raises the suspicion comes first (up to a probe
 * interval), and without confirmations from other members the timeout may stretch up to
 * SuspicionMaxTimeoutMult (6) times that; the dev cluster uses the minimum.
 */
export const DEFAULT_SUSPICION_TIMEOUT_MS = 4_000;

/** serf.MemberStatus as /v1/agent/members encodes it. */
export const MEMBER_STATUS = { none: 0, alive: 1, leaving: 2, left: 3, failed: 4 } as const;
export type MemberStatus = keyof typeof MEMBER_STATUS;

/** What the datacenter needs from an agent attached to it. */
export interface DcAgent {
  readonly options: ResolvedOptions;
  /** The Serf LAN port (8301 for a single agent) and the server RPC port (8300). */
  readonly serfPort: number;
  readonly raftPort: number;
  /** Anti-entropy: push out-of-sync services and checks (called when a leader is established). */
  syncAgent(): void;
  /** Gossip delivery of a user event fired on another agent. */
  deliverEvent(event: UserEvent): void;
}

/** A Serf LAN member (serf.Member) plus the process state the dev cluster simulates. */
export interface Member {
  readonly name: string;
  readonly agent: DcAgent;
  status: MemberStatus;
  /** False while the process is stopped (killed or paused): it answers no probe. */
  running: boolean;
  suspicion: TimerHandle | undefined;
}

export interface DatacenterOptions {
  /** Suspicion time before an unreachable member is declared failed. */
  readonly suspicionTimeoutMs: number;
  /** Leaderless time after the leader's process stops, before another server takes over. */
  readonly electionTimeoutMs: number;
}

export class Datacenter {
  readonly timers = new Timers();
  store: Store;
  /** The WAN federation of a multi-datacenter dev cluster; undefined for a lone datacenter. */
  federation: Federation | undefined;
  private readonly members = new Map<string, Member>();
  private leader = true;
  private leaderName: string | undefined;
  private leaderlessSince = 0;
  /** Leadership lost through the `leaderless()` hook (not an election): only restoreLeader ends it. */
  private forcedLeaderless = false;
  private leaderTimer: TimerHandle | undefined;
  private readonly leaderWaiters = new Set<() => void>();
  private readonly sessionTimers = new Map<string, TimerHandle>();
  private reapTimer: TimerHandle | undefined;
  /** Catalog-only check updates (serfHealth) made while leaderless, applied on recovery. */
  private readonly pendingCatalogChecks = new Map<string, CheckRow>();

  constructor(
    /** Shared settings (datacenter name, tombstone TTL, rpc hold, logger): the first agent's. */
    readonly options: ResolvedOptions,
    readonly dcOptions: DatacenterOptions = { suspicionTimeoutMs: DEFAULT_SUSPICION_TIMEOUT_MS, electionTimeoutMs: 0 },
  ) {
    this.store = this.newStore();
  }

  get name(): string {
    return this.options.datacenter;
  }

  // ---- leadership -------------------------------------------------------------------------

  get isLeader(): boolean {
    return this.leader;
  }

  /** X-Consul-LastContact: 0 on the leader; time since leadership was lost otherwise. */
  lastContactMs(): number {
    return this.leader ? 0 : Date.now() - this.leaderlessSince;
  }

  /** The node whose server leads, or undefined while leaderless. */
  leaderNode(): string | undefined {
    return this.leader ? this.leaderName : undefined;
  }

  /** The leader's Raft address (`/v1/status/leader`), or "" while leaderless. */
  leaderAddress(): string {
    if (!this.leader || this.leaderName === undefined) return '';
    const m = this.members.get(this.leaderName);
    return m ? raftAddress(m.agent) : '';
  }

  /** The Raft peers (`/v1/status/peers`): every server that has not left. */
  peers(): string[] {
    return [...this.members.values()].filter((m) => m.status !== 'left').map((m) => raftAddress(m.agent));
  }

  /**
   * Loses leadership (the `leaderless()` hook). Like a stepping-down leader (`revokeLeadership` →
   * clearAllSessionTimers), every session TTL timer stops: no session expires without a leader.
   */
  stepDown(ms?: number): void {
    this.forcedLeaderless = true;
    this.loseLeadership();
    if (ms !== undefined) this.leaderTimer = this.timers.after(ms, () => this.establishLeadership());
  }

  /**
   * Regains leadership. As `establishLeadership` → `initializeSessionTimers`, every TTL session
   * gets a fresh TTL × 2 timer from now (time spent leaderless is forgiven), the agents'
   * out-of-sync checks are pushed, and the tombstone GC resumes. Needs a quorum of running
   * servers; without one the datacenter stays leaderless until a server comes back.
   */
  establishLeadership(): void {
    this.forcedLeaderless = false;
    this.leaderTimer?.cancel();
    this.leaderTimer = undefined;
    if (this.leader) return;
    const next = this.electable();
    if (next === undefined) return;
    this.leader = true;
    this.leaderName = next.name;
    this.initializeSessionTimers();
    for (const row of this.pendingCatalogChecks.values()) {
      this.write((tx) => ensureCheck(tx, row, this.options.tombstoneTtlMs));
    }
    this.pendingCatalogChecks.clear();
    // The new leader reconciles every member (leader.go reconcile): failures detected meanwhile.
    for (const m of this.members.values()) this.reconcileMember(m);
    for (const m of this.members.values()) if (m.running) m.agent.syncAgent();
    this.scheduleReap();
    for (const wake of [...this.leaderWaiters]) wake();
  }

  /**
   * ForwardRPC's leader wait: succeed at once with a leader; otherwise hold up to
   * `rpc_hold_timeout` for one, then fail with `No cluster leader` (a 500).
   */
  async requireLeader(signal: AbortSignal, holdMs = this.options.rpcHoldTimeoutMs): Promise<void> {
    if (this.leader) return;
    if (holdMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          timer.cancel();
          this.leaderWaiters.delete(done);
          signal.removeEventListener('abort', aborted);
          resolve();
        };
        const aborted = (): void => {
          timer.cancel();
          this.leaderWaiters.delete(done);
          reject(new RequestAborted());
        };
        const timer = this.timers.after(holdMs, done);
        this.leaderWaiters.add(done);
        signal.addEventListener('abort', aborted, { once: true });
      });
      if (this.leader) return;
    }
    throw new RpcError(NO_LEADER);
  }

  // ---- writes -------------------------------------------------------------------------------

  /** One Raft write. Schedules the tombstone GC when the write left tombstones. */
  write<T>(fn: (tx: WriteTx) => T, keep?: (result: T) => boolean): WriteResult<T> {
    const out = this.store.write(fn, keep);
    this.scheduleReap();
    return out;
  }

  // ---- sessions -----------------------------------------------------------------------------

  /** resetSessionTimer / createSessionTimer: (re)arm TTL × 2 for a TTL session. */
  resetSessionTimer(session: SessionRow): void {
    if (!this.leader) return;
    const ttlNs = session.TTL === '' ? 0 : (parseGoDurationNs(session.TTL) ?? 0);
    if (ttlNs <= 0) return;
    this.sessionTimers.get(session.ID)?.cancel();
    const id = session.ID;
    this.sessionTimers.set(
      id,
      this.timers.after((ttlNs / 1e6) * SESSION_TTL_MULTIPLIER, () => {
        this.sessionTimers.delete(id);
        this.log('debug', 'Session TTL expired', { session: id });
        this.destroySession(id);
      }),
    );
  }

  clearSessionTimer(id: string): void {
    this.sessionTimers.get(id)?.cancel();
    this.sessionTimers.delete(id);
  }

  /** Invalidates a session in one write (release/delete per Behavior, lock-delay applied). */
  destroySession(id: string): boolean {
    this.clearSessionTimer(id);
    if (!sessionGet(this.store.read(), id)) return false;
    return this.write((tx) => sessionDestroy(tx, id, this.options.tombstoneTtlMs)).result;
  }

  private initializeSessionTimers(): void {
    for (const session of this.store.read().all('sessions')) this.resetSessionTimer(session);
  }

  private clearAllSessionTimers(): void {
    for (const handle of this.sessionTimers.values()) handle.cancel();
    this.sessionTimers.clear();
  }

  // ---- catalog-only checks ------------------------------------------------------------------

  /**
   * Writes a catalog-only check of a node (serfHealth): directly with a leader, or once a leader
   * is back. Critical invalidates the sessions bound to it. Throws for an unknown check.
   */
  setCatalogCheck(node: string, checkId: string, status: CheckStatus, output?: string): void {
    const key = `${node}\u0000${checkId}`;
    const existing = this.pendingCatalogChecks.get(key) ?? this.store.read().get('checks', key);
    if (!existing) throw new Error(`unknown check ${JSON.stringify(checkId)}`);
    const defaultOutput = checkId === SERF_CHECK_ID ? (status === 'critical' ? SERF_FAILED_OUTPUT : SERF_ALIVE_OUTPUT) : existing.Output;
    const row: CheckRow = { ...existing, Status: status, Output: output ?? defaultOutput };
    if (!this.leader) {
      this.pendingCatalogChecks.set(key, row);
      return;
    }
    this.write((tx) => ensureCheck(tx, row, this.options.tombstoneTtlMs));
  }

  // ---- members (Serf LAN) -------------------------------------------------------------------

  /** The LAN members, in join order (serf.Members). */
  listMembers(): readonly Member[] {
    return [...this.members.values()];
  }

  member(name: string): Member | undefined {
    return this.members.get(name);
  }

  /** The member whose Serf LAN address is `addr` (`host:port`, port 8301 when omitted). */
  memberAt(addr: string): Member | undefined {
    return [...this.members.values()].find((m) => serfAddress(m.agent) === addr || serfAddress(m.agent) === `${addr}:8301`);
  }

  /**
   * A node's agent joins the LAN pool (agent start, or a restart): alive at once, and the leader
   * registers it (handleAliveMember). The first member becomes the leader.
   */
  join(agent: DcAgent): Member {
    const name = agent.options.nodeName;
    let m = this.members.get(name);
    if (!m) {
      m = { name, agent, status: 'alive', running: true, suspicion: undefined };
      this.members.set(name, m);
    }
    m.running = true;
    m.status = 'alive';
    m.suspicion?.cancel();
    m.suspicion = undefined;
    if (this.leaderName === undefined && !this.forcedLeaderless) this.leaderName = name;
    if (!this.leader && !this.forcedLeaderless && this.leaderTimer === undefined) this.establishLeadership();
    this.reconcileMember(m);
    return m;
  }

  /**
   * The node's process stopped (killed or paused): nothing changes until the failure detector's
   * suspicion time has passed; then the member is failed and the leader marks its serfHealth
   * critical. If it was the leader, another server takes over after the election timeout.
   */
  processStopped(name: string): void {
    const m = this.members.get(name);
    if (!m || !m.running) return;
    m.running = false;
    m.suspicion?.cancel();
    m.suspicion = this.timers.after(this.dcOptions.suspicionTimeoutMs, () => {
      m.suspicion = undefined;
      if (m.running || m.status !== 'alive') return;
      this.log('info', 'member failed', { node: name });
      m.status = 'failed';
      this.reconcileMember(m);
    });
    if (this.leader && this.leaderName === name) {
      this.loseLeadership();
      this.leaderTimer = this.timers.after(this.dcOptions.electionTimeoutMs, () => {
        this.leaderTimer = undefined;
        this.establishLeadership();
      });
    }
  }

  /** The process runs again (resume): it refutes any suspicion and is alive. */
  processResumed(name: string): void {
    const m = this.members.get(name);
    if (!m) return;
    this.join(m.agent);
  }

  /** Graceful leave (`/v1/agent/leave`): left at once, and the leader deregisters the node. */
  leave(name: string): void {
    const m = this.members.get(name);
    if (!m) return;
    m.suspicion?.cancel();
    m.suspicion = undefined;
    m.status = 'left';
    m.running = false;
    this.reconcileMember(m);
    if (this.leaderName === name) {
      this.loseLeadership();
      this.establishLeadership();
    }
  }

  /**
   * serf.RemoveFailedNode(Prune) through `/v1/agent/force-leave/:node`: a failed member becomes
   * left (and is deregistered); an alive one refutes the intent (no change); an unknown name is
   * ignored. With `prune` the member is also erased from the list.
   */
  forceLeave(name: string, prune: boolean): void {
    const m = this.members.get(name);
    if (!m) return;
    if (m.status === 'failed' || (m.status === 'left' && prune)) {
      m.status = 'left';
      this.reconcileMember(m);
      if (prune) this.members.delete(name);
    }
  }

  /** Gossip of a user event to every other running agent. */
  broadcastEvent(from: DcAgent, event: UserEvent): void {
    for (const m of this.members.values()) {
      if (m.agent !== from && m.running && m.status === 'alive') m.agent.deliverEvent(event);
    }
  }

  /**
   * leader.go reconcileMember: alive → the node with a passing serfHealth and, for a server, the
   * `consul` service; failed → serfHealth critical (its sessions are invalidated in that write);
   * left → the node is deregistered (its services, checks and sessions go with it).
   */
  private reconcileMember(m: Member): void {
    if (!this.leader) return;
    if (m.status === 'alive') this.handleAliveMember(m.agent);
    else if (m.status === 'failed') {
      if (this.store.read().get('nodes', m.name)) this.setCatalogCheck(m.name, SERF_CHECK_ID, 'critical');
    } else if (m.status === 'left') this.deregisterNode(m.name);
  }

  private handleAliveMember(agent: DcAgent): void {
    const { nodeName, nodeId, datacenter, host } = agent.options;
    const address = advertiseAddress(host);
    const read = this.store.read();
    const serf = read.get('checks', `${nodeName}\u0000${SERF_CHECK_ID}`);
    if (read.get('nodes', nodeName) && serf?.Status === 'passing' && read.get('services', `${nodeName}\u0000${CONSUL_SERVICE_ID}`)) return;
    const ttl = this.options.tombstoneTtlMs;
    this.write((tx) => {
      ensureNode(tx, {
        ID: nodeId,
        Node: nodeName,
        Address: address,
        Datacenter: datacenter,
        TaggedAddresses: { lan: address, lan_ipv4: address, wan: address, wan_ipv4: address },
        // Go marshals map keys sorted; the agent adds its two keys to the configured node_meta.
        Meta: sortedRecord({ ...agent.options.nodeMeta, 'consul-network-segment': '', 'consul-version': DEV_SERVER_CONSUL_VERSION }),
      });
      ensureCheck(tx, serfHealthRow(nodeName, 'passing', SERF_ALIVE_OUTPUT), ttl);
      ensureService(tx, consulServiceRow(nodeName, agent.raftPort));
    });
  }

  /** deregisterNode → Catalog.Deregister of a whole node: sessions, checks, services, node. */
  private deregisterNode(node: string): void {
    const read = this.store.read();
    if (!read.get('nodes', node)) return;
    const ttl = this.options.tombstoneTtlMs;
    this.write((tx) => {
      for (const s of nodeSessions(tx, node)) sessionDestroy(tx, s.ID, ttl);
      for (const s of servicesOfNode(tx, node)) deleteService(tx, node, s.ServiceID, ttl);
      for (const c of nodeChecks(tx, node)) deleteCheck(tx, node, c.CheckID, ttl);
      tx.delete('nodes', node);
    });
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Starts the leader's background work. */
  start(): void {
    if (this.leader) {
      this.initializeSessionTimers();
      this.scheduleReap();
    }
  }

  /** Stops every timer (close / restart of a single server). */
  stop(): void {
    this.timers.clear();
    this.sessionTimers.clear();
    this.reapTimer = undefined;
    this.leaderTimer = undefined;
    for (const m of this.members.values()) m.suspicion = undefined;
  }

  /**
   * Restart of a single server. `keepState` keeps the Raft state (a server restarting from its
   * data dir) but drops the in-memory lock-delays (st/delay.go: "lost on restart"); otherwise the
   * state is fresh, as a restarted `-dev` agent. A restarted server elects itself leader again.
   */
  reset(keepState: boolean): void {
    this.stop();
    this.pendingCatalogChecks.clear();
    if (keepState) this.store.lockDelay.clear();
    else this.store = this.newStore();
    this.leader = true;
    this.forcedLeaderless = false;
    this.leaderlessSince = 0;
    for (const m of this.members.values()) {
      m.status = 'alive';
      m.running = true;
      this.reconcileMember(m);
    }
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.options.logger[level]?.(message, fields);
  }

  // ---- internals ----------------------------------------------------------------------------

  private newStore(): Store {
    const store = new Store();
    store.index = INTERNAL_BOOTSTRAP_WRITES;
    return store;
  }

  private loseLeadership(): void {
    this.leaderTimer?.cancel();
    this.leaderTimer = undefined;
    if (!this.leader) return;
    this.leader = false;
    this.leaderlessSince = Date.now();
    this.clearAllSessionTimers();
    this.reapTimer?.cancel();
    this.reapTimer = undefined;
  }

  /** A running server to lead, if a quorum of the servers that have not left is running. */
  private electable(): Member | undefined {
    const voters = [...this.members.values()].filter((m) => m.status !== 'left');
    const running = voters.filter((m) => m.running);
    if (voters.length > 0 && running.length <= voters.length / 2) return undefined;
    const current = this.leaderName === undefined ? undefined : this.members.get(this.leaderName);
    if (current?.running && current.status !== 'left') return current;
    return running[0];
  }

  /**
   * Tombstone GC (agent/consul/state/tombstone_gc.go): tombstones expire after TombstoneTTL,
   * bucketed by a granularity (30 s); the leader then reaps them in one Raft write.
   */
  private scheduleReap(): void {
    if (this.reapTimer || !this.leader) return;
    let earliest = Infinity;
    for (const stone of this.store.tables.tombstones.values()) earliest = Math.min(earliest, stone.reapAt);
    if (earliest === Infinity) return;
    const g = this.options.tombstoneGranularityMs;
    const due = Math.ceil(earliest / g) * g;
    this.reapTimer = this.timers.after(due - Date.now(), () => {
      this.reapTimer = undefined;
      if (!this.leader) return;
      const now = Date.now();
      const expired = [...this.store.tables.tombstones.values()].some((s) => s.reapAt <= now);
      if (expired) this.write((tx) => reapTombstones(tx, now));
      else this.scheduleReap();
    });
  }
}

/** The address a node advertises: the bind address, or loopback for a wildcard bind. */
export function advertiseAddress(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === 'localhost' ? '127.0.0.1' : host;
}

function hostPort(host: string, port: number): string {
  const a = advertiseAddress(host);
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

export function raftAddress(agent: DcAgent): string {
  return hostPort(agent.options.host, agent.raftPort);
}

export function serfAddress(agent: DcAgent): string {
  return hostPort(agent.options.host, agent.serfPort);
}

function serfHealthRow(node: string, status: CheckStatus, output: string): Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'> {
  return {
    Node: node,
    CheckID: SERF_CHECK_ID,
    Name: SERF_CHECK_NAME,
    Status: status,
    Notes: '',
    Output: output,
    ServiceID: '',
    ServiceName: '',
    ServiceTags: [],
    Type: '',
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: {},
  };
}

/** leader.go handleAliveMember: a server node carries the catalog-only `consul` service. */
function consulServiceRow(node: string, port: number): Parameters<typeof ensureService>[1] {
  return {
    Node: node,
    ServiceKind: '',
    ServiceID: CONSUL_SERVICE_ID,
    ServiceName: CONSUL_SERVICE_ID,
    ServiceTags: [],
    ServiceAddress: '',
    ServiceTaggedAddresses: {},
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceMeta: {
      non_voter: 'false',
      raft_version: '3',
      read_replica: 'false',
      serf_protocol_current: '2',
      serf_protocol_max: '5',
      serf_protocol_min: '1',
      version: DEV_SERVER_CONSUL_VERSION,
    },
    ServicePort: port,
    ServiceEnableTagOverride: false,
  };
}

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key]!;
  return out;
}
