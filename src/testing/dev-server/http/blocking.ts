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
import { TimeoutError } from '../../../errors.js';
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
    let unpark = (): void => {};
    const finish = (): void => {
      unpark();
      unsubscribe();
      timer.cancel();
      ctx.signal.removeEventListener('abort', onAbort);
    };
    const unsubscribe = subscribe(() => {
      finish();
      resolve('change');
    });
    // Parked from the moment a change can wake it: a write a test makes after seeing the count
    // is guaranteed to reach this query.
    unpark = parkedQueries(ctx.core).park(ctx.path);
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

/** Options of {@link ParkedQueries.waitFor}. */
export interface WaitForParkedOptions {
  /**
   * Which queries count: a group — the path segment after `/v1/` (`'kv'`, `'health'`,
   * `'catalog'`, `'session'`, `'agent'`, `'event'`) — or, when it starts with `/`, a prefix of the
   * decoded request path (`'/v1/kv/app/'`). @default every parked query
   */
  endpoint?: string;
  /** Resolve once at least this many matching queries are parked. @default 1 */
  count?: number;
  /** Give up with a TimeoutError after this many ms. @default 10000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The blocking queries parked right now: each one is inside {@link waitForWake}, subscribed to
 * the changes that would wake it. Tests synchronise on this instead of sleeping ("the watcher's
 * read is parked, now write").
 */
export class ParkedQueries {
  private readonly paths = new Map<number, string>();
  private readonly listeners = new Set<() => void>();
  private next = 0;

  /** Records one parked query; the returned function unparks it (idempotent). */
  park(path: string): () => void {
    const id = this.next++;
    this.paths.set(id, path);
    this.notify();
    return () => {
      if (this.paths.delete(id)) this.notify();
    };
  }

  /** How many queries matching `endpoint` (see {@link WaitForParkedOptions.endpoint}) are parked. */
  count(endpoint?: string): number {
    if (endpoint === undefined) return this.paths.size;
    let n = 0;
    for (const path of this.paths.values()) if (matchesEndpoint(path, endpoint)) n += 1;
    return n;
  }

  /** Resolves with the count once at least `count` matching queries are parked. */
  waitFor(options: WaitForParkedOptions = {}): Promise<number> {
    const { endpoint, count = 1, timeoutMs = 10_000, signal } = options;
    return new Promise<number>((resolve, reject) => {
      const check = (): boolean => {
        const n = this.count(endpoint);
        if (n < count) return false;
        cleanup();
        resolve(n);
        return true;
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason);
      };
      const cleanup = (): void => {
        this.listeners.delete(listener);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`${count} parked ${endpoint ?? 'blocking'} quer${count === 1 ? 'y' : 'ies'} (${this.count(endpoint)} parked)`, timeoutMs));
      }, timeoutMs);
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.listeners.add(listener);
      check();
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

function matchesEndpoint(path: string, endpoint: string): boolean {
  if (endpoint.startsWith('/')) return path.startsWith(endpoint);
  return path.startsWith(`/v1/${endpoint}/`) || path === `/v1/${endpoint}`;
}

const registries = new WeakMap<object, ParkedQueries>();

/** The parked-query registry of one server core (created on first use). */
export function parkedQueries(core: object): ParkedQueries {
  let registry = registries.get(core);
  if (!registry) {
    registry = new ParkedQueries();
    registries.set(core, registry);
  }
  return registry;
}
