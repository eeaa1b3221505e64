/**
 * Coordinator: the entry point. It resolves connection options, owns the one Consul transport,
 * and owns the lifetime of everything it creates (sessions, locks, watchers). It only wires
 * things together: each recipe keeps its own state and loops.
 */
import { readFileSync } from 'node:fs';
import { ClosedError, ConfigError } from './errors.js';
import { describe, toMs } from './internal/duration.js';
import { silentLogger, type Logger } from './internal/logger.js';
import { ConsulApi } from './transport/index.js';
import type { RetryPolicy } from './transport/client.js';
import { Session, type SessionOptions } from './session/session.js';
import { RECIPE_CONTEXT, type Closeable, type RecipeContext } from './recipes/context.js';
import { ConfigWatcher, type ConfigWatcherOptions } from './recipes/config/config-watcher.js';
import { registerService, type RegisterServiceOptions, type ServiceRegistration } from './recipes/service/service.js';
import { ServiceWatcher, resolve, type QueryTarget, type ResolveOptions, type ServiceInstance, type ServiceWatcherOptions } from './recipes/discovery/discovery.js';
import { Events } from './recipes/events/events.js';
import { Lock, type LockOptions } from './recipes/lock/lock.js';
import { Semaphore, type SemaphoreOptions } from './recipes/semaphore/semaphore.js';
import { withLock, withSemaphore, type HeldContext, type WithLockOptions, type WithSemaphoreOptions } from './recipes/lock/with-lock.js';
import type { AcquireOptions } from './recipes/hold/contender.js';
import { LeaderElection, type ElectionOptions } from './recipes/election/election.js';
import { checkOptions } from './internal/options.js';
import { Queue, type QueueOptions } from './recipes/queue/queue.js';
import { Counter, type CounterOptions } from './recipes/counter/counter.js';
import { Barrier, type BarrierOptions } from './recipes/barrier/barrier.js';
import { DoubleBarrier, type DoubleBarrierOptions } from './recipes/barrier/double-barrier.js';
import { ReadWriteLock, type ReadWriteLockOptions } from './recipes/rwlock/rwlock.js';

/** Connection defaults, each with its reason. */
export const COORDINATOR_DEFAULTS = Object.freeze({
  /** Consul's own default agent address. */
  address: 'http://127.0.0.1:8500',
  /** Non-blocking requests: generous for a loaded agent, short enough to notice a dead one. */
  timeoutMs: 10_000,
  /** Transient failures (no leader, connection refused) usually clear within seconds. */
  retry: Object.freeze({ retries: 4, minTimeoutMs: 100, maxTimeoutMs: 2_000 }) as RetryPolicy,
});

/** The names `new Coordinator()` accepts. */
const COORDINATOR_OPTION_NAMES = Object.freeze([
  'address',
  'token',
  'datacenter',
  'ca',
  'cert',
  'key',
  'tlsServerName',
  'tlsSkipVerify',
  'timeout',
  'logger',
  'retry',
]);

export interface CoordinatorOptions {
  /** Agent address, `http(s)://host:port` or `host:port`. @default CONSUL_HTTP_ADDR, then http://127.0.0.1:8500 */
  address?: string;
  /** ACL token, sent as `X-Consul-Token` only. @default CONSUL_HTTP_TOKEN */
  token?: string;
  /** Datacenter for every request (`?dc=`). @default the agent's */
  datacenter?: string;
  /** PEM CA bundle (contents, not a path) for https. @default contents of CONSUL_CACERT */
  ca?: string | Buffer;
  /** PEM client certificate (contents) for agents that verify clients. @default contents of CONSUL_CLIENT_CERT */
  cert?: string | Buffer;
  /** PEM client key (contents). @default contents of CONSUL_CLIENT_KEY */
  key?: string | Buffer;
  /** Server name to verify (and send as SNI) when it differs from the address. @default CONSUL_TLS_SERVER_NAME */
  tlsServerName?: string;
  /** Skip server certificate verification. Never in production. @default true only if CONSUL_HTTP_SSL_VERIFY=false */
  tlsSkipVerify?: boolean;
  /** Per-request timeout for non-blocking calls, duration string or ms. @default '10s' */
  timeout?: string | number;
  /** pino-compatible logger. @default silent */
  logger?: Logger;
  /** Retry policy for transient Consul failures. @default { retries: 4, minTimeout: 100, maxTimeout: 2000 } */
  retry?: { retries?: number; minTimeout?: string | number; maxTimeout?: string | number };
}

