/**
 * ReadWriteLock: many readers or one writer under one KV prefix, with writers never starved by a
 * stream of readers (Curator's `InterProcessReadWriteLock`, on Consul).
 *
 * Algorithm (the rule itself is in ./line.ts):
 * 1. Create our contender key `P/<session>` with our mode, locked (`?acquire`) by our own
 *    session, which uses `Behavior: delete`: a dead contender's key disappears with its session.
 * 2. Block on the prefix (the one blocking-query loop) until the keys created before ours allow
 *    us: nothing before a writer, no writer before a reader.
 * 3. Held → the hold engine monitors the prefix with consistent blocking reads: the hold is lost
 *    when our key is deleted or no longer locked by our session, or when the session is lost; the
 *    handle's `signal` aborts first, then `lost` fires. Release deletes the key.
 *
 * The fencing token is our key's CreateIndex: strictly increasing in the order holds are granted,
 * so a writer's token is above every reader's before it.
 *
 * Each side (`rw.read()`, `rw.write()`) is a hold recipe like `Lock`: `acquire`, `tryAcquire`,
 * handle with `signal`/`fencingToken`/`release`, `close`, the same states and events, built on
 * the same engine (src/recipes/hold/contender.ts). Hazard, as for a lock: it is NOT safe to assume
 * the hold lasts until `release()`; watch `handle.signal` and pass the fencing token downstream.
 */
import { contextOf, type RecipeHost } from '../context.js';
import { ConfigError, LockConflictError, abortReason } from '../../errors.js';
import { describe } from '../../internal/duration.js';
import { validateKey } from '../../internal/keys.js';
import { checkLocalOptions } from '../../internal/options.js';
import { blockingQuery, type BlockingRead } from '../../loop/blocking-query.js';
import type { Session } from '../../session/session.js';
import { isTransient } from '../../transport/client.js';
import type { ConsulApi, KVPair } from '../../transport/index.js';
import { Contender, type AcquireAttempt, type ContenderEvents, type Grant, type HoldDriver, type HoldHandle, type HoldingView, holdHandle } from '../hold/contender.js';
import { normalizePrefix } from '../hold/keys.js';
import { HOLDER_OPTION_NAMES, resolveHolderOptions, type HolderOptions, type ResolvedHolderOptions } from '../hold/options.js';
import { resolveAcquireOptions, type AcquireOptions } from '../hold/options.js';
import { runHeld, type HeldContext } from '../lock/with-lock.js';
import { LOCK_DEFAULTS } from '../lock/lock.js';
import { RWLOCK_FLAG_VALUE, encodeMode, observeRwLock, rwLossReason, type RwMode, type RwObservation } from './line.js';

export { RWLOCK_FLAG_VALUE, type RwMode } from './line.js';
export type { HoldState as ReadWriteLockState } from '../hold/state.js';
/** Events of each side of a {@link ReadWriteLock}: `acquired`, `released`, `lost`, `waiting`, `error`. */
export type ReadWriteLockEvents = ContenderEvents<ReadWriteHandle>;

/** Defaults, each with its reason. */
export const RWLOCK_DEFAULTS = Object.freeze({
  /** Session TTL, tolerated monitor failures and blocking wait: a lock's, for the same reasons (see LOCK_DEFAULTS). */
  ttlMs: LOCK_DEFAULTS.ttlMs,
  monitorRetries: LOCK_DEFAULTS.monitorRetries,
  waitTimeMs: LOCK_DEFAULTS.waitTimeMs,
  /** Contender keys are named after their session and never re-acquired: lock-delay delays nobody; Consul's default is kept. */
  lockDelayMs: 15_000,
  sessionName: 'consul-recipes rwlock',
});

/**
 * Options of `coord.readWriteLock(prefix, options)`, used by both sides. The session and monitor
 * options are documented once, in {@link HolderOptions}; each hold creates its own session (a
 * caller's `session` is not accepted: the contender key is named after the session, one hold per
 * session).
 */
