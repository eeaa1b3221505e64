/**
 * The one blocking-query loop (agent/blockingquery/blockingquery.go `Query`, with the timeout
 * of agent/consul/rpc.go `RPCQueryTimeout`):
 *
 * 1. `index` absent or 0: run once, answer at once.
 * 2. Timeout T = `wait`; absent or ≤ 0 (including `wait=0s`) → default_query_time (5 min);
 *    above max_query_time (10 min) → 10 min; plus a random jitter in [0, T/16).
 * 3. Run the query; while its index ≤ the requested one, sleep until a watched row changes or T
 *    passes, then run again. A timeout is not an error: the current result is the answer.
 * A result index below 1 is reported as 1.
 */
import type { Change } from '../state/types.js';
import type { QueryOptions, RequestContext } from './context.js';
import { NO_LEADER, RequestAborted, RpcError } from './errors.js';

/** structs.JitterFraction. */
export const JITTER_FRACTION = 16;

export interface Snapshot<T> {
  readonly index: number;
  readonly value: T;
  /** Which committed changes could alter this result (memdb watch set). */
  readonly watch: (change: Change) => boolean;
}

/** RPCQueryTimeout: the wait, clamped, plus jitter. */
export function queryTimeoutMs(waitMs: number, defaultMs: number, maxMs: number, random = Math.random): number {
  let t = waitMs;
  if (t > maxMs) t = maxMs;
  else if (t <= 0) t = defaultMs;
  return t + random() * (t / JITTER_FRACTION);
}

export async function blockingQuery<T>(ctx: RequestContext, opts: QueryOptions, run: () => Snapshot<T>): Promise<Snapshot<T>> {
  const normalize = (s: Snapshot<T>): Snapshot<T> => (s.index < 1 ? { ...s, index: 1 } : s);
  let result = normalize(run());
  if (opts.minIndex === 0 || result.index > opts.minIndex) return result;
  const { defaultQueryTimeMs, maxQueryTimeMs } = ctx.core.options;
  const deadline = Date.now() + queryTimeoutMs(opts.waitMs, defaultQueryTimeMs, maxQueryTimeMs);
  while (result.index <= opts.minIndex) {
    const woke = await waitForChange(ctx, result.watch, deadline - Date.now());
    // ?consistent re-verifies leadership before every read (ConsistentRead).
    if (opts.consistent && !ctx.core.isLeader) throw new RpcError(NO_LEADER);
    result = normalize(run());
    if (woke === 'timeout') break;
  }
  return result;
}

function waitForChange(ctx: RequestContext, watch: (c: Change) => boolean, ms: number): Promise<'change' | 'timeout'> {
  return waitForWake(ctx, ms, (wake) =>
    ctx.core.store.subscribe((changes) => {
      if (changes.some(watch)) wake();
    }),
  );
}

/**
 * The one wait of every blocking endpoint (Raft-backed, agent-local `?hash`, event list): resolves
 * 'change' when `subscribe`'s callback fires, 'timeout' after `ms` on the server's pausable clock
 * (a paused server cannot time out), and rejects with {@link RequestAborted} when the client goes
 * away. Whatever happens, the subscription, the timer and the abort listener are removed.
 */
export function waitForWake(
  ctx: RequestContext,
  ms: number,
  subscribe: (wake: () => void) => () => void,
): Promise<'change' | 'timeout'> {
  return new Promise((resolve, reject) => {
    if (ctx.signal.aborted) {
      reject(new RequestAborted());
      return;
    }
    const finish = (): void => {
      unsubscribe();
      timer.cancel();
      ctx.signal.removeEventListener('abort', onAbort);
    };
    const unsubscribe = subscribe(() => {
      finish();
      resolve('change');
    });
    const timer = ctx.core.timers.after(ms, () => {
      finish();
      resolve('timeout');
    });
    const onAbort = (): void => {
      finish();
      reject(new RequestAborted());
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
}
