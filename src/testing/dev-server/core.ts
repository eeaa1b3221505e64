/**
 * One dev agent without HTTP: its local state (services, checks, user events, timers) and the
 * datacenter it belongs to ({@link Datacenter}: Raft state, leadership, session TTL timers,
 * tombstone GC, members). A single `startDevServer()` owns its datacenter; the agents of a dev
 * cluster share one. Routes call into the core; the public DevServer drives its lifecycle.
 */
import { UserEvents, type UserEvent } from './agent/events.js';
import { Agent } from './agent/state.js';
import { Timers } from './clock.js';
import { type DcAgent, Datacenter } from './cluster/datacenter.js';
import { LogMonitors } from './agent/monitor.js';
import { AgentCache } from './http/agent-cache.js';
import type { ResolvedOptions } from './options.js';
import { deleteCheck, deleteService, ensureCheck, ensureService } from './state/catalog.js';
import type { Store, WriteResult, WriteTx } from './state/store.js';
import type { CheckStatus, SessionRow } from './state/types.js';

export {
  CONSUL_SERVICE_ID,
  DEV_SERVER_CONSUL_VERSION,
  SERF_CHECK_ID,
  SESSION_TTL_MULTIPLIER,
} from './cluster/datacenter.js';

export interface CoreOptions {
  /** The datacenter to join; a new one of its own when absent (a single dev agent). */
  readonly datacenter?: Datacenter;
  /** Serf LAN and server RPC ports this node advertises. @default 8301 / 8300 */
  readonly serfPort?: number;
  readonly raftPort?: number;
}

export class Core implements DcAgent {
  /** This agent's timers (check runners, blocking-query timeouts): paused with its process. */
  readonly timers = new Timers();
  readonly dc: Datacenter;
  /** True when this agent is the only one of its datacenter (it starts, stops and resets it). */
  readonly ownsDatacenter: boolean;
  readonly serfPort: number;
  readonly raftPort: number;
  agent: Agent;
  /** The agent's user-event buffer (memory only: lost on every restart). */
  events: UserEvents;
  /** Set by the hosting DevServer: stops the agent's process (after `/v1/agent/leave`). */
  onShutdown: (() => void) | undefined;
  /** Open `/v1/agent/monitor` streams. */
  readonly monitors = new LogMonitors();
  /** The agent cache's view of `?cached` reads (X-Cache / Age). */
  readonly cache = new AgentCache();
  /** Tokens set with `/v1/agent/token/:type` (memory only); `default` is used for requests without one. */
  readonly agentTokens = new Map<string, string>();

  constructor(
    readonly options: ResolvedOptions,
    coreOptions: CoreOptions = {},
  ) {
    this.ownsDatacenter = coreOptions.datacenter === undefined;
    this.dc = coreOptions.datacenter ?? new Datacenter(options);
    this.serfPort = coreOptions.serfPort ?? 8301;
    this.raftPort = coreOptions.raftPort ?? 8300;
    this.agent = this.newAgent();
    this.events = this.newEvents();
    this.dc.join(this);
  }

  // ---- the datacenter, as routes see it -----------------------------------------------------

  get store(): Store {
    return this.dc.store;
  }

  get isLeader(): boolean {
    return this.dc.isLeader;
  }

  lastContactMs(): number {
    return this.dc.lastContactMs();
  }

  stepDown(ms?: number): void {
    this.dc.stepDown(ms);
  }

  establishLeadership(): void {
    this.dc.establishLeadership();
  }

  requireLeader(signal: AbortSignal): Promise<void> {
    return this.dc.requireLeader(signal, this.options.rpcHoldTimeoutMs);
  }

  write<T>(fn: (tx: WriteTx) => T, keep?: (result: T) => boolean): WriteResult<T> {
    return this.dc.write(fn, keep);
  }

  resetSessionTimer(session: SessionRow): void {
    this.dc.resetSessionTimer(session);
  }

  clearSessionTimer(id: string): void {
    this.dc.clearSessionTimer(id);
  }

  destroySession(id: string): boolean {
    return this.dc.destroySession(id);
  }

  // ---- DcAgent ------------------------------------------------------------------------------

  syncAgent(): void {
    this.agent.sync();
  }

  deliverEvent(event: UserEvent): void {
    this.events.deliver(event);
  }

