/**
 * The dev server's "agent + single Raft server", without HTTP: the state store, leadership, the
 * leader's session TTL timers (agent/consul/session_ttl.go), the tombstone GC, and the agent's
 * local checks. Routes call into it; the public DevServer drives its lifecycle and fault hooks.
 */
import { UserEvents } from './agent/events.js';
import { LogMonitors } from './agent/monitor.js';
import { Agent } from './agent/state.js';
import { AgentCache } from './http/agent-cache.js';
import { Timers, type TimerHandle } from './clock.js';
import { NO_LEADER, RequestAborted, RpcError } from './http/errors.js';
import type { ResolvedOptions } from './options.js';
import { deleteCheck, deleteService, ensureCheck, ensureNode, ensureService } from './state/catalog.js';
import { reapTombstones } from './state/kv.js';
import { sessionDestroy, sessionGet } from './state/sessions.js';
import { Store, type WriteResult, type WriteTx } from './state/store.js';
import type { CheckRow, CheckStatus, SessionRow } from './state/types.js';
import { parseGoDurationNs } from '../../internal/duration.js';

/** structs.SessionTTLMultiplier: a TTL session is invalidated after TTL × 2 without a renew. */
export const SESSION_TTL_MULTIPLIER = 2;

/** structs.SerfCheckID and friends (agent/structs). */
export const SERF_CHECK_ID = 'serfHealth';
const SERF_CHECK_NAME = 'Serf Health Status';
const SERF_ALIVE_OUTPUT = 'Agent alive and reachable';
const SERF_FAILED_OUTPUT = 'Agent not live or unreachable';

/**
 * Raft entries a fresh dev agent applies before any user write (raft configuration, autopilot,
 * CA and other leader bootstrap writes). Only their count matters: the first user write must land
 * above index 1, as on a real agent.
 */
const INTERNAL_BOOTSTRAP_WRITES = 10;

export class Core {
  readonly timers = new Timers();
  store: Store;
  agent: Agent;
  /** The agent's user-event buffer (memory only: lost on every restart). */
  events: UserEvents;
  /** Open `/v1/agent/monitor` streams. */
  readonly monitors = new LogMonitors();
  /** The agent cache's view of `?cached` reads (X-Cache / Age). */
  readonly cache = new AgentCache();
  /** Tokens set with `/v1/agent/token/:type` (memory only); `default` is used for requests without one. */
  readonly agentTokens = new Map<string, string>();
  private leader = true;
  private leaderlessSince = 0;
  private leaderTimer: TimerHandle | undefined;
  private readonly leaderWaiters = new Set<() => void>();
  private readonly sessionTimers = new Map<string, TimerHandle>();
  private reapTimer: TimerHandle | undefined;
  /** Catalog-only check updates (serfHealth) made while leaderless, applied on recovery. */
  private readonly pendingCatalogChecks = new Map<string, CheckRow>();

  constructor(readonly options: ResolvedOptions) {
    this.store = this.bootstrap();
    this.agent = this.newAgent();
    this.events = this.newEvents();
  }

  // ---- leadership -------------------------------------------------------------------------

  get isLeader(): boolean {
    return this.leader;
  }

  /** X-Consul-LastContact: 0 on the leader; time since leadership was lost otherwise. */
  lastContactMs(): number {
    return this.leader ? 0 : Date.now() - this.leaderlessSince;
  }

  /**
   * Loses leadership. Like a stepping-down leader (`revokeLeadership` → clearAllSessionTimers),
   * every session TTL timer stops: no session expires while there is no leader.
   */
  stepDown(ms?: number): void {
    this.leaderTimer?.cancel();
    this.leaderTimer = undefined;
    if (this.leader) {
      this.leader = false;
      this.leaderlessSince = Date.now();
      this.clearAllSessionTimers();
      this.reapTimer?.cancel();
      this.reapTimer = undefined;
    }
    if (ms !== undefined) this.leaderTimer = this.timers.after(ms, () => this.establishLeadership());
  }