export interface ReadWriteLockOptions extends Omit<HolderOptions, 'session'> {
  /** TTL of the session each hold creates. @default '15s' */
  ttl?: string | number;
  /** Lock-delay of that session (it only affects the hold's own contender key). @default '15s' */
  lockDelay?: string | number;
  /** Node checks that session is bound to, besides the heartbeat check. Lock-delay never guards a contender key, so none by default. @default [] */
  checks?: readonly string[];
  /** Name of that session. @default 'consul-recipes rwlock' */
  sessionName?: string;
  /** Consecutive failed monitor reads tolerated before the hold counts as lost. @default 3 */
  monitorRetries?: number;
  /** Blocking wait per read while waiting and monitoring. @default '15s' */
  waitTime?: string | number;
}

const RWLOCK_OPTION_NAMES = Object.freeze(HOLDER_OPTION_NAMES.filter((n) => n !== 'session'));

interface ResolvedRwOptions extends ResolvedHolderOptions {
  readonly prefix: string;
}

function resolveRwOptions(prefix: unknown, options: ReadWriteLockOptions = {}): ResolvedRwOptions {
  validateKey('prefix', prefix);
  checkLocalOptions(options, RWLOCK_OPTION_NAMES, 'readWriteLock()');
  const normalized = normalizePrefix(prefix as string);
  if (normalized === '') throw new ConfigError(`prefix must name a folder, got ${describe(prefix)}`, 'prefix');
  return { prefix: normalized, ...resolveHolderOptions(options, { ...RWLOCK_DEFAULTS, behavior: 'delete', lockDelayGuards: false }) };
}

/** A held side of a read-write lock. */
export interface ReadWriteHandle extends HoldHandle {
  readonly prefix: string;
  readonly mode: RwMode;
  /** Our contender key's CreateIndex: strictly increasing in grant order. */
  readonly fencingToken: number;
}

/**
 * A read-write lock under `prefix`. `read()` and `write()` each make a new hold object (one hold
 * at a time each, like a `Lock`); `withReadLock` / `withWriteLock` acquire, run and release.
 */
export class ReadWriteLock {
  readonly prefix: string;
  private readonly host: RecipeHost;
  private readonly options: ReadWriteLockOptions;

  constructor(host: RecipeHost, prefix: string, options: ReadWriteLockOptions = {}) {
    this.prefix = resolveRwOptions(prefix, options).prefix;
    this.host = host;
    this.options = { ...options };
  }

  /** A reader: holds together with other readers, never with a writer. */
  read(): ReadWriteHold {
    return new ReadWriteHold(this.host, this.prefix, 'read', this.options);
  }

  /** A writer: holds alone. Readers that come after a waiting writer wait behind it. */
  write(): ReadWriteHold {
    return new ReadWriteHold(this.host, this.prefix, 'write', this.options);
  }

  /** Runs `fn` while holding a read lock; as `withLock`. */
  withReadLock<T>(fn: (ctx: HeldContext) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return this.withSide('read', fn, options);
  }

  /** Runs `fn` while holding the write lock; as `withLock`. */
  withWriteLock<T>(fn: (ctx: HeldContext) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    return this.withSide('write', fn, options);
  }

  private withSide<T>(mode: RwMode, fn: (ctx: HeldContext) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    const acquire = resolveAcquireOptions(options, mode === 'read' ? 'withReadLock()' : 'withWriteLock()');
    if (typeof fn !== 'function') throw new ConfigError(`fn must be a function, got ${describe(fn)}`, 'fn');
    return runHeld(mode === 'read' ? this.read() : this.write(), acquire, fn);
  }
}

/** One side of a read-write lock: the `Lock` interface over the shared hold engine. */
export class ReadWriteHold extends Contender<ReadWriteHandle, KVPair[]> {
  readonly prefix: string;
  readonly mode: RwMode;

