/**
 * `startDevCluster()`: N dev agents (every one a server, as in a small Consul cluster) sharing one
 * {@link Datacenter} — KV, sessions, catalog, events — each with its own HTTP port, node name,
 * local services and checks, and `serfHealth`. Killing or pausing a node's process lets the
 * failure detector declare it failed after the suspicion time; the leader then marks its
 * `serfHealth` critical, which invalidates the sessions bound to it (leader.go handleFailedMember).
 */
import { ConfigError } from '../../../errors.js';
import { toMs } from '../../../internal/duration.js';
import { type DevServerOptions, resolveOptions } from '../options.js';
import { type DevServer, DevServerImpl } from '../server.js';
import { DEFAULT_SUSPICION_TIMEOUT_MS, Datacenter } from './datacenter.js';
import { Federation } from './federation.js';

/**
 * memberlist util.go suspicionTimeout with DefaultLANConfig (SuspicionMult 4, ProbeInterval 1 s):
 * `4 × max(1, log10(n)) × 1 s`, so 4 s up to 10 nodes, 5.2 s for 20.
 */
export function lanSuspicionTimeoutMs(nodes: number): number {
  return Math.round(DEFAULT_SUSPICION_TIMEOUT_MS * Math.max(1, Math.log10(Math.max(1, nodes))));
}

/** Every DevServerOptions but the per-node ones; `dnsPort` is node 1's (node i gets dnsPort + i - 1, 0 picks each). */
export interface DevClusterOptions extends Omit<DevServerOptions, 'port' | 'nodeName' | 'nodeId' | 'datacenter'> {
  /** How many nodes (all servers), in one datacenter. @default 3 */
  nodes?: number;
  /**
   * Several datacenters joined over the WAN, with their server counts: `{ dc1: 3, dc2: 1 }`.
   * Each has its own state (KV, sessions, catalog, events, prepared queries) and leader; a request
   * with `?dc=` is answered by that datacenter. Node names are `<dc>-node-<i>`; `ports` lists
   * every node's port in that order. Excludes `nodes`, `nodeNames` and `datacenter`. @default one datacenter (`datacenter`, `nodes`)
   */
  datacenters?: Readonly<Record<string, number>>;
  /**
   * Simulated round-trip times between datacenters in ms, symmetric: `{ dc1: { dc2: 30 } }`. They
   * order `/v1/catalog/datacenters` and a prepared query's `NearestN` failover.
   * @default 10 ms per step of the order of `datacenters`
   */
  datacenterRtt?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** The datacenter of a single-datacenter cluster. @default 'dc1' */
  datacenter?: string;
  /** Node names, one per node. @default ['node-1', 'node-2', …] */
  nodeNames?: readonly string[];
  /** HTTP ports, one per node; 0 picks a free one. @default every port 0 */
  ports?: readonly number[];
  /**
   * How long a stopped node stays "suspected" before it is declared failed: memberlist's
   * `SuspicionMult × max(1, log10(n)) × ProbeInterval` with Consul's LAN defaults (4 × 1 s).
   * Lower it for fast tests. @default '4s' (up to 10 nodes; `4 s × log10(nodes)` beyond)
   */
  suspicionTimeout?: string | number;
  /**
   * How long the datacenter has no leader after the leading server's process stops, before a
   * running server (with a quorum) takes over: Raft's 1 s heartbeat/election timeout.
   * @default '1s'
   */
  electionTimeout?: string | number;
}

export interface DevClusterAgent {
  readonly node: string;
  /** `http://host:port` of this node's agent. */
  readonly url: string;
  readonly port: number;
  /** The datacenter the node belongs to. */
  readonly datacenter: string;
  /** The node's own dev server handle (state introspection, setCheckStatus, …). */
  readonly server: DevServer;
}