export type { Closeable } from './recipes/context.js';

/** Reads the standard CONSUL_HTTP_* variables into options. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): CoordinatorOptions {
  const options: CoordinatorOptions = {};
  if (env.CONSUL_HTTP_ADDR) options.address = env.CONSUL_HTTP_ADDR;
  if (env.CONSUL_HTTP_TOKEN) options.token = env.CONSUL_HTTP_TOKEN;
  if (env.CONSUL_DATACENTER) options.datacenter = env.CONSUL_DATACENTER;
  const read = (variable: string, option: 'ca' | 'cert' | 'key'): Buffer | undefined => {
    const path = env[variable];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${variable}: cannot read ${JSON.stringify(path)}`, option, { cause: err });
    }
  };
  const ca = read('CONSUL_CACERT', 'ca');
  const cert = read('CONSUL_CLIENT_CERT', 'cert');
  const key = read('CONSUL_CLIENT_KEY', 'key');
  if (ca) options.ca = ca;
  if (cert) options.cert = cert;
  if (key) options.key = key;
  if (env.CONSUL_TLS_SERVER_NAME) options.tlsServerName = env.CONSUL_TLS_SERVER_NAME;
  if (/^(0|false)$/i.test(env.CONSUL_HTTP_SSL_VERIFY ?? '')) options.tlsSkipVerify = true;
  return options;
}

/** Turns `host:port`, `http://…` or `https://…` into a base URL; CONSUL_HTTP_SSL picks https for bare addresses. */
export function normalizeAddress(address: unknown, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof address !== 'string' || address.trim() === '') {
    throw new ConfigError(`option "address" must be a non-empty string, got ${describe(address)}`, 'address');
  }
  let text = address.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const ssl = /^(1|true)$/i.test(env.CONSUL_HTTP_SSL ?? '');
    text = `${ssl ? 'https' : 'http'}://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`option "address" is not a valid address: ${describe(address)}`, 'address');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`option "address" must use http or https, got ${describe(url.protocol)}`, 'address');
  }
  if (url.username || url.password) {
    throw new ConfigError('option "address" must not contain credentials; use "token"', 'address');
  }
  return url.origin;
}

export class Coordinator {
  /** Typed Consul HTTP API (advanced use; recipes are built on it). */
  readonly api: ConsulApi;
  readonly logger: Logger;
  /** User events: `fire(name, payload, filters)` and `watch(name)`. */
  readonly events: Events;
  private readonly resources = new Set<Closeable>();
  private closing: Promise<void> | undefined;

  constructor(options: CoordinatorOptions = {}) {
    checkOptions(options, COORDINATOR_OPTION_NAMES, 'new Coordinator()');
    if (options.retry !== undefined) checkOptions(options.retry, ['retries', 'minTimeout', 'maxTimeout'], 'new Coordinator() retry');
    const env = optionsFromEnvSafe();
    // An option given as undefined means "not given": it must not hide the environment's value.
    const merged: CoordinatorOptions = { ...env };
    for (const [name, value] of Object.entries(options) as Array<[keyof CoordinatorOptions, unknown]>) {
      if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
    }
    const address = normalizeAddress(merged.address ?? COORDINATOR_DEFAULTS.address);
    if (merged.token !== undefined && typeof merged.token !== 'string') {
      throw new ConfigError('option "token" must be a string', 'token');
    }
    const timeoutMs = merged.timeout === undefined ? COORDINATOR_DEFAULTS.timeoutMs : toMs('timeout', merged.timeout, { min: 1 });
    const retry = merged.retry ?? {};
    const retries = retry.retries ?? COORDINATOR_DEFAULTS.retry.retries;
    if (!Number.isInteger(retries) || retries < 0) {
      throw new ConfigError(`option "retry.retries" must be a non-negative integer, got ${describe(retries)}`, 'retry.retries');
    }
    this.logger = merged.logger ?? silentLogger;
    this.api = new ConsulApi({
      address,
      token: merged.token,
      datacenter: merged.datacenter,
      ca: merged.ca,
      cert: merged.cert,
      key: merged.key,
      tlsServerName: merged.tlsServerName,
      tlsSkipVerify: merged.tlsSkipVerify,
      timeoutMs,
      logger: this.logger,
      retry: {
        retries,
        minTimeoutMs: retry.minTimeout === undefined ? COORDINATOR_DEFAULTS.retry.minTimeoutMs : toMs('retry.minTimeout', retry.minTimeout),
        maxTimeoutMs: retry.maxTimeout === undefined ? COORDINATOR_DEFAULTS.retry.maxTimeoutMs : toMs('retry.maxTimeout', retry.maxTimeout),
      },
    });
    (this.context as { api: ConsulApi; logger: Logger }).api = this.api;
    (this.context as { api: ConsulApi; logger: Logger }).logger = this.logger;
    this.events = new Events(this.context);
  }

  /**
   * A Coordinator configured from CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_DATACENTER,
   * CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME, CONSUL_HTTP_SSL
   * and CONSUL_HTTP_SSL_VERIFY; unlike the constructor, an unreadable certificate file throws.
   */
  static fromEnv(overrides: CoordinatorOptions = {}): Coordinator {
    const env = optionsFromEnv();
    return new Coordinator({ ...env, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) });
  }

  /** The agent address in use (never includes the token). */
  get address(): string {
    return this.api.http.address;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Creates a Consul session renewed in the background (see {@link Session}). Options are checked
   * synchronously. The session is destroyed by `close()` unless destroyed earlier.
   */
  session(options: SessionOptions = {}): Promise<Session> {
    return Session.create(this, options);
  }

  /** A mutex on `key`, compatible with Go's `api.Lock`; see {@link Lock}. */
  lock(key: string, options?: LockOptions): Lock {
    return new Lock(this, key, options);
  }

  /** A counting semaphore under `prefix`, compatible with Go's `api.Semaphore`; see {@link Semaphore}. */
  semaphore(prefix: string, options: SemaphoreOptions): Semaphore {
    return new Semaphore(this, prefix, options);
  }

  /**
   * Runs `fn` while holding the lock on `key`, releasing it on return and on throw. `fn` gets
   * `{ signal, fencingToken }`; if the lock is lost mid-way the signal aborts and the call rejects
   * with `LockLostError` once `fn` settles.
   */
  withLock<T>(key: string, fn: (ctx: HeldContext) => T | Promise<T>, options?: WithLockOptions): Promise<T> {
    return withLock(this, key, fn, options);
  }

  /** Runs `fn` while holding one of `limit` permits under `prefix`; as {@link withLock}. */
  withSemaphore<T>(
    prefix: string,
    options: WithSemaphoreOptions,
    fn: (ctx: HeldContext) => T | Promise<T>,
    acquireOptions?: AcquireOptions,
  ): Promise<T> {
    return withSemaphore(this, prefix, options, fn, acquireOptions);
  }

  /**
   * Leader election on `key`: `campaign()` resolves once this instance leads; `signal` aborts
   * (before `deposed` fires) when leadership ends. See {@link LeaderElection}.
   */
  election<T = unknown>(key: string, options?: ElectionOptions<T>): LeaderElection<T> {
    return new LeaderElection<T>(this, key, options);
  }

  /** A durable work queue under `prefix` (at-least-once delivery); see {@link Queue}. */
  queue<T = unknown>(prefix: string, options?: QueueOptions): Queue<T> {
    return new Queue<T>(this, prefix, options);
  }

  /** A shared integer at `key`, changed only by check-and-set; see {@link Counter}. */
  counter(key: string, options?: CounterOptions): Counter {
    return new Counter(this, key, options);
  }

  /** A barrier at `key`: `set()`, `remove()`, and `wait()` until it is removed; see {@link Barrier}. */
  barrier(key: string, options?: BarrierOptions): Barrier {
    return new Barrier(this, key, options);
  }

  /** A participant of the double barrier under `prefix`: `enter()` and `leave()` meet `count` others; see {@link DoubleBarrier}. */
  doubleBarrier(prefix: string, options: DoubleBarrierOptions): DoubleBarrier {
    return new DoubleBarrier(this, prefix, options);
  }

  /** A read-write lock under `prefix`: `.read()` / `.write()` each a hold like `lock()`; see {@link ReadWriteLock}. */
  readWriteLock(prefix: string, options?: ReadWriteLockOptions): ReadWriteLock {
    return new ReadWriteLock(this, prefix, options);
  }

  /** Watches every key under `prefix` with one blocking query; see {@link ConfigWatcher}. */
  configWatcher<T = unknown>(prefix: string, options?: ConfigWatcherOptions<T>): ConfigWatcher<T> {
    return new ConfigWatcher<T>(this, prefix, options);
  }

  /** Registers a service on the agent, heartbeating its TTL check; see {@link ServiceRegistration}. */
  registerService(options: RegisterServiceOptions): Promise<ServiceRegistration> {
    return registerService(this, options);
  }

  /**
   * Follows the instances of a service (healthy ones with `passingOnly`), of another datacenter
   * with `dc`, failing over to other datacenters with `failover`, or the answer of an existing
   * prepared query (`{ query }`); see {@link ServiceWatcher}.
   */
  serviceWatcher(target: string | QueryTarget, options?: ServiceWatcherOptions): ServiceWatcher {
    return new ServiceWatcher(this, target, options);
  }

  /**
   * One-shot lookup: the healthy instances of a service (or of another datacenter with `dc`, with
   * `failover` across datacenters, or of an existing prepared query with `{ query }`).
   */
  resolve(target: string | QueryTarget, options?: ResolveOptions): Promise<ServiceInstance[]> {
    return resolve(this, target, options);
  }

  /**
   * What recipes see of this Coordinator (api, logger, lifetime registry), under a symbol that is
   * not part of the public API.
   * @internal
   */
  get [RECIPE_CONTEXT](): RecipeContext {
    return this.context;
  }

  private readonly context: RecipeContext = {
    api: undefined as unknown as ConsulApi, // set in the constructor
    logger: silentLogger,
    lifetime: {
      track: (resource: Closeable) => {
        this.assertOpen();
        this.resources.add(resource);
      },
      untrack: (resource: Closeable) => {
        this.resources.delete(resource);
      },
      assertOpen: (what?: string) => this.assertOpen(what),
    },
  };

  private assertOpen(what = 'Coordinator'): void {
    if (this.closing) throw new ClosedError(what);
  }

  /**
   * Releases everything this Coordinator created: recipes first (newest first), which release
   * their locks and destroy their sessions, then the transport's sockets. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const errors: unknown[] = [];
      const ordered = [...this.resources].reverse().sort((a, b) => (a.closePhase ?? 0) - (b.closePhase ?? 0));
      for (const resource of ordered) {
        try {
          await resource.close();
        } catch (err) {
          errors.push(err);
          this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'error while closing a resource');
        }
      }
      this.resources.clear();
      this.api.close();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Env defaults for the constructor; a broken CONSUL_CACERT should not break explicit options. */
function optionsFromEnvSafe(): CoordinatorOptions {
  try {
    return optionsFromEnv();
  } catch {
    const { CONSUL_CACERT: _ca, CONSUL_CLIENT_CERT: _cert, CONSUL_CLIENT_KEY: _key, ...rest } = process.env;
    return optionsFromEnv(rest);
  }
}
