/**
 * The hold engine shared by Lock, Semaphore and LeaderElection (as Curator's `LockInternals` is
 * shared by its mutexes and semaphores). A recipe supplies a {@link HoldDriver} — how to wait for and take the key, how
 * to tell from a snapshot that the hold is gone, how to give it back — and this class does the
 * rest, once, for all three:
 *
 * - the lifecycle (`idle → acquiring → held → releasing → idle`, `held → lost`, `→ closed`), with
 *   every change made by one `transition()`;
 * - the session: a caller's session is used as is and never destroyed; otherwise one session is
 *   created per acquisition and destroyed when the hold ends, when an acquire times out or is
 *   aborted, and on `close()`, so nothing is left on the server;
 * - `timeout` / `signal` / `close()` on acquire, with cleanup awaited before the promise settles;
 * - the monitor: the one blocking-query loop over the driver's consistent read, plus the
 *   session's own signal. The holder's `signal` aborts, then `lost` fires.
 *
 * Ordering guarantee. The session counts itself lost at its local deadline (last successful
 * renewal start + ttl), a full ttl before Consul could invalidate it (2×ttl) and lock-delay more
 * before anybody else can take the key. This class never reports `held` for a session past that
 * deadline: it checks `session.isAlive()` (a synchronous deadline check) right before `held`, and
 * `state` / `handle.signal` check it again whenever they are read, so a process that was paused
 * (GC, SIGSTOP) learns of the loss on its first look instead of when a late timer fires.
 */
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import {
  ClosedError,
  ConsulError,
  IllegalStateError,
  LockLostError,
  LockTimeoutError,
  ReleasedError,
  SessionLostError,
  abortReason,
} from '../../errors.js';
import { linkSignals, sleep } from '../../internal/abort.js';
import { backoffDelay, MONITOR_ERROR_BACKOFF } from '../../loop/backoff.js';
import { runBlockingQuery, type BlockingQueryOptions, type BlockingRead } from '../../loop/blocking-query.js';
import { Session, offSessionEnded, onSessionEnded, type ResolvedSessionOptions } from '../../session/session.js';
import { resolveAcquireOptions, type AcquireOptions } from './options.js';
import { isTransient } from '../../transport/client.js';
import { SafeEmitter } from '../../internal/safe-emitter.js';
import { StateMachine, type MachineSpec } from '../../internal/state-machine.js';
import { HOLD_TRANSITIONS, type HoldState } from './state.js';

/** What the driver hands over once it holds: the fencing token and where to start monitoring. */
export interface Grant {
  /**
   * Strictly increasing across successive holders: the lock key's ModifyIndex after our acquire,
   * the `.lock` record's ModifyIndex after the write that added us, the leader key's CreateIndex.
   */
  readonly fencingToken: number;
  /** Index the monitor's first blocking read waits on. */
  readonly index: bigint;
  /**
   * What the acquiring write's answer showed, in the monitor's value type, when the driver
   * wants it back at release (the semaphore: the record it wrote, so releasing needs no read).
   */
  readonly seen?: unknown;
}

/** One acquisition attempt with one session. */
export interface AcquireAttempt {
  /** Waits until held; rejects with the signal's reason when aborted. */
  acquire(signal: AbortSignal, onWaiting: () => void): Promise<Grant>;
  /** One look that never waits for other holders: the grant, or null when busy. */
  tryOnce(signal: AbortSignal): Promise<Grant | null>;
  /** What the attempt last saw of the competition, for a `LockTimeoutError` (single-key holds). */
  readonly lastHolder?: string | undefined;
  /** The key is held by a session no read has shown yet (a refused write proved it). */
  readonly holderUnseen?: boolean;
  readonly lockDelayInForce?: boolean;
  /** Undoes whatever this attempt may have left on the server (contender key, holder entry, a lock taken by a write whose answer was lost). */
  abandon(): Promise<void>;
}

