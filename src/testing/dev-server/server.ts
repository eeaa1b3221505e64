/**
 * The public dev server: an HTTP server on loopback speaking Consul's HTTP API over the
 * in-memory {@link Core}, plus fault hooks for tests (leaderless, paused, restarted, forced
 * check status, forced session invalidation) and a small read-only view of its state.
 */
import { setMaxListeners } from 'node:events';
import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ClosedError, ConfigError } from '../../errors.js';
import { Core, type CoreOptions } from './core.js';
import { type DnsListener, listenDns } from './dns/server.js';
import { parkedQueries } from './http/blocking.js';
import { type Router, dispatch } from './http/router.js';
import { Router as RouterImpl } from './http/router.js';
import { type DevServerOptions, resolveOptions, type ResolvedOptions } from './options.js';
import { registerAgentRoutes } from './routes/agent.js';
import { registerAgentServiceRoutes } from './routes/agent-services.js';
import { registerCatalogRoutes } from './routes/catalog.js';
import { registerEventRoutes } from './routes/event.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerKvRoutes } from './routes/kv.js';
import { registerMemberRoutes } from './routes/members.js';
import { executeForDns, registerQueryRoutes } from './routes/query.js';
import type { DnsView } from './dns/answer.js';
import { registerSessionRoutes } from './routes/session.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerTxnRoutes } from './routes/txn.js';
import { sessionCheckIds } from './state/sessions.js';
import type { CheckStatus } from './state/types.js';
import { createUiHandler } from '../../ui/static.js';