export interface DevCluster extends AsyncDisposable {
  /** The first (or only) datacenter. */
  readonly datacenter: string;
  /** Every datacenter, in the order of the `datacenters` option. */
  readonly datacenters: readonly string[];
  /** Every node of every datacenter. */
  readonly agents: readonly DevClusterAgent[];
  /** The node whose server currently leads the first datacenter, or undefined while there is no leader. */
  readonly leader: string | undefined;
  /** The leading node of `datacenter`, or undefined while it has no leader. */
  leaderOf(datacenter: string): string | undefined;
  /** The nodes of one datacenter. */
  agentsIn(datacenter: string): readonly DevClusterAgent[];
  agent(node: string): DevClusterAgent;
  /**
   * Cuts `datacenter` off from the others over the WAN (both ways): requests forwarded between
   * them fail with 500 `No path to datacenter`, the WAN member list shows the other side's servers
   * failed, and a prepared query's failover skips it. Inside the datacenter everything works.
   */
  partitionDatacenter(datacenter: string): void;
  /** Ends {@link partitionDatacenter}. */
  healDatacenter(datacenter: string): void;
  /**
   * The node's process dies: its HTTP port closes and its checks stop running. After the
   * suspicion time its `serfHealth` turns critical (sessions bound to it are invalidated, with
   * their lock-delay); if it led, another server leads after the election timeout.
   */
  killNode(node: string): Promise<void>;
  /**
   * The node's process stops (SIGSTOP): requests are accepted but not answered, its timers
   * freeze, and the cluster sees it fail after the suspicion time, as for a kill.
   */
  pauseNode(node: string): void;
  /** Continues a paused process: held requests are answered and the member is alive again. */
  resumeNode(node: string): void;
  /**
   * Brings the node back (from killed, paused or running): its process starts again on the same
   * port with its local services and checks, rejoins, and its `serfHealth` is passing again.
   */
  restartNode(node: string): Promise<void>;
  /** No leader for `ms` (or until {@link restoreLeader}), as `DevServer.leaderless`. */
  leaderless(ms?: number): void;
  restoreLeader(): void;
  /** Closes every node. Idempotent. */
  close(): Promise<void>;
}

interface Node {
  readonly agent: DevClusterAgent;
  readonly impl: DevServerImpl;
}

class DevClusterImpl implements DevCluster {
  private closed: Promise<void> | undefined;

  constructor(
    private readonly dcs: readonly Datacenter[],
    private readonly nodes: readonly Node[],
    private readonly federation: Federation | undefined,
  ) {}

  /** The first datacenter (the only one of a single-datacenter cluster). */
  get dc(): Datacenter {
    return this.dcs[0]!;
  }

  get datacenter(): string {
    return this.dc.name;
  }

  get datacenters(): readonly string[] {
    return this.dcs.map((d) => d.name);
  }

  get agents(): readonly DevClusterAgent[] {
    return this.nodes.map((n) => n.agent);
  }

  get leader(): string | undefined {
    return this.dc.leaderNode();
  }

  leaderOf(datacenter: string): string | undefined {
    return this.findDc(datacenter).leaderNode();
  }

  agentsIn(datacenter: string): readonly DevClusterAgent[] {
    this.findDc(datacenter);
    return this.agents.filter((a) => a.datacenter === datacenter);
  }

  partitionDatacenter(datacenter: string): void {
    this.findDc(datacenter);
    this.federation?.partition(datacenter);
  }

  healDatacenter(datacenter: string): void {
    this.findDc(datacenter);
    this.federation?.heal(datacenter);
  }

  agent(node: string): DevClusterAgent {
    return this.find(node).agent;
  }

  async killNode(node: string): Promise<void> {
    await this.find(node).impl.stopProcess();
  }

  pauseNode(node: string): void {
    this.find(node).impl.pause();
  }

  resumeNode(node: string): void {
    this.find(node).impl.resume();
  }

  async restartNode(node: string): Promise<void> {
    const { impl } = this.find(node);
    await impl.stopProcess();
    await impl.startProcess();
  }

  leaderless(ms?: number): void {
    this.dc.stepDown(ms);
  }

  restoreLeader(): void {
    this.dc.establishLeadership();
  }

