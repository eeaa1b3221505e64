/**
 * The one long-poll loop. Every recipe that follows Consul state (lock waiters and monitors,
 * election observers, config and service watchers) drives it with a read function; the recipe
 * only decides what each new snapshot means.
 *
 * Rules (Consul's blocking-query docs, and api/watch/plan.go):
 * - the first read (index 0) answers at once; later reads block on the last index seen;
 * - a return proves nothing changed: an unchanged index is skipped, and so is an unchanged value
 *   when `equals` is given;
 * - an index that goes backwards (tombstone reap, snapshot restore, agent restart) resets the
 *   index to 0, so the next read is a fresh non-blocking one; an index of 0 is treated as 1;
 * - never spin: unchanged results that come back early are spaced out with growing delays;
 * - errors back off exponentially with jitter, capped, and the loop carries on until aborted
 *   (or `isFatal` says stop; pass `!isTransient(err)`, the one transient rule in errors.ts);
 *   the first read after an error is non-blocking, so a server that came back with a lower index
 *   is noticed at once instead of after a whole wait;
 * - this loop is the only layer that retries its reads: the read functions pass `waitMs`, and the
 *   transport sends every read that names a blocking wait with `retry: 'none'`. A recipe may
 *   count failures (`onError`'s second argument: monitors give up after `monitorRetries`) but
 *   never adds a retry of its own around a read (see transport/client.ts for the full table);
 * - aborting the signal cancels the in-flight request at once (it is passed down to HTTP).
 */
import { sleep } from '../internal/abort.js';
import type { QueryMeta } from '../transport/client.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';

/** Consul's default blocking wait is 5 minutes; cancelling does not depend on it (see above). */
export const DEFAULT_WAIT_MS = 5 * 60_000;
/** Error backoff: starts small so a leader election blip costs little, capped so an outage is not hammered. */
export const DEFAULT_ERROR_BACKOFF: BackoffPolicy = Object.freeze({ minMs: 100, maxMs: 10_000 });
/** An unchanged result sooner than this after the request started counts as a spin. */
export const DEFAULT_MIN_ROUND_MS = 50;

export interface BlockingReadArgs {
  /** Index to block on (0n: answer at once). */
  index: bigint;
  waitMs: number;
  signal: AbortSignal;
}

export type BlockingRead<T> = (args: BlockingReadArgs) => Promise<{ value: T; meta: QueryMeta }>;

export interface BlockingResult<T> {
  value: T;
  index: bigint;
  meta: QueryMeta;
}

export interface BlockingQueryOptions<T> {
  /** Stops the loop and cancels the in-flight read. */
  signal: AbortSignal;
  /** Blocking wait per request. @default 5 minutes */
  waitMs?: number;
  /** Start blocking from this index instead of reading once first. @default 0n */
  initialIndex?: bigint;
  /** Skip results whose value equals the last one yielded. */
  equals?: (previous: T, next: T) => boolean;
  /** Backoff after failed reads. @default { minMs: 100, maxMs: 10000 } */
  errorBackoff?: BackoffPolicy;
  /** Spin guard for unchanged early returns. @default 50 */
  minRoundMs?: number;
  /** Called for each failed read (the loop goes on). */
  onError?: (err: unknown, consecutiveFailures: number) => void;
  /** Errors for which the loop gives up and throws instead of retrying. */
  isFatal?: (err: unknown) => boolean;
  /** Clock and randomness, injectable for tests. */
  now?: () => number;
  random?: () => number;
}

/**
 * What the loop does with each changed result. Returning (or resolving) `false` stops the loop;
 * a returned promise is awaited before the next read.
 */
export type BlockingResultHandler<T> = (result: BlockingResult<T>) => boolean | void | Promise<boolean | void>;

/**
 * The loop itself: calls `onResult` with `{ value, index, meta }` each time the watched result
 * changes, until aborted or until `onResult` says stop; then resolves. Rejects only with an error
 * `isFatal` accepted, or one `onResult` threw.
 *
 * `blockingQuery` is this loop as an async iterator. Long-lived followers (watchers, lock
 * monitors) call it directly: a parked read then holds one suspended frame (this one) instead of
 * two (the generator and the `for await` around it), which counts when a process keeps
 * thousands of them.
 */
