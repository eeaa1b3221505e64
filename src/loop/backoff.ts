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
