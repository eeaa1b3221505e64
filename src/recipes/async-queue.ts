/**
 * A push-to-pull bridge: watchers push values, a `for await` loop pulls them. Pure (no timers, no
 * I/O), so its rules are tested without a server.
 *
 * - `'all'` keeps every pushed value in order (events: none may be lost). Unbounded: a consumer
 *   that never pulls keeps what was pushed in memory.
 * - `'latest'` keeps only the newest unpulled value (state: a slow consumer skips intermediate
 *   snapshots but every value it sees was a real one).
 *
 * `end()` lets the consumer drain what is queued, then finishes. `return()` (a `break` out of the
 * loop) drops the queue, finishes at once and calls `onReturn` so the owner can detach it.
 */

export type QueueMode = 'all' | 'latest';

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private readonly waiters: Array<(result: IteratorResult<T>) => void> = [];
  private ended = false;

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
      waiter({ value, done: false });
      return;
    }
    if (this.mode === 'latest') this.items = [value];
    else this.items.push(value);
  }

  /** No more values: queued ones are still delivered, then the iteration finishes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  return(): Promise<IteratorResult<T>> {
    const wasEnded = this.ended;
    this.items = [];
    this.end();
    if (!wasEnded) this.onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
