/**
 * Waiting on conditions instead of time. `waitFor` polls a condition until it holds or a
 * deadline passes; it never sleeps blindly for a fixed time.
 */

export interface WaitForOptions {
  /** Deadline in ms. @default 5000 */
  timeout?: number;
  /** Poll interval in ms. @default 10 */
  interval?: number;
  /** Describes the condition in the timeout error. */
  message?: string;
  /** Aborts the wait early, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Polls `condition` until it returns a truthy value (which is returned) or the deadline passes.
 * A condition that throws counts as "not yet"; the last error is attached to the timeout error
 * as `cause`, so an assertion inside the condition explains the failure.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeout = 5_000, interval = 10, message, signal }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const what = message ?? condition.toString().replace(/\s+/g, ' ').slice(0, 120);
      throw new Error(`waitFor timed out after ${timeout} ms: ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Resolves after `ms`; only for tests that must show something did NOT happen within a window. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
