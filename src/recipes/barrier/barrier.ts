/**
 * Barrier: one KV key that holds processes back while it exists (Curator's `DistributedBarrier`).
 * `set()` writes the key, `remove()` deletes it, `wait()` resolves once it does not exist — at
 * once when it is not set, otherwise when a blocking read sees it deleted. Waiting costs one
 * parked request per waiter; nothing is held, so a waiter that dies leaves nothing behind.
 *
 * The barrier is a plain key: `consul kv put <key>` sets it and `consul kv delete <key>` lifts it.
 * A barrier that is set and removed again between two reads of a waiter is not seen by it only if
 * the waiter's read came after the removal, in which case it passes anyway: a waiter never misses
 * a removal, it may miss a short set.
 */
import type { RecipeHost } from '../context.js';
import { abortReason } from '../../errors.js';
import { toMs } from '../../internal/duration.js';
import { validateKey } from '../../internal/keys.js';
import { checkOptions } from '../../internal/options.js';
import { KeyedRecipe, type KeyedRecipeState } from '../keyed-recipe.js';
import { resolveWaitOptions, waitSignal, type WaitOptions } from '../../internal/wait.js';
import { blockingQuery } from '../../loop/blocking-query.js';
import { isTransient } from '../../transport/client.js';
import { keyRead } from '../hold/key-contention.js';
import { optionalSignal } from '../../internal/abort.js';

/** Defaults, each with its reason. */
export const BARRIER_DEFAULTS = Object.freeze({
  /** Blocking wait of each read while waiting. Cancelling never waits for it (requests are aborted). */
  waitTimeMs: 60_000,
});

/** Options of `coord.barrier(key, options)`. */
export interface BarrierOptions {
  /** Blocking wait per read while waiting. @default '1m' */
  waitTime?: string | number;
}

export type BarrierState = KeyedRecipeState;

/** Events of a {@link Barrier}. */
export interface BarrierEvents {
  /** A `wait()` found the barrier set and is now blocked on it (debug aid: once per wait). */
  waiting: [];
  /** A read failed while waiting; the wait retries with backoff. */
  error: [error: unknown];
}

/** A barrier at `key`. */
export class Barrier extends KeyedRecipe<BarrierEvents> {
  private readonly waitTimeMs: number;

  constructor(host: RecipeHost, key: string, options: BarrierOptions = {}) {
    validateKey('key', key, { allowTrailingSlash: false });
    checkOptions(options, ['waitTime'], 'barrier()');
    const waitTimeMs = options.waitTime === undefined ? BARRIER_DEFAULTS.waitTimeMs : toMs('waitTime', options.waitTime, { min: 1, max: 10 * 60_000 });
    super(host, key, `barrier "${key}"`);
    this.waitTimeMs = waitTimeMs;
  }

  /** Sets the barrier (writes the key); waiters block until `remove()`. Idempotent. */
  set(options?: Pick<WaitOptions, 'signal'>): Promise<void> {
    const signal = this.callSignal(options, 'set()');
    if (this.state !== 'open') return Promise.reject(this.closedError());
    return this.ctx.api.kv.put(this.key, null, { signal }).then(() => undefined);
  }

  /** Removes the barrier (deletes the key): every waiter passes. Idempotent. */
  remove(options?: Pick<WaitOptions, 'signal'>): Promise<void> {
    const signal = this.callSignal(options, 'remove()');
    if (this.state !== 'open') return Promise.reject(this.closedError());
    return this.ctx.api.kv.delete(this.key, { signal }).then(() => undefined);
  }

  /** Whether the barrier is set right now (one consistent read). */
  isSet(options?: Pick<WaitOptions, 'signal'>): Promise<boolean> {
    const signal = this.callSignal(options, 'isSet()');
    if (this.state !== 'open') return Promise.reject(this.closedError());
    return this.ctx.api.kv.get(this.key, { consistent: true, signal }).then(({ pair }) => pair !== null);
  }

  /**
   * Resolves once the barrier is not set. Rejects with `TimeoutError` after `timeout`, with the
   * signal's reason when `signal` aborts, with `ClosedError` when closed meanwhile.
   */
  wait(options?: WaitOptions): Promise<void> {
    const wait = resolveWaitOptions(options, 'wait()');
    if (this.state !== 'open') return Promise.reject(this.closedError());
    return this.waitLoop(waitSignal(wait, `barrier "${this.key}" to be removed`, this.closedSignal));
  }

  private async waitLoop(linked: { signal: AbortSignal; dispose: () => void }): Promise<void> {
    let reported = false;
    try {
      const reads = blockingQuery(keyRead(this.ctx.api, this.key), {
        signal: linked.signal,
        waitMs: this.waitTimeMs,
        isFatal: (err) => !isTransient(err),
        onError: (err) => this.emit('error', err),
      });
      for await (const { value } of reads) {
        if (value === null) return;
        if (!reported) {
          reported = true;
          this.emit('waiting');
        }
      }
      throw abortReason(linked.signal);
    } finally {
      linked.dispose();
    }
  }

  private callSignal(options: Pick<WaitOptions, 'signal'> | undefined, where: string): AbortSignal | undefined {
    checkOptions(options, ['signal'], where);
    return optionalSignal(options?.signal);
  }

}