  /** Fires a user event on this agent and gossips it to the others of the datacenter. */
  fireEvent(input: Parameters<UserEvents['fire']>[0]): UserEvent {
    const event = this.events.fire(input);
    this.dc.broadcastEvent(this, event);
    return event;
  }

  /** ShutdownAgent after a leave: the reply goes out first, then the process stops. */
  requestShutdown(): void {
    const hook = this.onShutdown;
    // Leave the reply a moment to reach the client before every connection is dropped.
    if (hook) setTimeout(hook, 50);
  }

  // ---- checks -------------------------------------------------------------------------------

  /**
   * Test hook: force a check's status. Agent checks go through the agent (and sync); catalog-only
   * checks (serfHealth) are written to the catalog directly, or once a leader is back.
   */
  setCheckStatus(checkId: string, status: CheckStatus, output?: string): void {
    if (this.agent.get(checkId)) {
      this.agent.force(checkId, status, output ?? '');
      return;
    }
    this.dc.setCatalogCheck(this.options.nodeName, checkId, status, output);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Starts the agent's (and, for a single agent, the leader's) background work (after listen). */
  start(): void {
    if (this.ownsDatacenter) this.dc.start();
    this.agent.startTimers();
  }

  /** Stops every timer and wakes nobody (close / restart / kill). */
  stop(): void {
    this.timers.clear();
    this.agent.stopTimers();
    if (this.ownsDatacenter) this.dc.stop();
  }

  /**
   * Restart support for a single agent. `keepState` keeps the Raft state and the agent's checks;
   * otherwise the agent and its datacenter are fresh, as a restarted `-dev` agent.
   */
  reset(keepState: boolean): void {
    this.stop();
    if (!keepState) this.agent = this.newAgent();
    // Events are not persisted (agent.go keeps them in memory only).
    this.events = this.newEvents();
    if (this.ownsDatacenter) this.dc.reset(keepState);
  }

  /**
   * A catalog registration on this agent's own node: a local service with EnableTagOverride takes
   * the catalog's tags (agent/local/state.go updateSyncState). Other differences would be undone
   * by the agent's next full sync, which the dev server does not run.
   */
  adoptCatalogTags(req: { readonly node: { readonly Node: string }; readonly service?: { readonly ServiceID: string; readonly ServiceTags: readonly string[] } | undefined }): void {
    if (req.node.Node !== this.options.nodeName || !req.service) return;
    this.agent.adoptCatalogTags(req.service.ServiceID, req.service.ServiceTags);
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.options.logger[level]?.(message, fields);
    this.monitors.publish(level, message, fields);
  }

  // ---- internals ----------------------------------------------------------------------------

  private newAgent(): Agent {
    // The host's isLeader must read the live value, so the getter closes over the core.
    const core = this;
    const ttl = this.options.tombstoneTtlMs;
    const node = this.options.nodeName;
    // A failed sync is only logged; the agent write it follows still succeeded (syncChanges).
    const attempt = (what: string, fn: (tx: WriteTx) => void): void => {
      try {
        this.write(fn);
      } catch (err) {
        this.log('warn', 'failed to sync changes', { what, error: err instanceof Error ? err.message : String(err) });
      }
    };
    return new Agent({
      nodeName: node,
      get isLeader(): boolean {
        return core.isLeader;
      },
      reapIntervalMs: this.options.checkReapIntervalMs,
      after: (ms, fn) => this.timers.after(ms, fn),
      syncService: (service, checks) =>
        attempt(`service ${service.ServiceID}`, (tx) => {
          ensureService(tx, service);
          for (const check of checks) ensureCheck(tx, check, ttl);
        }),
      deleteService: (serviceId) => attempt(`service ${serviceId}`, (tx) => void deleteService(tx, node, serviceId, ttl)),
      syncCheck: (checkId, row) =>
        attempt(`check ${checkId}`, (tx) => (row ? ensureCheck(tx, row, ttl) : deleteCheck(tx, node, checkId, ttl))),
      log: (level, message, fields) => this.log(level, message, fields),
    });
  }

  private newEvents(): UserEvents {
    return new UserEvents({
      nodeName: this.options.nodeName,
      localServices: () => this.agent.listServices().map((s) => ({ id: s.ID, tags: s.Tags })),
    });
  }
}