/** The algorithm-specific half of a recipe. `T` is what the monitor reads. */
export interface HoldDriver<T> {
  begin(session: Session): AcquireAttempt;
  /** Consistent blocking read of what proves the hold. */
  readonly monitorRead: BlockingRead<T>;
  /** Why the hold is gone according to `value`, or undefined while it is ours. */
  lossReason(value: T, sessionId: string): string | undefined;
  /**
   * Gives the hold back. Must not need a signal: it runs during close and after aborts. `last`
   * is the newest value the hold was seen with (the monitor's last snapshot, else the grant's
   * `seen`), so a release can act on it without reading first.
   */
  release(session: Session, last: T | undefined): Promise<void>;
  /**
   * Optional: work for a fresh hold that must not delay `acquire()` (a fair lock looks up the
   * waiter it will hand the key to). Started with the monitor, one event-loop turn after the
   * grant, only if the hold was not given back at once; `signal` aborts when the hold is lost or
   * the engine closes. close() awaits it; its failure is logged, never a loss.
   */
  onHeld?(session: Session, signal: AbortSignal): Promise<void> | undefined;
}

export interface ContenderEvents<H> {
  /** The lock (or permit) is held; the handle is also what `acquire()` resolves with. */
  acquired: [handle: H];
  /** A hold ended by `release()` (or `close()`); the key is free for the next contender. */
  released: [];
  /** The hold was lost. The handle's `signal` was aborted (with the same error) just before. */
  lost: [error: LockLostError];
  /** Debug aid: an acquire found the lock busy and is now waiting (once per acquire). */
  waiting: [];
  /** A background failure (cleanup after a loss, a release that had to fall back). */
  error: [error: unknown];
}

export type { AcquireOptions, ResolvedAcquireOptions } from './options.js';
export { resolveAcquireOptions } from './options.js';

/** Everything the engine needs from a recipe, resolved and validated. */
export interface ContenderConfig<T> {
  /** 'lock' or 'semaphore', for messages and logs. */
  readonly kind: string;
  /** The lock key or the semaphore prefix (named in errors). */
  readonly key: string;
  readonly driver: HoldDriver<T>;
  /** A caller-provided session: used as is, never destroyed. */
  readonly session: Session | undefined;
  /** Options for the sessions we create when `session` is not given, parsed once by the recipe. */
  readonly sessionOptions: ResolvedSessionOptions;
  /** Consecutive failed monitor reads tolerated (each already retried by the transport). */
  readonly monitorRetries: number;
  /** Blocking wait of the monitor's reads. */
  readonly waitMs: number;
}

/**
 * When our own session dies while we only wait (a partition longer than ttl), we start over with
 * a new one; the backoff keeps a server that kills sessions at once from being hammered.
 */
const SESSION_RETRY_BACKOFF = Object.freeze({ minMs: 200, maxMs: 5_000 });

/**
 * How long a released hold's monitor may take to see the release before it is cancelled. The
 * release's own write answers it in one round trip; this only bounds a read that is retrying.
 */
const MONITOR_DRAIN_MS = 1_000;

/** The reason a monitor is stopped with: one object, not a DOMException with a stack per hold. */
const MONITOR_STOPPED = Object.freeze(new Error('monitor stopped'));

/** Consul's answers when a write names a session it no longer has. */
const SESSION_GONE = /invalid session|missing session|session .* (not found|does not exist)/i;

/** A promise that is already settled, shared. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * One hold, from `held` until released or lost. It is also what a recipe builds its handle from
 * ({@link HoldingView}), and the context of its session-ended listener, so a hold keeps
 * no closures of its own: thousands of locks may be held by one process. It reaches its engine's
 * private methods by name (`engine['…']`), which keeps them off the recipes' public surface.
 */
class Holding implements HoldingView {
  /** Aborted when the hold ends (lost or released): the handle's `signal`. */
  readonly controller = new AbortController();
  /** Stops the monitor loop at once (cancelling its read, which closes that read's connection). */
  readonly monitor = new AbortController();
  /** Set by a release: the monitor stops at its next answer, which the release itself causes. */
  draining = false;
  monitorDone: Promise<void> = SETTLED;
  /** Set once the hold ends: the release, or the cleanup after a loss. Never rejects after a loss. */
  ended: Promise<void> | undefined;
  /** The newest value the hold was seen with: the grant's, then each monitor snapshot. */
  last: unknown;