  constructor(host: RecipeHost, prefix: string, mode: RwMode, options: ReadWriteLockOptions = {}) {
    const o = resolveRwOptions(prefix, options);
    super(host, {
      kind: `${mode} lock`,
      key: o.prefix,
      driver: new RwDriver(contextOf(host).api, o.prefix, mode, o.waitTimeMs),
      session: undefined,
      sessionOptions: o.sessionOptions,
      monitorRetries: o.monitorRetries,
      waitMs: o.waitTimeMs,
    });
    this.prefix = o.prefix;
    this.mode = mode;
  }

  protected wrap(view: HoldingView): ReadWriteHandle {
    return holdHandle(view, { prefix: this.prefix, mode: this.mode });
  }
}

/** @internal The read-write lock algorithm over one prefix. */
class RwDriver implements HoldDriver<KVPair[]> {
  constructor(
    readonly api: ConsulApi,
    readonly prefix: string,
    readonly mode: RwMode,
    readonly waitMs: number,
  ) {}

  readonly list = (consistent: boolean): BlockingRead<KVPair[]> => async ({ index, waitMs, signal }) => {
    const { pairs, meta } = await this.api.kv.list(`${this.prefix}/`, { index, waitMs, signal, consistent });
    return { value: pairs, meta };
  };

  readonly monitorRead = this.list(true);

  lossReason(pairs: KVPair[], sessionId: string): string | undefined {
    return rwLossReason(pairs, this.prefix, sessionId);
  }

  begin(session: Session): AcquireAttempt {
    return new RwAttempt(this, session.id);
  }

  async release(session: Session): Promise<void> {
    await this.api.kv.delete(`${this.prefix}/${session.id}`);
  }
}

class RwAttempt implements AcquireAttempt {
  private wrote = false;

  constructor(
    private readonly d: RwDriver,
    private readonly sessionId: string,
  ) {}

  async acquire(signal: AbortSignal, onWaiting: () => void): Promise<Grant> {
    const snapshots = blockingQuery(this.d.list(false), { signal, waitMs: this.d.waitMs, isFatal: (err) => !isTransient(err) });
    for await (const { value } of snapshots) {
      const seen = this.observe(value);
      if (seen.kind === 'absent') await this.enter(signal);
      else if (seen.kind === 'blocked') onWaiting();
      else if (seen.kind === 'granted') return this.confirm(signal);
    }
    throw abortReason(signal);
  }

  async tryOnce(signal: AbortSignal): Promise<Grant | null> {
    await this.enter(signal);
    const { pairs } = await this.d.api.kv.list(`${this.d.prefix}/`, { signal });
    return this.observe(pairs).kind === 'granted' ? this.confirm(signal) : null;
  }

  async abandon(): Promise<void> {
    if (this.wrote) await this.d.api.kv.delete(`${this.d.prefix}/${this.sessionId}`);
  }

  /** A consistent read proving the grant (a stale follower must never grant a writer). */
  private async confirm(signal: AbortSignal): Promise<Grant> {
    const { pairs, meta } = await this.d.api.kv.list(`${this.d.prefix}/`, { consistent: true, signal });
    const seen = this.observe(pairs);
    if (seen.kind !== 'granted') {
      // Changed between the two reads: wait again from this snapshot.
      return this.acquire(signal, () => undefined);
    }
    return { fencingToken: seen.createIndex, index: meta.index };
  }

  private async enter(signal: AbortSignal): Promise<void> {
    const key = `${this.d.prefix}/${this.sessionId}`;
    this.wrote = true;
    const made = await this.d.api.kv.put(key, encodeMode(this.d.mode), { flags: RWLOCK_FLAG_VALUE, acquire: this.sessionId, signal });
    if (!made) throw new LockConflictError(key, 'Consul refused to lock our contender key (locked by another session or in lock-delay)');
  }

  private observe(pairs: readonly KVPair[]): RwObservation {
    const seen = observeRwLock(pairs, this.d.prefix, this.sessionId, this.d.mode);
    if (seen.kind === 'conflict') throw new LockConflictError(this.d.prefix, `the key ${seen.key} is not a read-write lock contender (other flags or value)`);
    return seen;
  }
}
