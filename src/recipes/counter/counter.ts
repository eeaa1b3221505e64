/**
 * Counter: a shared integer in one KV key, changed only by check-and-set, so concurrent adders in
 * any number of processes never lose an update (etcd's `recipe.RemoteCounter`, Curator's
 * `DistributedAtomicLong`, on Consul).
 *
 * Algorithm: read the key (its decimal text and ModifyIndex; a missing key is 0), then write the
 * sum with check-and-set on that ModifyIndex (0: create only if absent), through `/v1/txn`. A refused CAS means somebody
 * else wrote first: read again and retry, after a short jittered pause once races repeat. A
 * Counter remembers the value and index of its own last write, so an uncontended `add` from one
 * process is a single request.
 *
 * The value is plain decimal text (`consul kv get` shows it; any tool that writes decimal text by
 * CAS can share the key), read and returned as `bigint`, so it never loses precision above 2^53.
 *
 * A CAS whose answer was lost may or may not have been applied. The transport repeats it only
 * when the failure proves it was not; otherwise we read the key back: unchanged since our read
 * proves it was not applied and we retry, changed means we cannot tell, and `add` rejects with
 * the transport's `ConsulError` rather than risk adding twice.
 */
import type { RecipeHost } from '../context.js';
import { ConfigError, CounterContentionError, DecodeError } from '../../errors.js';
import { optionalSignal, sleep } from '../../internal/abort.js';
import { describe } from '../../internal/duration.js';
import { validateKey } from '../../internal/keys.js';
import { checkOptions } from '../../internal/options.js';
import { KeyedRecipe, type KeyedRecipeState } from '../keyed-recipe.js';
import { backoffDelay } from '../../loop/backoff.js';
import { isTransient } from '../../transport/client.js';

/** Defaults, each with its reason. */
export const COUNTER_DEFAULTS = Object.freeze({
  /**
   * CAS races tolerated by one `add` before it gives up with `CounterContentionError`: each lost
   * race means another adder succeeded, so the counter as a whole makes progress; a cap keeps one
   * caller from looping forever behind a writer that never stops.
   */
  maxRetries: 100,
});

/** Spacing of retries once races repeat: jittered, so adders in lockstep drift apart. */
const RACE_BACKOFF = Object.freeze({ minMs: 2, maxMs: 250 });

/** Options of `coord.counter(key, options)`. */
export interface CounterOptions {
  /** CAS races one `add` tolerates before rejecting with `CounterContentionError`. @default 100 */
  maxRetries?: number;
}

/** Per-call options of `get` and `add`. */
export interface CounterCallOptions {
  /** Cancels the call; it rejects with the signal's reason. */
  signal?: AbortSignal;
}

export type CounterState = KeyedRecipeState;

/** Events of a {@link Counter}. */
export interface CounterEvents {
  /** An `add` of this instance was applied: the new value and the delta. */
  added: [value: bigint, delta: bigint];
  /** An `add` lost a CAS race and retries (debug aid: how contended the key is). */
  raced: [attempt: number];
}

/** The value of a counter key: decimal text; a missing key is 0. */
export function decodeCounter(key: string, value: Buffer | null): bigint {
  const text = value?.toString('utf8').trim() ?? '';
  if (text === '') return 0n;
  if (!/^-?\d+$/.test(text)) throw new DecodeError(key, `a counter holds decimal text, got ${JSON.stringify(text.slice(0, 40))}`);
  return BigInt(text);
}

/** A shared integer at `key`. */
export class Counter extends KeyedRecipe<CounterEvents> {
  private readonly maxRetries: number;
  /** Value and ModifyIndex after this instance's last read or write: the next CAS starts from it. */
  private last: { value: bigint; index: number } | undefined;

  constructor(host: RecipeHost, key: string, options: CounterOptions = {}) {
    validateKey('key', key, { allowTrailingSlash: false });
    checkOptions(options, ['maxRetries'], 'counter()');
    const maxRetries = options.maxRetries ?? COUNTER_DEFAULTS.maxRetries;
    if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
      throw new ConfigError(`option "maxRetries" must be a non-negative integer, got ${describe(maxRetries)}`, 'maxRetries');
    }
    super(host, key, `counter "${key}"`);
    this.maxRetries = maxRetries;
  }

  /** The current value (0n when the key does not exist), from a consistent read. */
  get(options?: CounterCallOptions): Promise<bigint> {
    checkOptions(options, ['signal'], 'get()');
    const signal = optionalSignal(options?.signal);
    if (this.state !== 'open') return Promise.reject(this.closedError());
    return this.read(signal).then((r) => r.value);
  }

  /**
   * Adds `delta` (a bigint or a safe integer, may be negative) and resolves with the new value.
   * Safe under any number of concurrent adders: each applied add is counted exactly once.
   */
  add(delta: bigint | number, options?: CounterCallOptions): Promise<bigint> {
    checkOptions(options, ['signal'], 'add()');
    const signal = optionalSignal(options?.signal);
    if (typeof delta === 'number' ? !Number.isSafeInteger(delta) : typeof delta !== 'bigint') {
      throw new ConfigError(`delta must be a bigint or a safe integer, got ${describe(delta)}`, 'delta');
    }
    if (this.state !== 'open') return Promise.reject(this.closedError());
    return this.addLoop(BigInt(delta), signal);
  }

  private async addLoop(delta: bigint, signal: AbortSignal | undefined): Promise<bigint> {
    for (let race = 0; ; race += 1) {
      signal?.throwIfAborted();
      const seen = this.last ?? (await this.read(signal));
      const next = seen.value + delta;
      let applied: number | undefined;
      try {
        // Through /v1/txn rather than PUT ?cas: its answer carries the new ModifyIndex, so the
        // next add of this instance needs no read.
        const result = await this.ctx.api.txn([{ verb: 'cas', key: this.key, value: next.toString(), index: seen.index }], signal);
        applied = result.ok ? (result.results[0]?.modifyIndex ?? 0) : undefined;
      } catch (err) {
        this.last = undefined;
        if (signal?.aborted || !isTransient(err)) throw err;
        const now = await this.read(signal);
        if (now.index !== seen.index) throw err; // cannot tell whether ours landed: never add twice
        continue; // provably not applied
      }
      if (applied !== undefined) {
        // The next add starts from our write; if somebody wrote since, it costs one refused CAS.
        this.last = applied > 0 ? { value: next, index: applied } : undefined;
        this.emit('added', next, delta);
        return next;
      }
      this.last = undefined;
      if (race >= this.maxRetries) throw new CounterContentionError(this.key, race + 1);
      this.emit('raced', race + 1);
      if (race > 0) await sleep(backoffDelay(race, RACE_BACKOFF), signal);
    }
  }

  private async read(signal: AbortSignal | undefined): Promise<{ value: bigint; index: number }> {
    const { pair } = await this.ctx.api.kv.get(this.key, { consistent: true, signal });
    const seen = pair === null ? { value: 0n, index: 0 } : { value: decodeCounter(this.key, pair.value), index: pair.modifyIndex };
    this.last = seen;
    return seen;
  }

}