/** A KV entry as seen by tests (a copy; changing it changes nothing). */
export interface DevServerKvEntry {
  readonly key: string;
  /** null for an empty value. */
  readonly value: Buffer | null;
  readonly flags: bigint;
  /** The holding session, if the key is locked. */
  readonly session: string | undefined;
  readonly lockIndex: number;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

export interface DevServerSession {
  readonly id: string;
  readonly name: string;
  readonly node: string;
  readonly behavior: 'release' | 'delete';
  readonly ttl: string;
  readonly lockDelayMs: number;
  /** Every check the session is bound to (legacy Checks, NodeChecks, ServiceChecks). */
  readonly checks: readonly string[];
  readonly createIndex: number;
}

export interface DevServerCheck {
  readonly node: string;
  readonly checkId: string;
  readonly name: string;
  readonly status: CheckStatus;
  readonly output: string;
  /** Where the row lives: the agent's local state, or only the catalog (serfHealth). */
  readonly source: 'agent' | 'catalog';
}

export interface DevServerService {
  readonly node: string;
  readonly id: string;
  readonly name: string;
  readonly tags: readonly string[];
  readonly address: string;
  readonly port: number;
  /** Registered on this agent, or catalog-only (the built-in `consul` service). */
  readonly source: 'agent' | 'catalog';
}

/** Read-only introspection for tests. */
export interface DevServerState {
  /** The last Raft index handed out. */
  readonly index: number;
  readonly isLeader: boolean;
  readonly isPaused: boolean;
  listSessions(): DevServerSession[];
  getKey(key: string): DevServerKvEntry | undefined;
  /** Entries under a plain string prefix, in Consul's (byte) order. */
  listKeys(prefix?: string): DevServerKvEntry[];
  /** Remaining lock-delay on a key in ms (0 when none). */
  lockDelayMs(key: string): number;
  /** Catalog checks of this node (what sessions are bound to). */
  listChecks(): DevServerCheck[];
  /** Catalog services (what health and catalog reads see), by node and service ID. */
  listServices(): DevServerService[];
  /**
   * Blocking queries parked right now (waiting for a change or their timeout), optionally only
   * those of one endpoint: `'kv'`, `'health'`, `'catalog'`, `'session'`, `'agent'`, `'event'`,
   * or a path prefix such as `'/v1/kv/app/'`. See {@link DevServer.waitForParked}.
   */
  parkedQueries(endpoint?: string): number;
}

/** Options of {@link DevServer.waitForParked}. */
export interface WaitForParkedOptions {
  /** Endpoint group or path prefix, as for `state.parkedQueries()`. @default every endpoint */
  endpoint?: string;
  /** Resolve once at least this many matching queries are parked. @default 1 */
  count?: number;
  /** Reject with a TimeoutError after this many ms. @default 10000 */
  timeout?: number;
  signal?: AbortSignal;
}

export interface RestartOptions {
  /**
   * Keep the Raft state (KV, sessions, catalog, indexes) and the agent's checks, as a server
   * restarting from its data directory. Lock-delays are lost either way (memory only), and
   * every session TTL timer starts afresh. @default false (a fresh `-dev` agent)
   */
  keepState?: boolean;
}

export interface DevServer extends AsyncDisposable {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly nodeName: string;
  readonly datacenter: string;
  readonly state: DevServerState;
  /** The DNS interface (UDP and TCP, one port) when `dnsPort` was given; undefined otherwise. */
  readonly dns: { readonly host: string; readonly port: number } | undefined;
  /** Stops listening, drops every connection (held blocking queries too), clears every timer. Idempotent. */
  close(): Promise<void>;
  /**
   * No leader for `ms` (or until {@link restoreLeader}). Writes, default and `?consistent` reads
   * and session renewals fail with 500 `No cluster leader` (after `rpcHoldTimeout`, 0 by
   * default); `?stale` reads answer with `X-Consul-KnownLeader: false`. Session TTL timers stop;
   * when leadership returns each TTL session gets a full TTL × 2 again (initializeSessionTimers).
   */
  leaderless(ms?: number): void;
  restoreLeader(): void;
  /**
   * Invalidates a session as if its TTL expired: one write that releases or deletes its keys per
   * Behavior and sets their lock-delay. Acts even while leaderless. False if it does not exist.
   */
  invalidateSession(id: string): boolean;
  /**
   * Forces a check's status: an agent check (its TTL timer is reset, as a TTL update would) or a
   * catalog-only check such as `serfHealth` (default output `Agent not live or unreachable` when
   * critical). Critical invalidates every session bound to the check. While leaderless the change
   * reaches the catalog when the leader returns. Throws for an unknown check.
   */
  setCheckStatus(checkId: string, status: CheckStatus, output?: string): void;
  /** Holds every request (accepted, unanswered) and every timer, like a stopped process. */
  pause(): void;
  resume(): void;
  /** Drops every connection and listens again on the same port. */
  restart(options?: RestartOptions): Promise<void>;
  /**
   * Resolves (with the count) once at least `count` blocking queries matching `endpoint` are
   * parked: subscribed to the changes that wake them, so a write made after this resolves is
   * seen by them. Tests await it instead of sleeping "until the watcher's read is parked".
   */
  waitForParked(options?: WaitForParkedOptions): Promise<number>;
}

function buildRouter(): Router {
  const router = new RouterImpl();
  registerKvRoutes(router);
  registerSessionRoutes(router);
  registerTxnRoutes(router);
  registerAgentRoutes(router);
  registerAgentServiceRoutes(router);
  registerCatalogRoutes(router);
  registerHealthRoutes(router);
  registerEventRoutes(router);
  registerStatusRoutes(router);
  registerMemberRoutes(router);
  registerQueryRoutes(router);
  return router;
}

export class DevServerImpl implements DevServer {
  readonly core: Core;
  private readonly router = buildRouter();
  private http: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private closing = unlimitedController();
  private gateWaiters: (() => void)[] = [];
  private paused = false;
  private closed: Promise<void> | undefined;
  private boundPort = 0;
  private dnsListener: DnsListener | undefined;
  private dnsPort: number | undefined;
  readonly state: DevServerState;

  constructor(
    private readonly options: ResolvedOptions,
    coreOptions: CoreOptions = {},
  ) {
    this.core = new Core(options, coreOptions);
    this.state = this.makeState();
    // After /v1/agent/leave the agent process stops (ShutdownAgent).
    this.core.onShutdown = () => void this.stopProcess().catch(() => undefined);
  }

  /** Whether the HTTP port is open (false after a kill, a leave or close()). */
  get isRunning(): boolean {
    return this.http !== undefined;
  }

  /**
   * The process dies (dev cluster `killNode`, or after a leave): every connection drops, the
   * agent's timers stop, and the datacenter's failure detector starts suspecting the member.
   */
  async stopProcess(): Promise<void> {
    if (!this.http) return;
    await this.stopListening();
    this.unpause();
    if (!this.core.ownsDatacenter) this.core.dc.processStopped(this.options.nodeName);
  }