  constructor(
    private readonly engine: AnyContender,
    readonly session: Session,
    readonly owned: boolean,
    readonly grant: Grant,
  ) {
    this.last = grant.seen;
  }

  get fencingToken(): number {
    return this.grant.fencingToken;
  }

  /** The hold's signal, after a deadline check. */
  signal(): AbortSignal {
    return this.engine['signalOf'](this);
  }

  release(): Promise<void> {
    return this.engine['releaseHolding'](this);
  }

  /** The session ended (this object is the context of that listener): the hold is lost. */
  sessionEnded(): void {
    this.engine['sessionEnded'](this);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Holding serves any recipe's engine
type AnyContender = Contender<any, any>;

export abstract class Contender<H, T = unknown> extends SafeEmitter<ContenderEvents<H>> {
  protected readonly ctx: RecipeContext;
  private readonly config: ContenderConfig<T>;
  private readonly machine: StateMachine<HoldState, TransitionDetail<H>, AnyContender>;

  /** The hold engine's one machine (shared: an engine keeps no closures for its hooks). */
  private static readonly MACHINE: MachineSpec<HoldState, TransitionDetail<unknown>, AnyContender> = Object.freeze({
    initial: 'idle',
    moves: HOLD_TRANSITIONS,
    logFields: (c: AnyContender, detail: TransitionDetail<unknown> | undefined) => ({ key: c.config.key, reason: detail?.error?.reason }),
    beforeEmit: (c: AnyContender, from: HoldState, to: HoldState, detail: TransitionDetail<unknown> | undefined) =>
      c.machineBeforeEmit(from, to, detail ?? {}),
    emit: (c: AnyContender, from: HoldState, to: HoldState, detail: TransitionDetail<unknown> | undefined) => c.machineEmit(from, to, detail ?? {}),
  });
  private holding: Holding | undefined;
  /** The running attempt (its view of the competition explains a timeout). */
  private lastAttempt: AcquireAttempt | undefined;
  private acquiring: Promise<unknown> | undefined;
  /**
   * The running close(), kept so close() is idempotent. Not a hidden state: closing drives the
   * ordinary moves of the table (a running acquire unwinds `acquiring → idle`, a hold is given
   * back `held → releasing → idle`) and ends in `closed`; a separate `closing` state would hide
   * which of those is under way, and the public states are the contract's.
   */
  private closing: Promise<void> | undefined;
  /** The running acquire's signal: close() aborts it (no signal of its own kept for that). */
  private linked: ReturnType<typeof linkSignals> | undefined;
  /** Cleanups close() must await; created by the first one. */
  private background: Set<Promise<unknown>> | undefined;
  /** Released holds whose monitor is still seeing the release (see drainMonitor); created by the first one. */
  private draining: Set<Holding> | undefined;

  protected constructor(host: RecipeHost, config: ContenderConfig<T>) {
    const ctx = contextOf(host);
    const what = `${config.kind} "${config.key}"`;
    super(ctx.logger, what);
    this.ctx = ctx;
    this.config = config;
    this.machine = new StateMachine<HoldState, TransitionDetail<H>, AnyContender>(Contender.MACHINE, this, what, ctx.logger);
    ctx.lifetime.track(this);
  }

  /** Builds the public handle for a hold. */
  protected abstract wrap(holding: HoldingView): H;

  /** Current state. Reading it checks the session's deadline first, so it never says `held` late. */
  get state(): HoldState {
    this.enforceDeadline();
    return this.machine.state;
  }

  /**
   * Waits until held. Rejects with `LockTimeoutError` after `timeout`, with the signal's reason
   * when `signal` aborts, with `ClosedError` when closed meanwhile, with `LockConflictError` when
   * the key is used by something that is not this kind of lock, and with `IllegalStateError`
   * when already acquiring or holding. Whatever the failure, nothing is left behind on the
   * server: no session, no contender key.
   */
  acquire(options?: AcquireOptions): Promise<H> {
    const { signal, timeoutMs } = resolveAcquireOptions(options);
    return this.run(signal, timeoutMs, false) as Promise<H>;
  }

  /** One attempt that never waits for another holder: the handle, or null when busy or in lock-delay. */
  tryAcquire(options?: Pick<AcquireOptions, 'signal'>): Promise<H | null> {
    const { signal } = resolveAcquireOptions(options);
    return this.run(signal, undefined, true);
  }

  /**
   * Releases the current hold (same as `handle.release()`). After a loss it resolves once the
   * cleanup is done. Rejects with `IllegalStateError` when nothing was acquired.
   */
  release(): Promise<void> {
    const holding = this.holding;
    if (holding && (this.machine.state === 'held' || this.machine.state === 'releasing' || this.machine.state === 'lost')) {
      return this.releaseHolding(holding);
    }
    return Promise.reject(new IllegalStateError(`${this.what} is not held`, this.machine.state));
  }

  /**
   * Stops everything: cancels a running acquire, releases a hold, awaits every loop and cleanup,
   * and destroys the sessions this object created. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.linked?.abort(new ClosedError(this.what));
      for (const holding of this.draining ?? []) holding.monitor.abort(MONITOR_STOPPED);
      await this.acquiring?.catch(() => undefined);
      const holding = this.holding;
      if (holding && this.machine.state === 'held') {
        await this.releaseHolding(holding).catch((err: unknown) => this.emit('error', err));
      }
      while (this.background !== undefined && this.background.size > 0) await Promise.allSettled([...this.background]);
      this.transition('closed');
      this.ctx.lifetime.untrack(this);
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Acquire

  private async run(signal: AbortSignal | undefined, timeoutMs: number | undefined, once: boolean): Promise<H | null> {
    if (this.closing) throw new ClosedError(this.what);
    signal?.throwIfAborted();
    const state = this.machine.state;
    if (state === 'acquiring') throw new IllegalStateError(`${this.what}: an acquire is already in progress`, state);
    if (state === 'held' || state === 'releasing') throw new IllegalStateError(`${this.what} is already held`, state);
    // After a loss the cleanup may still be giving the key back with the same (caller's)
    // session; a late `?release` must not free the hold we are about to take.
    const previous = this.holding?.ended;
    this.transition('acquiring');
    const attempt = (async () => {
      await previous?.catch(() => undefined);
      return this.acquireLoop(signal, timeoutMs, once);
    })();
    this.acquiring = attempt;
    try {
      return await attempt;
    } catch (err) {
      if (err instanceof LockTimeoutError && err.key === this.config.key) throw await this.explainTimeout(err);
      throw err;
    } finally {
      this.lastAttempt = undefined;
      this.acquiring = undefined;
      if (this.machine.state === 'acquiring') this.transition('idle');
    }
  }

  private async acquireLoop(signal: AbortSignal | undefined, timeoutMs: number | undefined, once: boolean): Promise<H | null> {
    const { key, driver } = this.config;
    const linked = linkSignals(
      [signal],
      timeoutMs === undefined ? undefined : { ms: timeoutMs, reason: () => new LockTimeoutError(key, timeoutMs) },
    );
    // close() aborts the running acquire through `linked`; one that began meanwhile stops at once.
    this.linked = linked;
    if (this.closing) linked.abort(new ClosedError(this.what));
    let sessionFailures = 0;
    let waitingReported = false;
    const onWaiting = (): void => {
      if (waitingReported) return;
      waitingReported = true;
      this.emit('waiting');
    };
    try {
      for (;;) {
        linked.signal.throwIfAborted();
        const owned = this.config.session === undefined;
        let session: Session;
        try {
          session = this.config.session ?? (await Session.open(this.ctx, { ...this.config.sessionOptions, signal: linked.signal }));
        } catch (err) {
          if (linked.signal.aborted) throw abortReason(linked.signal);
          // The first failure reaches the caller at once (a wrong address should not hang). A
          // waiter that lost its session meanwhile keeps waiting through an outage instead.
          if (sessionFailures === 0 || !isTransient(err)) throw err;
          sessionFailures += 1;
          this.emit('error', err);
          await sleep(backoffDelay(sessionFailures, SESSION_RETRY_BACKOFF), linked.signal);
          continue;
        }
        const attempt = driver.begin(session);
        this.lastAttempt = attempt;
        let grant: Grant | null;
        // The attempt also stops when the session ends (a listener kept by the session, not one on its
        // signal: see onSessionEnded).
        const scoped = linkSignals([linked.signal]);
        onSessionEnded(session, scoped.abort);
        if (!session.isAlive()) scoped.abort(session.signal.reason);
        try {
          // The Coordinator closes resources newest first and our session was just tracked:
          // move ourselves behind it so coord.close() releases the lock before the session dies
          // (a destroyed session would set lock-delay on the key and report a loss).
          if (owned) this.retrack();
          grant = once ? await attempt.tryOnce(scoped.signal) : await attempt.acquire(scoped.signal, onWaiting);
        } catch (err) {
          // Judge before cleaning up: destroying our session below makes any session look gone.
          const gone = !linked.signal.aborted && sessionGone(session, err);
          await this.giveUp(attempt, session, owned);
          if (linked.signal.aborted) throw abortReason(linked.signal);
          if (!gone) throw err;
          if (!owned) throw session.signal.reason ?? err;
          // Our own session died while we only waited: nothing was held, so start over.
          sessionFailures += 1;
          this.ctx.logger.debug({ key, err: String(err) }, `${this.config.kind} waiter lost its session; retrying with a new one`);
          await sleep(backoffDelay(sessionFailures, SESSION_RETRY_BACKOFF), linked.signal);
          continue;
        } finally {
          offSessionEnded(session, scoped.abort);
          scoped.dispose();
        }
        if (grant === null) {
          await this.giveUp(attempt, session, owned);
          return null;
        }
        // Never report `held` past the session's deadline, nor after a timeout/abort/close that
        // fired while the last request was in flight.
        if (linked.signal.aborted || !session.isAlive()) {
          await this.giveUp(attempt, session, owned);
          if (linked.signal.aborted) throw abortReason(linked.signal);
          if (!owned) throw session.signal.reason;
          sessionFailures += 1;
          await sleep(backoffDelay(sessionFailures, SESSION_RETRY_BACKOFF), linked.signal);
          continue;
        }
        return this.hold(session, owned, grant);
      }
    } finally {
      if (this.linked === linked) this.linked = undefined;
      linked.dispose();
    }
  }

  /** Cleanup after an attempt that did not end in `held`; awaited before acquire settles. */
  private async giveUp(attempt: AcquireAttempt, session: Session, owned: boolean): Promise<void> {
    try {
      await attempt.abandon();
    } catch (err) {
      // The server is unreachable; with our own session, destroying it (below) or its TTL
      // removes what we left. Report it rather than hide it.
      this.ctx.logger.debug({ key: this.config.key, err: String(err) }, `${this.config.kind}: cleanup after a failed acquire failed`);
      this.emit('error', err);
    }
    if (owned) await session.destroy();
  }

  /** The timeout error with who held the key (session ID and name) and whether lock-delay was in force. */
  private async explainTimeout(err: LockTimeoutError): Promise<LockTimeoutError> {
    const attempt = this.lastAttempt;
    if (!attempt) return err;
    let sessionId = attempt.lastHolder;
    let sessionName: string | undefined;
    if (sessionId !== undefined || attempt.holderUnseen) {
      // Short, best-effort reads: the caller is waiting for this rejection.
      const budget = linkSignals([], { ms: 1_000, reason: () => new LockTimeoutError(err.key, err.timeoutMs) });
      try {
        // A refused write proved the key held without showing by whom: read it.
        sessionId ??= (await this.ctx.api.kv.get(err.key, { signal: budget.signal })).pair?.session;
        if (sessionId !== undefined) sessionName = (await this.ctx.api.sessions.info(sessionId, { signal: budget.signal })).session?.Name;
      } catch (lookupErr) {
        this.ctx.logger.debug({ key: err.key, err: String(lookupErr) }, 'could not read the holder session for a timeout error');
      } finally {
        budget.dispose();
      }
    }
    if (sessionId === undefined && !attempt.lockDelayInForce) return err;
    return new LockTimeoutError(err.key, err.timeoutMs, {
      ...(sessionId !== undefined ? { holder: { sessionId, ...(sessionName ? { sessionName } : {}) } } : {}),
      lockDelay: attempt.lockDelayInForce === true,
    });
  }

  private retrack(): void {
    this.ctx.lifetime.untrack(this);
    this.ctx.lifetime.track(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Holding

  private hold(session: Session, owned: boolean, grant: Grant): H {
    const holding = new Holding(this, session, owned, grant);
    const handle = this.wrap(holding);
    this.holding = holding;
    // The holding is the listener's context: no closure per hold, and no signal touched.
    onSessionEnded(session, Holding.prototype.sessionEnded, holding);
    this.transition('held', { handle });
    holding.monitorDone = this.monitor(holding);
    return handle;
  }

  /**
   * Watches the key until the hold ends; a change that ends it, or too many failed reads, is a
   * loss. Never rejects. A promise chain over the shared loop rather than an async function, so
   * a held lock keeps one suspended frame (the loop's) while its read is parked.
   */
  private monitor(holding: Holding): Promise<void> {
    // The first read goes out on the next turn of the event loop: a hold given back at once (a
    // short critical section) never sends it. The session's deadline guards the hold meanwhile.
    return new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => {
        if (holding.draining || holding.monitor.signal.aborted) return undefined;
        this.startOnHeld(holding);
        return this.watchHold(holding);
      })
      .catch((err: unknown) => this.lose(holding, `the ${this.config.kind} monitor failed`, err));
  }

  /** The driver's {@link HoldDriver.onHeld}, as a cleanup close() awaits. */
  private startOnHeld(holding: Holding): void {
    const work = this.config.driver.onHeld?.(holding.session, holding.monitor.signal);
    if (!work) return;
    this.inBackground(
      work.catch((err: unknown) => {
        this.ctx.logger.debug({ key: this.config.key, err: String(err) }, `${this.config.kind}: work after acquiring failed`);
      }),
    );
  }

  private watchHold(holding: Holding): Promise<void> {
    const { driver, monitorRetries, waitMs, kind, key } = this.config;
    const options: BlockingQueryOptions<T> = {
      signal: holding.monitor.signal,
      initialIndex: holding.grant.index,
      waitMs,
      errorBackoff: MONITOR_ERROR_BACKOFF,
      onError: (err, failures) => {
        this.ctx.logger.debug({ key, failures, err: String(err) }, `${kind} monitor read failed`);
        // Like Go's MonitorRetries: ride out a short outage, but a permanent error (ACL
        // revoked, …) or a long one means we can no longer prove we hold it.
        if (!isTransient(err) || failures > monitorRetries) {
          this.lose(holding, `cannot verify the ${kind} any more (${failures} failed reads)`, err);
        }
      },
    };
    return runBlockingQuery(driver.monitorRead, options, ({ value }) => {
      if (holding.draining) return false;
      holding.last = value;
      const reason = driver.lossReason(value, holding.session.id);
      if (reason === undefined) return true;
      this.lose(holding, reason);
      return false;
    });
  }

  /** A hold's session ended (see {@link Holding.sessionEnded}). */
  private sessionEnded(holding: Holding): void {
    this.lose(holding, 'the session was lost', holding.session.signal.reason);
  }

  /** The handle's `signal`, after a deadline check (see {@link Holding.signal}). */
  private signalOf(holding: Holding): AbortSignal {
    if (this.holding === holding) this.enforceDeadline();
    return holding.controller.signal;
  }

  private lose(holding: Holding, reason: string, cause?: unknown): void {
    if (this.holding !== holding || this.machine.state !== 'held') return;
    const error = new LockLostError(this.config.key, reason, cause === undefined ? undefined : { cause });
    this.transition('lost', { error });
    holding.ended = this.inBackground(this.afterLoss(holding));
  }

  /** Stops the monitor and gives back whatever Consul may still count as ours. Never rejects. */
  private async afterLoss(holding: Holding): Promise<void> {
    offSessionEnded(holding.session, Holding.prototype.sessionEnded, holding);
    holding.monitor.abort(MONITOR_STOPPED);
    await holding.monitorDone;
    if (holding.session.isAlive()) {
      // The key changed or the monitor gave up while the session lives: release in case
      // Consul still thinks we hold it (a no-op when the key was taken or deleted).
      try {
        await this.config.driver.release(holding.session, holding.last as T | undefined);
      } catch (err) {
        this.emit('error', err);
      }
    }
    if (holding.owned) await holding.session.destroy();
  }

  private releaseHolding(holding: Holding): Promise<void> {
    if (holding.ended) return holding.ended;
    if (this.holding !== holding || this.machine.state !== 'held') return Promise.resolve();
    this.transition('releasing');
    holding.ended = this.inBackground(this.giveBack(holding));
    return holding.ended;
  }

  private async giveBack(holding: Holding): Promise<void> {
    offSessionEnded(holding.session, Holding.prototype.sessionEnded, holding);
    // The monitor's read stays parked while we release: the release changes the key, which
    // answers that read at once, and the monitor stops there (`draining`). Aborting it first
    // would cost a connection: cancelling an HTTP/1.1 request closes its socket, and the next
    // request would open a new one. Whatever the monitor sees from here on is ignored (`lose()`
    // acts only while `held`).
    holding.draining = true;
    let failure: unknown;
    try {
      await this.config.driver.release(holding.session, holding.last as T | undefined);
    } catch (err) {
      failure = err;
    }
    this.drainMonitor(holding, failure !== undefined);
    // Like Go's api.Lock, a session made for this hold is destroyed after the key is free, off
    // the caller's path: release() resolves once the key is free, and close() awaits the destroy.
    // It holds nothing any more, so destroying it applies no lock-delay.
    if (holding.owned) this.inBackground(holding.session.destroy());
    this.transition('idle');
    if (failure !== undefined) {
      // With our own session, destroying it releases the key anyway (Consul applies lock-delay
      // then); with the caller's session the key may still be held: say so.
      if (holding.owned) this.emit('error', failure);
      else throw failure;
    }
  }

  /**
   * Lets a released hold's monitor finish: its parked read answers because the release changed
   * the key. When the release failed, or the answer does not come soon (a lost connection being
   * retried, a slow server), the monitor is aborted instead; close() awaits it either way.
   */
  private drainMonitor(holding: Holding, now: boolean): void {
    if (now || this.closing) {
      holding.monitor.abort(MONITOR_STOPPED);
    } else {
      const timer = setTimeout(() => holding.monitor.abort(MONITOR_STOPPED), MONITOR_DRAIN_MS);
      timer.unref();
      (this.draining ??= new Set()).add(holding);
      void holding.monitorDone.finally(() => {
        clearTimeout(timer);
        this.draining?.delete(holding);
      });
    }
    this.inBackground(holding.monitorDone);
  }

  /** Runs a cleanup that close() must await; the returned promise is the cleanup itself. */
  private inBackground(p: Promise<void>): Promise<void> {
    (this.background ??= new Set()).add(p);
    const done = (): void => void this.background?.delete(p);
    p.then(done, done);
    return p;
  }

  /** The synchronous deadline check behind `state` and `handle.signal`. */
  private enforceDeadline(): void {
    const holding = this.holding;
    if (this.machine.state === 'held' && holding && !holding.session.isAlive()) {
      this.lose(holding, 'the session was lost', holding.session.signal.reason);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The one way to change state

  /**
   * Called by `transition()` after the state changed and the hold's signal was aborted, before
   * the engine emits its own event. A recipe that presents its own lifecycle over this engine
   * (LeaderElection: `campaigning`, `leader`, `resigning`) keeps it in step here, synchronously,
   * so its events keep the engine's order: signal aborted first, then the event. Must not throw.
   */
  protected onTransition(_from: HoldState, _to: HoldState, _detail: TransitionDetail<H>): void {}

  private transition(to: HoldState, detail: TransitionDetail<H> = {}): void {
    this.machine.transition(to, detail);
  }

  /** Abort before emitting: no listener may see `lost`/`released` while the signal looks live. */
  private machineBeforeEmit(from: HoldState, to: HoldState, detail: TransitionDetail<H>): void {
    const holding = this.holding;
    if (to === 'lost' && holding) holding.controller.abort(detail.error);
    if (to === 'releasing' && holding) holding.controller.abort(new ReleasedError(this.what, this.config.key));
    this.onTransition(from, to, detail);
  }

  private machineEmit(from: HoldState, to: HoldState, detail: TransitionDetail<H>): void {
    if (to === 'held' && detail.handle !== undefined) this.emit('acquired', detail.handle);
    else if (to === 'lost' && detail.error) this.emit('lost', detail.error);
    else if (to === 'idle' && from === 'releasing') this.emit('released');
  }

  private get what(): string {
    return `${this.config.kind} "${this.config.key}"`;
  }
}

/** What accompanies a state change: the new handle on `held`, the error on `lost`. */
export interface TransitionDetail<H> {
  handle?: H;
  error?: LockLostError;
}

/** What every hold's handle offers (a lock handle, a semaphore permit). */
export interface HoldHandle {
  /** The session holding it (ours, or the one passed in options). */
  readonly session: Session;
  /** Strictly increasing across successive holds (the recipe says which index it is). */
  readonly fencingToken: number;
  /**
   * Aborted when the hold ends: with a `LockLostError` when lost (session lost, key taken,
   * released by someone else or deleted), with a `ReleasedError` (`name: 'AbortError'`) on
   * `release()`. Reading it checks the session deadline first.
   */
  readonly signal: AbortSignal;
  /** Gives the hold back and destroys the session we created. Idempotent; resolves after a loss. */
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The view behind each handle, for the one shared `signal` getter. */
const HANDLE_VIEWS = new WeakMap<object, HoldingView>();

/**
 * The `signal` getter of every handle. One function for all of them: an accessor is part of an
 * object's hidden class, so a getter closure per handle gave each handle a hidden class of its own.
 */
function handleSignal(this: object): AbortSignal {
  return (HANDLE_VIEWS.get(this) as HoldingView).signal();
}

/**
 * The public handle of a hold: the recipe's `fields`, then the view's session, token, live signal
 * and release. Built property by property: a spread (`{ ...fields }`) gave each handle a hidden
 * class of its own.
 */
export function holdHandle<X extends object>(view: HoldingView, fields: X): HoldHandle & X {
  const handle = Object.assign({}, fields) as Record<PropertyKey, unknown>;
  handle.session = view.session;
  handle.fencingToken = view.fencingToken;
  Object.defineProperty(handle, 'signal', { get: handleSignal, enumerable: true, configurable: false });
  HANDLE_VIEWS.set(handle, view);
  const release = view.release.bind(view) as () => Promise<void>;
  handle.release = release;
  handle[Symbol.asyncDispose] = release;
  return Object.freeze(handle) as unknown as HoldHandle & X;
}

/** What a recipe needs to build its public handle. */
export interface HoldingView {
  readonly session: Session;
  readonly fencingToken: number;
  /** The hold's signal, after a deadline check. */
  signal(): AbortSignal;
  release(): Promise<void>;
}

/** True when `err` means the session behind an attempt is gone. */
function sessionGone(session: Session, err: unknown): boolean {
  if (err instanceof SessionLostError) return true;
  if (!session.isAlive()) return true;
  return err instanceof ConsulError && SESSION_GONE.test(err.consulMessage);
}
