/** AbortSignal helpers. Whoever adds a listener removes it (see p-retry#71). */
import { ConfigError, abortReason } from '../errors.js';
import { describe } from './duration.js';

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. The abort
 * listener is removed in every outcome.
 *
 * The timer keeps the process alive by default: a wait inside something the caller awaits (an
 * acquire waiting out lock-delay, a loop backing off) may be the only pending work, and an
 * unref()ed timer there lets a process whose main module awaits it exit mid-wait ("unsettled
 * top-level await"). Background upkeep nobody awaits (renewals, heartbeats) passes `unref`.
 */
export function sleep(ms: number, signal?: AbortSignal, { unref = false }: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (unref) timer.unref?.();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts when any input aborts (with that input's reason), after `timeoutMs` (with
 * `timeoutReason()`), or when `abort(reason)` is called (an owner stopping the work it linked,
 * without keeping a signal of its own for it). `dispose()` clears the timer and listeners; call it
 * in `finally`.
 */
export function linkSignals(
  inputs: ReadonlyArray<AbortSignal | undefined>,
  timeout?: { ms: number; reason: () => unknown },
): { signal: AbortSignal; dispose: () => void; abort: (reason: unknown) => void } {
  const controller = new AbortController();
  const cleanups: Array<() => void> = [];
  const dispose = (): void => {
    for (const c of cleanups.splice(0)) c();
  };
  for (const input of inputs) {
    if (!input) continue;
    if (input.aborted) {
      controller.abort(abortReason(input));
      break;
    }
    const onAbort = (): void => {
      controller.abort(abortReason(input));
      dispose();
    };
    input.addEventListener('abort', onAbort, { once: true });
    cleanups.push(() => input.removeEventListener('abort', onAbort));
  }
  if (timeout && !controller.signal.aborted && Number.isFinite(timeout.ms)) {
    const timer = setTimeout(() => {
      controller.abort(timeout.reason());
      dispose();
    }, Math.max(0, timeout.ms));
    timer.unref?.();
    cleanups.push(() => clearTimeout(timer));
  }
  if (controller.signal.aborted) dispose();
  const abort = (reason: unknown): void => {
    if (controller.signal.aborted) return;
    controller.abort(reason);
    dispose();
  };
  return { signal: controller.signal, dispose, abort };
}

/** True when `err` is the abort reason of `signal` (so callers can rethrow it untouched). */
export function isAbortFrom(signal: AbortSignal | undefined, err: unknown): boolean {
  return signal !== undefined && signal.aborted && err === abortReason(signal);
}

/**
 * The one check of a `signal` option, at the call site: absent (undefined) or an AbortSignal.
 * Anything else (null included) is a {@link ConfigError} instead of a TypeError thrown deep
 * inside a call.
 */
export function optionalSignal(value: unknown, option = 'signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (value instanceof AbortSignal) return value;
  throw new ConfigError(`option "${option}" must be an AbortSignal, got ${describe(value)}`, option);
}
