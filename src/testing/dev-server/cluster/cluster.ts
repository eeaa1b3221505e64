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

/**
 * memberlist util.go suspicionTimeout with DefaultLANConfig (SuspicionMult 4, ProbeInterval 1 s):
 * `4 × max(1, log10(n)) × 1 s`, so 4 s up to 10 nodes, 5.2 s for 20.
 */
export function lanSuspicionTimeoutMs(nodes: number): number {
  return Math.round(DEFAULT_SUSPICION_TIMEOUT_MS * Math.max(1, Math.log10(Math.max(1, nodes))));
}

/** Every DevServerOptions but the per-node ones; `dnsPort` is node 1's (node i gets dnsPort + i - 1, 0 picks each). */
export interface DevClusterOptions extends Omit<DevServerOptions, 'port' | 'nodeName' | 'nodeId'> {
  /** How many nodes (all servers). @default 3 */
  nodes?: number;
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
  /** The node's own dev server handle (state introspection, setCheckStatus, …). */
  readonly server: DevServer;
}

export interface DevCluster extends AsyncDisposable {
  readonly datacenter: string;
  readonly agents: readonly DevClusterAgent[];
  /** The node whose server currently leads, or undefined while there is no leader. */
  readonly leader: string | undefined;
  agent(node: string): DevClusterAgent;
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
    readonly dc: Datacenter,
    private readonly nodes: readonly Node[],
  ) {}

  get datacenter(): string {
    return this.dc.name;
  }

  get agents(): readonly DevClusterAgent[] {
    return this.nodes.map((n) => n.agent);
  }

  get leader(): string | undefined {
    return this.dc.leaderNode();
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
    this.closed ??= Promise.all(this.nodes.map((n) => n.impl.close())).then(() => this.dc.stop());
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private find(node: string): Node {
    const found = this.nodes.find((n) => n.agent.node === node);
    if (!found) throw new ConfigError(`unknown node ${JSON.stringify(node)}; nodes are ${this.nodes.map((n) => n.agent.node).join(', ')}`, 'node');
    return found;
  }
}

/**
 * Starts a dev cluster of `nodes` agents on loopback sharing one datacenter. Each node advertises
 * its own (simulated) Serf LAN and server ports: 8301/8300 for the first node, +10 per node.
 */
export async function startDevCluster(options: DevClusterOptions = {}): Promise<DevCluster> {
  const { nodes: count = options.nodeNames?.length ?? 3, nodeNames, ports, suspicionTimeout, electionTimeout, ...shared } = options;
  if (!Number.isInteger(count) || count < 1) {
    throw new ConfigError(`option "nodes" must be a positive integer, got ${String(count)}`, 'nodes');
  }
  const names = nodeNames ? [...nodeNames] : Array.from({ length: count }, (_, i) => `node-${i + 1}`);
  if (names.length !== count || new Set(names).size !== count || names.some((n) => n === '')) {
    throw new ConfigError(`option "nodeNames" must hold ${count} distinct non-empty names`, 'nodeNames');
  }
  if (ports !== undefined && ports.length !== count) {
    throw new ConfigError(`option "ports" must hold one port per node (${count})`, 'ports');
  }
  // Each node's DNS interface gets its own port: dnsPort + i (0 picks a free one for each).
  const dnsPort = (i: number): number | undefined => (shared.dnsPort === undefined || shared.dnsPort === 0 ? shared.dnsPort : shared.dnsPort + i);
  const resolved = names.map((nodeName, i) => resolveOptions({ ...shared, nodeName, port: ports?.[i] ?? 0, dnsPort: dnsPort(i) }));
  const dc = new Datacenter(resolved[0]!, {
    suspicionTimeoutMs: toMs('suspicionTimeout', suspicionTimeout ?? lanSuspicionTimeoutMs(count), { min: 1 }),
    electionTimeoutMs: toMs('electionTimeout', electionTimeout ?? '1s'),
  });
  const nodes: Node[] = [];
  try {
    for (const [i, opts] of resolved.entries()) {
      const impl = new DevServerImpl(opts, { datacenter: dc, raftPort: 8300 + 10 * i, serfPort: 8301 + 10 * i });
      await impl.listen(opts.port);
      nodes.push({ impl, agent: { node: opts.nodeName, url: impl.url, port: impl.port, server: impl } });
    }
    dc.start();
  } catch (err) {
    await Promise.all(nodes.map((n) => n.impl.close()));
    dc.stop();
    throw err;
  }
  return new DevClusterImpl(dc, nodes);
}