export async function runBlockingQuery<T>(read: BlockingRead<T>, options: BlockingQueryOptions<T>, onResult: BlockingResultHandler<T>): Promise<void> {
  const { signal } = options;
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
  const errorBackoff = options.errorBackoff ?? DEFAULT_ERROR_BACKOFF;
  const minRoundMs = options.minRoundMs ?? DEFAULT_MIN_ROUND_MS;
  const now = options.now ?? Date.now;
  /** Last index seen: what "changed" is judged against. */
  let index = options.initialIndex ?? 0n;
  /** Index the next read blocks on; 0n after a failure (see below). */
  let request = index;
  let last: { value: T } | undefined;
  let failures = 0;
  let spins = 0;

  while (!signal.aborted) {
    const started = now();
    let result: { value: T; meta: QueryMeta };
    try {
      result = await read({ index: request, waitMs, signal });
    } catch (err) {
      if (signal.aborted) return;
      if (options.isFatal?.(err)) throw err;
      failures += 1;
      options.onError?.(err, failures);
      // After a failure, probe with a non-blocking read: the server may have restarted with a
      // lower index, and blocking on our (now too high) index would stall for the whole wait.
      request = 0n;
      if (!(await pause(backoffDelay(failures, errorBackoff, options.random), signal))) return;
      continue;
    }
    const probe = request === 0n && index !== 0n;
    failures = 0;
    const previous = index;
    // Consul docs: the index must be > 0; treat 0 as 1 so the next read still blocks.
    const next = result.meta.index > 0n ? result.meta.index : 1n;

    if (previous !== 0n && next === previous) {
      // Nothing changed (timeout, spurious wake-up, or a probe after an error). Guard against a
      // server that answers at once with the same index: space such rounds out, growing while
      // it persists.
      request = previous;
      if (!probe && now() - started < minRoundMs) {
        spins += 1;
        if (!(await pause(backoffDelay(spins, { minMs: minRoundMs, maxMs: errorBackoff.maxMs }, options.random), signal))) return;
      } else {
        spins = 0;
      }
      continue;
    }
    spins = 0;
    // Index went backwards: reset so the next read is a fresh, non-blocking one (blocking.mdx).
    index = next < previous ? 0n : next;
    request = index;
    if (last && options.equals?.(last.value, result.value)) continue;
    last = { value: result.value };
    const go = onResult({ value: result.value, index: next, meta: result.meta });
    if ((go instanceof Promise ? await go : go) === false) return;
  }
}

type Step<T> = { result: BlockingResult<T> } | { done: true } | { error: unknown };

/**
 * Yields `{ value, index, meta }` each time the watched result changes, until aborted: the loop
 * of `runBlockingQuery` (in this file), pulled. Lazy as a generator is: the first read goes out
 * on the first pull, and each next read only once the consumer asks for the next result.
 * Leaving the `for await` stops the loop.
 */
export async function* blockingQuery<T>(
  read: BlockingRead<T>,
  options: BlockingQueryOptions<T>,
): AsyncGenerator<BlockingResult<T>, void, undefined> {
  let settle!: (step: Step<T>) => void;
  const arm = (): Promise<Step<T>> => new Promise<Step<T>>((resolve) => (settle = resolve));
  let next = arm();
  /** The loop waiting for the consumer's next pull (true: read on; false: stop). */
  let pending: ((go: boolean) => void) | undefined;
  const loop = runBlockingQuery<T>(read, options, (result) =>
    new Promise<boolean>((go) => {
      pending = go;
      settle({ result });
    }),
  ).then(
    () => settle({ done: true }),
    (error: unknown) => settle({ error }),
  );
  try {
    for (;;) {
      const step = await next;
      if ('done' in step) return;
      if ('error' in step) throw step.error;
      next = arm();
      yield step.result;
      const go = pending;
      pending = undefined;
      go?.(true);
    }
  } finally {
    const go = pending;
    pending = undefined;
    go?.(false);
    await loop;
  }
}

/** Sleeps unless aborted; false means the loop should stop. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, signal);
    return true;
  } catch {
    // The only rejection is the abort the caller asked for.
    return false;
  }
}