  /**
   * The process starts again on the same port with its local services and checks (as an agent
   * restarting with its data directory) and rejoins: its member is alive again.
   */
  async startProcess(): Promise<void> {
    if (this.closed) throw new ClosedError('dev server');
    if (this.http) return;
    this.closing = unlimitedController();
    // Local services and checks survive (persisted); user events do not (memory only).
    this.core.reset(true);
    await this.listenOnSamePort(this.boundPort);
    this.core.dc.processResumed(this.options.nodeName);
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.options.host;
  }

  get url(): string {
    const h = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${h}:${this.boundPort}`;
  }

  get nodeName(): string {
    return this.options.nodeName;
  }

  get dns(): { host: string; port: number } | undefined {
    return this.dnsPort === undefined ? undefined : { host: this.options.host, port: this.dnsPort };
  }

  get datacenter(): string {
    return this.options.datacenter;
  }

  async listen(port: number): Promise<void> {
    // Go's http.Server (Consul sets no timeouts) never closes idle keep-alive connections, and a
    // blocking query may legitimately take 10 min: no server-side timeouts here either.
    const server = createServer({ requestTimeout: 0, keepAliveTimeout: 0 });
    const ui = this.options.ui ? createUiHandler() : undefined;
    server.on('request', (req, res) => {
      if (ui?.(req, res)) return;
      void dispatch(this.core, this.router, req, res, { gate: () => this.gate(), closing: this.closing.signal });
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: this.options.host, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.http = server;
    this.boundPort = (server.address() as AddressInfo).port;
    if (this.options.dnsPort !== undefined) {
      // A restart listens again on the port picked the first time.
      try {
        this.dnsListener = await listenDns({
          host: this.options.host,
          port: this.dnsPort ?? this.options.dnsPort,
          view: {
            datacenter: this.options.datacenter,
            read: () => this.core.store.read(),
            query: (idOrName) => executeForDns(this.core, idOrName),
            remote: (dc) => remoteDnsView(this.core, dc),
          },
          config: this.options.dnsConfig,
          gate: () => this.gate(),
        });
      } catch (err) {
        this.http = undefined;
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw err;
      }
      this.dnsPort = this.dnsListener.port;
    }
    this.core.start();
  }

  close(): Promise<void> {
    this.closed ??= this.stopListening().then(() => this.core.stop());
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  leaderless(ms?: number): void {
    this.core.stepDown(ms);
  }

  restoreLeader(): void {
    this.core.establishLeadership();
  }

  invalidateSession(id: string): boolean {
    return this.core.destroySession(id);
  }

  waitForParked(options: WaitForParkedOptions = {}): Promise<number> {
    const { timeout, ...rest } = options;
    return parkedQueries(this.core).waitFor({ ...rest, ...(timeout === undefined ? {} : { timeoutMs: timeout }) });
  }

  setCheckStatus(checkId: string, status: CheckStatus, output?: string): void {
    if (status !== 'passing' && status !== 'warning' && status !== 'critical') {
      throw new ConfigError(`status must be 'passing', 'warning' or 'critical', got ${String(status)}`, 'status');
    }
    this.core.setCheckStatus(checkId, status, output);
  }

  pause(): void {
    this.paused = true;
    this.core.timers.pause();
    // A lone agent is its whole datacenter; in a cluster the other servers keep running.
    if (this.core.ownsDatacenter) this.core.dc.timers.pause();
    else this.core.dc.processStopped(this.options.nodeName);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const waiters = this.gateWaiters;
    this.gateWaiters = [];
    for (const wake of waiters) wake();
    if (this.core.ownsDatacenter) this.core.dc.timers.resume();
    else this.core.dc.processResumed(this.options.nodeName);
    this.core.timers.resume();
  }

  async restart(options: RestartOptions = {}): Promise<void> {
    if (this.closed) throw new ClosedError('dev server');
    const port = this.boundPort;
    await this.stopListening();
    // A process restart is never instantaneous: let clients in this process see their
    // connections drop (their pooled keep-alive sockets close) before the port answers again.
    await new Promise((r) => setTimeout(r, 10));
    this.core.reset(options.keepState ?? false);
    this.unpause();
    this.closing = unlimitedController();
    await this.listenOnSamePort(port);
    if (!this.core.ownsDatacenter) this.core.dc.processResumed(this.options.nodeName);
  }

  private async listenOnSamePort(port: number): Promise<void> {
    // The old socket may linger in the kernel for a moment; retry the same port briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.listen(port);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** A stopped process is no longer paused: its timers were cleared, and new ones must run. */
  private unpause(): void {
    this.paused = false;
    this.core.timers.resume();
    if (this.core.ownsDatacenter) this.core.dc.timers.resume();
  }

  /** The pause gate every request passes before it is handled and before it is answered. */
  private gate(): Promise<void> {
    if (!this.paused || this.closing.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.gateWaiters.push(resolve));
  }

  private async stopListening(): Promise<void> {
    const server = this.http;
    this.http = undefined;
    this.closing.abort();
    const waiters = this.gateWaiters;
    this.gateWaiters = [];
    for (const wake of waiters) wake();
    this.core.stop();
    const dns = this.dnsListener;
    this.dnsListener = undefined;
    await dns?.close();
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  private makeState(): DevServerState {
    const core = this.core;
    const entry = (e: import('./state/types.js').DirEntry): DevServerKvEntry => ({
      key: e.Key,
      value: e.Value === null ? null : Buffer.from(e.Value),
      flags: e.Flags,
      session: e.Session === '' ? undefined : e.Session,
      lockIndex: e.LockIndex,
      createIndex: e.CreateIndex,
      modifyIndex: e.ModifyIndex,
    });
    const server = this;
    return {
      get index(): number {
        return core.store.index;
      },
      get isLeader(): boolean {
        return core.isLeader;
      },
      get isPaused(): boolean {
        return server.paused;
      },
      listSessions: () =>
        core.store
          .read()
          .all('sessions')
          .map((s) => ({
            id: s.ID,
            name: s.Name,
            node: s.Node,
            behavior: s.Behavior,
            ttl: s.TTL,
            lockDelayMs: s.LockDelay / 1e6,
            checks: sessionCheckIds(s),
            createIndex: s.CreateIndex,
          })),
      getKey: (key) => {
        const e = core.store.read().get('kvs', key);
        return e ? entry(e) : undefined;
      },
      listKeys: (prefix = '') => core.store.read().prefix('kvs', prefix).map(entry),
      lockDelayMs: (key) => core.store.lockDelayRemaining(key),
      parkedQueries: (endpoint) => parkedQueries(core).count(endpoint),
      listChecks: () =>
        core.store
          .read()
          .all('checks')
          .map((c) => ({
            node: c.Node,
            checkId: c.CheckID,
            name: c.Name,
            status: c.Status,
            output: c.Output,
            source: core.agent.get(c.CheckID) ? ('agent' as const) : ('catalog' as const),
          })),
      listServices: () =>
        core.store
          .read()
          .all('services')
          .map((s) => ({
            node: s.Node,
            id: s.ServiceID,
            name: s.ServiceName,
            tags: [...s.ServiceTags],
            address: s.ServiceAddress,
            port: s.ServicePort,
            source: core.agent.getService(s.ServiceID) ? ('agent' as const) : ('catalog' as const),
          })),
    };
  }
}

/** Another datacenter of a dev cluster as the DNS interface sees it (a forwarded lookup). */
function remoteDnsView(core: Core, datacenter: string): DnsView | undefined {
  const federation = core.dc.federation;
  if (!federation || !federation.reachable(core.options.datacenter, datacenter)) return undefined;
  let remote: Core;
  try {
    remote = federation.route(core.options.datacenter, datacenter);
  } catch {
    return undefined; // no running server there: NXDOMAIN, as for an unknown datacenter
  }
  return { datacenter, read: () => remote.store.read(), query: (idOrName) => executeForDns(remote, idOrName) };
}

/**
 * Starts an in-memory Consul dev server on loopback. Each call is an independent agent: its own
 * node (registered with a passing `serfHealth` check), state and timers.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const resolved = resolveOptions(options);
  const server = new DevServerImpl(resolved);
  await server.listen(resolved.port);
  return server;
}

/**
 * Every in-flight request listens on the server's closing signal; dozens of parked blocking
 * queries are normal, so lift the listener limit that would warn past ten.
 */
function unlimitedController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
