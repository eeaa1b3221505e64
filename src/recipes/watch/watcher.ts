/**
 * The shared engine of every watcher recipe (ConfigWatcher, ServiceWatcher, EventWatcher), as
 * Curator's recipes share one engine: the engine owns the lifecycle — state machine, the one
 * blocking-query loop, `ready()`, iteration queues, `close()` — and each recipe is a driver that
 * reads one endpoint and decides what a new result means (`handle`).
 *
 * Lifecycle: `starting` (no value yet) → `ready` (a value is published) → `closing` (close() is
 * stopping the loop and ending iterations) → `closed`. Read failures
 * never change the state: the loop backs off and retries (src/loop/blocking-query.ts), the last
 * published value stays, and each failure is emitted as `error`. A failure that retrying cannot
 * cure (a 4xx such as 403 ACL denied) while still `starting` also rejects pending `ready()` calls,
 * so a misconfigured watcher does not hang its caller; the loop keeps retrying in case the
 * operator fixes the policy.
 */
import type { EventEmitter } from 'eventemitter3';
import { SafeEmitter } from '../../internal/safe-emitter.js';
import { StateMachine, type MachineSpec, type Moves } from '../../internal/state-machine.js';
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import { ClosedError, ConsulError, TimeoutError, abortReason } from '../../errors.js';
import { linkSignals, optionalSignal } from '../../internal/abort.js';
import { toMs } from '../../internal/duration.js';
import { runBlockingQuery, type BlockingQueryOptions, type BlockingReadArgs, type BlockingResult } from '../../loop/blocking-query.js';
import type { QueryMeta } from '../../transport/client.js';
import { AsyncQueue, type QueueMode } from './async-queue.js';
import { checkOptions } from '../../internal/options.js';

export type WatcherState = 'starting' | 'ready' | 'closing' | 'closed';

/** Events every watcher emits. Recipes add their own. */
export interface WatcherEvents {
  /**
   * A read failed (Consul unreachable, no leader, ACL denied…) or a result was rejected (a value
   * that does not decode). The watcher keeps its last good value and retries with backoff.
   */
  error: [error: unknown];
  /** `close()` ran: the loop is stopped and iterations have finished. */
  closed: [];
}

/** Options of `ready()`. */
export interface ReadyOptions {
  /** Stops waiting (rejects with the signal's reason); the watcher keeps running. */
  signal?: AbortSignal;
  /** Gives up after this long (duration string or ms) with a timeout error. @default no limit */
  timeout?: string | number;
}

/** Options every watcher accepts. */
export interface WatcherOptions {
  /**
   * Blocking wait per request (Consul caps it at 10 min). It bounds nothing the caller sees:
   * `close()` cancels the request in flight at once. @default '5m'
   */
  wait?: string | number;
  /**
   * Closes the watcher when aborted; running iterations then reject with the signal's reason
   * (after `close()` they simply finish).
   */
  signal?: AbortSignal;
}

/** Blocking wait limits: Consul rejects nothing below 1 ms and caps waits at 10 minutes. */
export const MAX_WAIT_MS = 10 * 60_000;

/** Converts the shared watcher options (synchronously, throwing ConfigError). */
export function resolveWaitMs(wait: unknown, fallbackMs: number): number {
  return wait === undefined ? fallbackMs : toMs('wait', wait, { min: 1, max: MAX_WAIT_MS });
}

/** A Consul failure retrying cannot cure: the complement of the one rule, `isTransient` (errors.ts). */
export function isPermanentFailure(err: unknown): boolean {
  return err instanceof ConsulError && !err.transient;
}

