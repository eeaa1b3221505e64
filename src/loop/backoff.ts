/** Capped exponential backoff with jitter, shared by every retry loop. */

export interface BackoffPolicy {
  /** First delay in ms. */
  minMs: number;
  /** Cap in ms. */
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1-based): min·2^(attempt-1), capped at max, then
 * "equal jitter" — a random point in [d/2, d) — so many clients recovering from the same outage
 * do not retry in lockstep, yet none retries sooner than half the nominal delay.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.minMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/**
 * Error backoff of a holder's monitor (lock, semaphore permit, election term). The monitor's
 * reads are retried by the blocking loop alone (the transport sends them with `retry: 'none'`),
 * and `monitorRetries` counts failed reads in a row; spacing them like Go's `MonitorRetryTime`
 * (2 s, api/lock.go) makes the default 3 retries ride out an outage of about 5–10 s, as a
 * leader election takes, instead of under a second.
 */
export const MONITOR_ERROR_BACKOFF: BackoffPolicy = Object.freeze({ minMs: 2_000, maxMs: 4_000 });