  close(): Promise<void> {
    this.closed ??= Promise.all(this.nodes.map((n) => n.impl.close())).then(() => {
      for (const dc of this.dcs) dc.stop();
    });
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private findDc(name: string): Datacenter {
    const found = this.dcs.find((d) => d.name === name);
    if (!found) throw new TypeError(`unknown datacenter ${JSON.stringify(name)}; datacenters are ${this.datacenters.join(', ')}`);
    return found;
  }

  private find(node: string): Node {
    const found = this.nodes.find((n) => n.agent.node === node);
    if (!found) throw new ConfigError(`unknown node ${JSON.stringify(node)}; nodes are ${this.nodes.map((n) => n.agent.node).join(', ')}`, 'node');
    return found;
  }
}

/**
 * Starts a dev cluster on loopback: `nodes` agents sharing one datacenter, or, with
 * `datacenters`, several datacenters joined over the WAN. Each node advertises its own
 * (simulated) Serf LAN and server ports: 8301/8300 for the first node, +10 per node.
 */
export async function startDevCluster(options: DevClusterOptions = {}): Promise<DevCluster> {
  const { nodes: count = options.nodeNames?.length ?? 3, nodeNames, ports, suspicionTimeout, electionTimeout, datacenters, datacenterRtt, datacenter, ...shared } = options;
  const layout = clusterLayout(options, count);
  if (ports !== undefined && ports.length !== layout.reduce((n, d) => n + d.names.length, 0)) {
    throw new ConfigError(`option "ports" must hold one port per node (${layout.reduce((n, d) => n + d.names.length, 0)})`, 'ports');
  }
  const federation = datacenters === undefined ? undefined : new Federation(datacenterRtt);
  const dcs: Datacenter[] = [];
  const nodes: Node[] = [];
  let nodeIndex = 0;
  try {
    for (const { name: dcName, names } of layout) {
      // Each node's DNS interface gets its own port: dnsPort + i (0 picks a free one for each).
      const dnsPort = (i: number): number | undefined => (shared.dnsPort === undefined || shared.dnsPort === 0 ? shared.dnsPort : shared.dnsPort + i);
      const resolved = names.map((nodeName, i) =>
        resolveOptions({ ...shared, datacenter: dcName, nodeName, port: ports?.[nodeIndex + i] ?? 0, dnsPort: dnsPort(nodeIndex + i) }),
      );
      const dc = new Datacenter(resolved[0]!, {
        suspicionTimeoutMs: toMs('suspicionTimeout', suspicionTimeout ?? lanSuspicionTimeoutMs(names.length), { min: 1 }),
        electionTimeoutMs: toMs('electionTimeout', electionTimeout ?? '1s'),
      });
      dcs.push(dc);
      const impls: DevServerImpl[] = [];
      for (const opts of resolved) {
        const i = nodeIndex++;
        const impl = new DevServerImpl(opts, { datacenter: dc, raftPort: 8300 + 10 * i, serfPort: 8301 + 10 * i });
        await impl.listen(opts.port);
        impls.push(impl);
        nodes.push({ impl, agent: { node: opts.nodeName, datacenter: dcName, url: impl.url, port: impl.port, server: impl } });
      }
      federation?.add(dc, impls.map((impl) => impl.core));
    }
    for (const dc of dcs) dc.start();
  } catch (err) {
    await Promise.all(nodes.map((n) => n.impl.close()));
    for (const dc of dcs) dc.stop();
    throw err;
  }
  return new DevClusterImpl(dcs, nodes, federation);
}

/** The datacenters and their node names, validated (ConfigError naming the option). */
function clusterLayout(options: DevClusterOptions, count: number): { name: string; names: string[] }[] {
  const { datacenters, nodeNames } = options;
  if (datacenters !== undefined) {
    for (const name of ['nodes', 'nodeNames', 'datacenter'] as const) {
      if (options[name] !== undefined) throw new ConfigError(`option "${name}" cannot be combined with "datacenters"`, name);
    }
    if (datacenters === null || typeof datacenters !== 'object' || Object.keys(datacenters).length === 0) {
      throw new ConfigError('option "datacenters" must map at least one datacenter name to its node count', 'datacenters');
    }
    return Object.entries(datacenters).map(([name, n]) => {
      if (!/^[a-zA-Z0-9_-]+$/.test(name)) throw new ConfigError(`datacenter name ${JSON.stringify(name)} must be letters, digits, '-' or '_'`, 'datacenters');
      if (!Number.isInteger(n) || n < 1) throw new ConfigError(`option "datacenters.${name}" must be a positive integer, got ${String(n)}`, 'datacenters');
      return { name, names: Array.from({ length: n }, (_, i) => `${name}-node-${i + 1}`) };
    });
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new ConfigError(`option "nodes" must be a positive integer, got ${String(count)}`, 'nodes');
  }
  const names = nodeNames ? [...nodeNames] : Array.from({ length: count }, (_, i) => `node-${i + 1}`);
  if (names.length !== count || new Set(names).size !== count || names.some((n) => n === '')) {
    throw new ConfigError(`option "nodeNames" must hold ${count} distinct non-empty names`, 'nodeNames');
  }
  return [{ name: options.datacenter ?? 'dc1', names }];
}