  /**
   * Regains leadership. As `establishLeadership` → `initializeSessionTimers`, every TTL session
   * gets a fresh TTL × 2 timer from now (time spent leaderless is forgiven), the agent's
   * out-of-sync checks are pushed, and the tombstone GC resumes.
   */
  establishLeadership(): void {
    this.leaderTimer?.cancel();
    this.leaderTimer = undefined;
    if (this.leader) return;
    this.leader = true;
    this.initializeSessionTimers();
    for (const row of this.pendingCatalogChecks.values()) {
      this.write((tx) => ensureCheck(tx, row, this.options.tombstoneTtlMs));
    }
    this.pendingCatalogChecks.clear();
    this.agent.sync();
    this.scheduleReap();
    for (const wake of [...this.leaderWaiters]) wake();
  }

  /**
   * ForwardRPC's leader wait: succeed at once with a leader; otherwise hold up to
   * `rpc_hold_timeout` for one, then fail with `No cluster leader` (a 500).
   */
  async requireLeader(signal: AbortSignal): Promise<void> {
    if (this.leader) return;
    const hold = this.options.rpcHoldTimeoutMs;
    if (hold > 0) {
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
        const timer = this.timers.after(hold, done);
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
    const key = `${this.options.nodeName}\u0000${checkId}`;
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

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Starts the leader's and agent's background work (after listen). */
  start(): void {
    if (this.leader) {
      this.initializeSessionTimers();
      this.scheduleReap();
    }
    this.agent.startTimers();
  }

  /** Stops every timer and wakes nobody (close / restart). */
  stop(): void {
    this.timers.clear();
    this.sessionTimers.clear();
    this.reapTimer = undefined;
    this.leaderTimer = undefined;
    this.agent.stopTimers();
  }

  /**
   * Restart support. `keepState` keeps the Raft state (a server restarting from its data dir)
   * but drops the in-memory lock-delays (st/delay.go: "lost on restart"); otherwise the agent is
   * fresh, as a restarted `-dev` agent. A restarted server elects itself leader again.
   */
  reset(keepState: boolean): void {
    this.stop();
    this.pendingCatalogChecks.clear();
    if (keepState) {
      this.store.lockDelay.clear();
    } else {
      this.store = this.bootstrap();
      this.agent = this.newAgent();
    }
    // Events are not persisted (agent.go keeps them in memory only).
    this.events = this.newEvents();
    this.leader = true;
    this.leaderlessSince = 0;
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

  private bootstrap(): Store {
    const store = new Store();
    store.index = INTERNAL_BOOTSTRAP_WRITES;
    const { nodeName, nodeId, datacenter, host } = this.options;
    const address = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    store.write((tx) => {
      // leader.go handleAliveMember: the server registers its node with a passing serfHealth.
      ensureNode(tx, {
        ID: nodeId,
        Node: nodeName,
        Address: address,
        Datacenter: datacenter,
        TaggedAddresses: { lan: address, lan_ipv4: address, wan: address, wan_ipv4: address },
        // Go marshals map keys sorted; the agent adds its two keys to the configured node_meta.
        Meta: sortedRecord({ ...this.options.nodeMeta, 'consul-network-segment': '', 'consul-version': DEV_SERVER_CONSUL_VERSION }),
      });
      ensureCheck(
        tx,
        {
          Node: nodeName,
          CheckID: SERF_CHECK_ID,
          Name: SERF_CHECK_NAME,
          Status: 'passing',
          Notes: '',
          Output: SERF_ALIVE_OUTPUT,
          ServiceID: '',
          ServiceName: '',
          ServiceTags: [],
          Type: '',
          Interval: '',
          Timeout: '',
          ExposedPort: 0,
          Definition: {},
        },
        this.options.tombstoneTtlMs,
      );
      // leader.go handleAliveMember: a server node also gets the catalog-only `consul` service.
      ensureService(tx, {
        Node: nodeName,
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
        ServicePort: 8300,
        ServiceEnableTagOverride: false,
      });
    });
    return store;
  }

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

  /**
   * Tombstone GC (agent/consul/state/tombstone_gc.go): tombstones expire after TombstoneTTL,
   * bucketed by a granularity (30 s); the leader then reaps them in one Raft write. After a reap,
   * a prefix's index may go down, which clients must handle.
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

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key]!;
  return out;
}

/** structs.ConsulServiceID / ConsulServiceName. */
export const CONSUL_SERVICE_ID = 'consul';

/** Reported by /v1/agent/self and node meta. */
export const DEV_SERVER_CONSUL_VERSION = '1.20.0';
