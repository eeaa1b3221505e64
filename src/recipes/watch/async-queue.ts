/**
 * A push-to-pull bridge: watchers push values, a `for await` loop pulls them. Pure (no timers, no
 * I/O), so its rules are tested without a server.
 *
 * - `'all'` keeps every pushed value in order (events: none may be lost). Unbounded: a consumer
 *   that never pulls keeps what was pushed in memory.
 * - `'latest'` keeps only the newest unpulled value (state: a slow consumer skips intermediate
 *   snapshots but every value it sees was a real one).
 *
 * `end()` lets the consumer drain what is queued, then finishes. `fail(err)` drops what is queued
 * and makes the next pull reject with `err` (an abort), then finishes. `return()` (a `break` out
 * of the loop) drops the queue, finishes at once and calls `onReturn` so the owner can detach it.
 */

export type QueueMode = 'all' | 'latest';

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private readonly waiters: Array<{ resolve: (result: IteratorResult<T>) => void; reject: (err: unknown) => void }> = [];
  private ended = false;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly mode: QueueMode,
    private readonly onReturn?: () => void,
  ) {}

  /** True once `end()` or `return()` was called. */
  get done(): boolean {
    return this.ended;
  }

  /** Number of values waiting to be pulled. */
  get size(): number {
    return this.items.length;
  }

  push(value: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ value, done: false });
      return;
    }
    if (this.mode === 'latest') this.items = [value];
    else this.items.push(value);
  }

  /** No more values: queued ones are still delivered, then the iteration finishes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const waiter of this.waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
  }

  /** Ends with an error: queued values are dropped and the next pull rejects with `error`. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.items = [];
    const waiter = this.waiters.shift();
    if (waiter) waiter.reject(error);
    else this.failure = { error };
    this.end();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    const wasEnded = this.ended;
    this.items = [];
    this.failure = undefined;
    this.end();
    if (!wasEnded) this.onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
