/**
 * `withLock` / `withSemaphore`: acquire, run `fn`, release — on return and on throw.
 *
 * `fn` receives `{ signal, fencingToken }`. `signal` aborts when the hold is lost (or when the
 * caller's own `signal` aborts); `fn` should stop then. If the hold was lost while `fn` ran, the
 * call rejects with that `LockLostError` once `fn` has settled, even if `fn` returned normally —
 * its work may have overlapped another holder's, and the caller must know.
 */
import type { RecipeHost } from '../context.js';
import { ConfigError, type LockLostError } from '../../errors.js';
import { linkSignals } from '../../internal/abort.js';
import { describe } from '../../internal/duration.js';
import { resolveAcquireOptions, type AcquireOptions, type HoldHandle, type ResolvedAcquireOptions } from '../hold/contender.js';
import { LOCK_OPTION_NAMES, Lock, type LockOptions } from './lock.js';
import { SEMAPHORE_OPTION_NAMES, Semaphore, type SemaphoreOptions } from '../semaphore/semaphore.js';
import { checkLocalOptions } from '../../internal/options.js';

/** What `fn` gets while it holds the lock or permit. */
export interface HeldContext {
  /** Aborted when the hold is lost (reason: `LockLostError`) or the caller's signal aborts. */
  readonly signal: AbortSignal;
  /** Fencing token of this hold: pass it to systems that can reject stale writers. */
  readonly fencingToken: number;
}

export type WithLockOptions = LockOptions & AcquireOptions;
export type WithSemaphoreOptions = SemaphoreOptions & AcquireOptions;

/**
 * Holds the lock on `key` while `fn` runs. Options validate synchronously (`ConfigError`).
 * Rejects like `lock.acquire()` when the lock cannot be had, with `fn`'s error when it throws,
 * and with `LockLostError` when the lock was lost meanwhile.
 */
export function withLock<T>(
  host: RecipeHost,
  key: string,
  fn: (ctx: HeldContext) => T | Promise<T>,
  options: WithLockOptions = {},
): Promise<T> {
  const { recipe, acquire } = splitOptions(options, LOCK_OPTION_NAMES, 'withLock()', fn);
  return runHeld(new Lock(host, key, recipe), acquire, fn);
}

/**
 * Holds a permit of the semaphore at `prefix` while `fn` runs. `options` carries the semaphore
 * options (`limit` required) and may carry `signal`/`timeout`; `acquireOptions` is an alternative
 * place for those two (it wins when both are given).
 */
export function withSemaphore<T>(
  host: RecipeHost,
  prefix: string,
  options: WithSemaphoreOptions,
  fn: (ctx: HeldContext) => T | Promise<T>,
  acquireOptions: AcquireOptions = {},
): Promise<T> {
  const { recipe, acquire } = splitOptions(options, SEMAPHORE_OPTION_NAMES, 'withSemaphore()', fn, acquireOptions);
  return runHeld(new Semaphore(host, prefix, recipe as SemaphoreOptions), acquire, fn);
}

/**
 * Splits a with-call's options into the recipe's and the acquire's (`acquireOptions` wins over
 * `signal`/`timeout` given in `options`), checking synchronously, in this order, the option names,
 * the acquire options and `fn` (`ConfigError`).
 */
function splitOptions<O extends AcquireOptions>(
  options: O | undefined,
  recipeOptionNames: readonly string[],
  where: string,
  fn: unknown,
  acquireOptions: AcquireOptions = {},
): { recipe: Omit<O, 'signal' | 'timeout'>; acquire: ResolvedAcquireOptions } {
  checkLocalOptions(options, [...recipeOptionNames, 'signal', 'timeout'], where);
  const { signal, timeout, ...recipe } = options ?? ({} as O);
  const acquire = resolveAcquireOptions({ signal, timeout, ...acquireOptions });
  assertFunction(fn);
  return { recipe, acquire };
}

/** What `runHeld` drives: any hold recipe (Lock, Semaphore, a read-write lock's side). */
export interface HoldRunner {
  acquire(options?: AcquireOptions): Promise<HoldHandle>;
  readonly state: string;
  close(): Promise<void>;
}

/** Acquires `holder`, runs `fn`, releases, closes `holder`; see the file comment for the outcomes. @internal */
export async function runHeld<T>(
  holder: HoldRunner,
  acquire: ResolvedAcquireOptions,
  fn: (ctx: HeldContext) => T | Promise<T>,
): Promise<T> {
  try {
    const handle: HoldHandle = await holder.acquire({
      ...(acquire.signal ? { signal: acquire.signal } : {}),
      ...(acquire.timeoutMs !== undefined ? { timeout: acquire.timeoutMs } : {}),
    });
    const linked = linkSignals([handle.signal, acquire.signal]);
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await fn({ signal: linked.signal, fencingToken: handle.fencingToken }) };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      linked.dispose();
    }
    // Reading `state` checks the session deadline: a loss is never missed because a timer was late.
    const lost = holder.state === 'lost' ? (handle.signal.reason as LockLostError) : undefined;
    try {
      await handle.release();
    } catch (releaseError) {
      if (lost === undefined && outcome.ok) throw releaseError;
    }
    if (lost !== undefined) throw lost;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  } finally {
    await holder.close();
  }
}

function assertFunction(fn: unknown): void {
  if (typeof fn !== 'function') throw new ConfigError(`fn must be a function, got ${describe(fn)}`, 'fn');
}
