/**
 * `{ signal, timeout }` of every wait in the queue, barrier, double-barrier and counter recipes:
 * validated synchronously, then turned into one signal whose timeout reason is a `TimeoutError`
 * naming what was awaited.
 */
import { ConfigError, TimeoutError } from '../errors.js';
import { linkSignals, optionalSignal } from './abort.js';
import { toMs } from './duration.js';
import { checkOptions } from './options.js';

/** Options of a wait (`take()`, `barrier.wait()`, `enter()`, `leave()`). */
export interface WaitOptions {
  /** Stops waiting; rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Gives up after this long (duration string or ms) with `TimeoutError`. @default no timeout */
  timeout?: string | number;
}

export interface ResolvedWaitOptions {
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number | undefined;
}

/** Validates wait options synchronously; throws {@link ConfigError}. `where` names the call. */
export function resolveWaitOptions(options: WaitOptions | undefined, where: string): ResolvedWaitOptions {
  checkOptions(options, ['signal', 'timeout'], where);
  return {
    signal: optionalSignal(options?.signal),
    timeoutMs: options?.timeout === undefined ? undefined : toMs('timeout', options.timeout),
  };
}

/**
 * One signal for a wait: aborts with the caller's reason, with `closed`'s reason, or after the
 * timeout with a `TimeoutError` on `what`. Call `dispose()` in `finally`.
 */
export function waitSignal(
  wait: ResolvedWaitOptions,
  what: string,
  ...more: Array<AbortSignal | undefined>
): { signal: AbortSignal; dispose: () => void } {
  const { timeoutMs } = wait;
  return linkSignals(
    [wait.signal, ...more],
    timeoutMs === undefined ? undefined : { ms: timeoutMs, reason: () => new TimeoutError(what, timeoutMs) },
  );
}