const WATCHER_TRANSITIONS: Moves<WatcherState> = Object.freeze({
  starting: ['ready', 'closing'],
  ready: ['closing'],
  closing: ['closed'],
  closed: [],
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the shared machine spec serves every watcher type
type AnyWatcher = Watcher<any, any, any>;

/**
 * Base of the watcher recipes. `R` is what one read returns, `V` what `ready()` resolves with, `E`
 * the recipe's typed events (including {@link WatcherEvents}).
 */
export abstract class Watcher<R, V, E extends WatcherEvents> extends SafeEmitter<E> {
  protected readonly ctx: RecipeContext;
  /** Names the watcher in messages and timeout errors (`config "app/"`, `service "web"`). */
  protected readonly what: string;
  private readonly waitMs: number;
  private readonly equals: ((a: R, b: R) => boolean) | undefined;
  private readonly machine: StateMachine<WatcherState, undefined, AnyWatcher>;
  private published: { value: V } | undefined;
  /** A permanent failure seen while starting; rejects `ready()` until a value arrives. */
  private startupError: unknown;
  private readonly controller = new AbortController();
  /** Pending `ready()` calls; created by the first one (an idle watcher has none). */
  private stateListeners: Set<() => void> | undefined;
  /** Open iterations; created by the first one. */
  private queues: Set<AsyncQueue<unknown>> | undefined;
  private loop: Promise<void> | undefined;
  /** The running close() (idempotency); the state machine is in `closing` meanwhile. */
  private closing: Promise<void> | undefined;
  /** Removes our listener from the caller's signal, when one was given. */
  private detachSignal: (() => void) | undefined;
  /** Set when the caller's signal closed the watcher: iterations then reject with its reason. */
  private abortedBy: { reason: unknown } | undefined;

  /** The machine of every watcher (shared: an instance keeps no closures for its hooks). */
  private static readonly MACHINE: MachineSpec<WatcherState, undefined, AnyWatcher> = Object.freeze({
    initial: 'starting',
    moves: WATCHER_TRANSITIONS,
    beforeEmit: (w: AnyWatcher, _from: WatcherState, to: WatcherState) => {
      if (to === 'ready') w.startupError = undefined;
      w.notifyState();
    },
    emit: (w: AnyWatcher, _from: WatcherState, to: WatcherState) => {
      const self = w as unknown as EventEmitter<WatcherEvents & { ready: [unknown] }>;
      if (to === 'ready') self.emit('ready', (w.published as { value: unknown }).value);
      if (to === 'closed') self.emit('closed');
    },
  });

  protected constructor(
    host: RecipeHost,
    what: string,
    options: { waitMs: number; signal?: AbortSignal | undefined; equals?: (a: R, b: R) => boolean },
  ) {
    const ctx = contextOf(host);
    super(ctx.logger, what);
    ctx.lifetime.assertOpen();
    this.ctx = ctx;
    this.machine = new StateMachine(Watcher.MACHINE, this as AnyWatcher, what, ctx.logger);
    this.what = what;
    this.waitMs = options.waitMs;
    this.equals = options.equals;
    const signal = optionalSignal(options.signal);
    signal?.throwIfAborted();
    if (signal) {
      const onAbort = (): void => {
        this.abortedBy = { reason: abortReason(signal) };
        this.notifyState();
        void this.close();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.detachSignal = () => signal.removeEventListener('abort', onAbort);
    }
  }

  /** `'starting' | 'ready' | 'closing' | 'closed'`. */
  get state(): WatcherState {
    return this.machine.state;
  }

  /**
   * Resolves once the first value is available (at once if it already is). Rejects with
   * {@link ClosedError} when the watcher closes first (with the reason of the watcher's own
   * `signal` when that closed it), with a permanent Consul failure (403, 400)
   * seen before the first value, with the signal's reason, or with a timeout error after `timeout`.
   */
  ready(options: ReadyOptions = {}): Promise<V> {
    checkOptions(options, ['signal', 'timeout'], 'ready()');
    const timeoutMs = options.timeout === undefined ? undefined : toMs('timeout', options.timeout);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const settledNow = this.readyOutcome();
    if (settledNow) return settledNow.ok ? Promise.resolve(settledNow.value) : Promise.reject(settledNow.error);
    const linked = linkSignals(
      [signal],
      timeoutMs === undefined ? undefined : { ms: timeoutMs, reason: () => new TimeoutError(this.what, timeoutMs) },
    );
    return new Promise<V>((resolve, reject) => {
      const cleanup = (): void => {
        this.stateListeners?.delete(check);
        // The last waiter gone: drop the set too (most watchers are awaited once, then idle).
        if (this.stateListeners?.size === 0) this.stateListeners = undefined;
        linked.signal.removeEventListener('abort', onAbort);
        linked.dispose();
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortReason(linked.signal));
      };
      const check = (): void => {
        const outcome = this.readyOutcome();
        if (!outcome) return;
        cleanup();
        if (outcome.ok) resolve(outcome.value);
        else reject(outcome.error);
      };
      (this.stateListeners ??= new Set()).add(check);
      linked.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops the loop (cancelling the request in flight), finishes every iteration, rejects pending
   * `ready()` calls with {@link ClosedError} and detaches from the Coordinator. Idempotent; the
   * returned promise settles once the loop has really stopped.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.machine.transition('closing');
      this.controller.abort(new ClosedError(this.what));
      await this.loop;
      for (const queue of this.queues ?? []) {
        if (this.abortedBy) queue.fail(this.abortedBy.reason);
        else queue.end();
      }
      this.queues = undefined;
      this.detachSignal?.();
      this.ctx.lifetime.untrack(this);
      this.machine.transition('closed');
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------
  // For recipes

  /** Starts the loop. Called by the recipe's constructor once its own fields are set. */
  protected start(): void {
    this.ctx.lifetime.track(this);
    this.loop = this.run();
  }

  /** One read of the watched endpoint; `index`/`waitMs` make it a blocking read. */
  protected abstract read(args: BlockingReadArgs): Promise<{ value: R; meta: QueryMeta }>;

  /** Decides what a new result means: publish a value, emit recipe events. */
  protected abstract handle(result: BlockingResult<R>): void;

  /** Records the current value; the first one moves the watcher to `ready`. */
  protected publish(value: V): void {
    if (!this.machine.is('starting', 'ready')) return;
    this.published = { value };
    if (this.machine.state === 'starting') this.machine.transition('ready');
  }

  /** The last published value, if any. */
  protected get current(): V | undefined {
    return this.published?.value;
  }

  /** A new iteration queue, ended on close. `onReturn` runs when the consumer leaves its loop. */
  protected openQueue<T>(mode: QueueMode, onReturn?: () => void): AsyncQueue<T> {
    const queue: AsyncQueue<T> = new AsyncQueue<T>(mode, () => {
      this.queues?.delete(queue as AsyncQueue<unknown>);
      onReturn?.();
    });
    if (this.machine.is('closing', 'closed')) {
      if (this.abortedBy) queue.fail(this.abortedBy.reason);
      else queue.end();
    } else (this.queues ??= new Set()).add(queue as AsyncQueue<unknown>);
    return queue;
  }

  /** Pushes a value to every open iteration. */
  protected pushToQueues(value: unknown): void {
    if (this.queues) for (const queue of this.queues) queue.push(value);
  }

  /** Reports a failure as an `error` event (a throwing listener is logged by the emitter, nothing more). */
  protected reportError(err: unknown): void {
    (this as unknown as EventEmitter<WatcherEvents>).emit('error', err);
  }

  // ---------------------------------------------------------------------------------------------

  private readyOutcome(): { ok: true; value: V } | { ok: false; error: unknown } | undefined {
    if (this.published) return { ok: true, value: this.published.value };
    if (this.machine.is('closing', 'closed') || this.abortedBy) {
      return { ok: false, error: this.abortedBy ? this.abortedBy.reason : new ClosedError(this.what) };
    }
    if (this.startupError !== undefined) return { ok: false, error: this.startupError };
    return undefined;
  }

  private notifyState(): void {
    if (this.stateListeners) for (const listener of [...this.stateListeners]) listener();
  }

  /** The loop (the shared one, driven by callbacks: an idle watcher keeps one suspended frame). Never rejects. */
  private run(): Promise<void> {
    const signal = this.controller.signal;
    const options: BlockingQueryOptions<R> = {
      signal,
      waitMs: this.waitMs,
      onError: this.onReadError.bind(this),
    };
    if (this.equals) options.equals = this.equals;
    return runBlockingQuery<R>((args) => this.read(args), options, (result) => {
      if (signal.aborted) return false;
      // A read succeeded: an earlier permanent failure is no longer the latest news.
      this.startupError = undefined;
      try {
        this.handle(result);
      } catch (err) {
        this.reportError(err);
      }
      return true;
    }).catch((err: unknown) => {
      // The loop only throws for errors marked fatal, and we mark none; log rather than leave a
      // rejection nobody awaits.
      if (!signal.aborted) this.reportError(err);
    });
  }

  private onReadError(err: unknown, failures: number): void {
    this.ctx.logger.debug(
      { what: this.what, failures, err: err instanceof Error ? err.message : String(err) },
      'watch read failed; backing off',
    );
    if (this.machine.state === 'starting' && isPermanentFailure(err)) {
      this.startupError = err;
      this.notifyState();
    }
    this.reportError(err);
  }
}
