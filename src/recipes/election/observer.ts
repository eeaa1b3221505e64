/**
 * ElectionObserver: who leads, read from the leader key with blocking queries and no session (as
 * etcd3 keeps `ElectionObserver` apart from `Campaign`). LeaderElection uses it for `leader()`,
 * `observe()` and its `leader` events; it holds no state of the campaign.
 */
import { DecodeError, abortReason } from '../../errors.js';
import { linkSignals } from '../../internal/abort.js';
import { blockingQuery } from '../../loop/blocking-query.js';
import { isTransient } from '../../transport/client.js';
import type { KVPair } from '../../transport/index.js';
import type { Decoder } from '../config/config-snapshot.js';
import type { RecipeContext } from '../context.js';
import { keyRead } from '../hold/key-contention.js';
import { leaderChanges, leaderRecord, type LeaderRecord } from './leader-key.js';

/** The leader as anybody can read it from the key. */
export interface LeaderInfo<T = unknown> {
  /** The advertised value, decoded (undefined when it failed to decode; an `error` event says why). */
  readonly value: T | undefined;
  /** The leader's session. */
  readonly sessionId: string;
  /** The term's fencing token (the key's CreateIndex). */
  readonly fencingToken: number;
}

export class ElectionObserver<T = unknown> {
  /**
   * @param onError where a value that does not decode is reported (`DecodeError`); the leader
   * is still returned, with `value: undefined`
   */
  constructor(
    private readonly ctx: RecipeContext,
    readonly key: string,
    private readonly decode: Decoder<T>,
    private readonly waitMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** One read of the key: the current leader, or null. */
  async leader(signal?: AbortSignal): Promise<LeaderInfo<T> | null> {
    const { pair } = await this.ctx.api.kv.get(this.key, { signal });
    return this.toInfo(leaderRecord(pair));
  }

  /**
   * Leader changes, first the current leader (or null). Ends when `stop` aborts; rejects with the
   * reason of `signal` when it aborts, or with a `ConsulError` that retrying cannot fix.
   */
  async *observe(signal: AbortSignal | undefined, stop: AbortSignal): AsyncGenerator<LeaderInfo<T> | null, void, undefined> {
    const linked = linkSignals([signal, stop]);
    try {
      const snapshots = blockingQuery<KVPair | null>(keyRead(this.ctx.api, this.key), {
        signal: linked.signal,
        waitMs: this.waitMs,
        isFatal: (err) => !isTransient(err),
        onError: (err, failures) => this.ctx.logger.debug({ key: this.key, failures, err: String(err) }, 'election observer read failed'),
      });
      let previous: LeaderRecord | null | undefined;
      for await (const { value } of snapshots) {
        const next = leaderRecord(value);
        for (const change of leaderChanges(previous, next)) yield this.toInfo(change);
        previous = next;
      }
      if (signal?.aborted) throw abortReason(signal);
    } finally {
      linked.dispose();
    }
  }

  private toInfo(record: LeaderRecord | null): LeaderInfo<T> | null {
    if (record === null) return null;
    let value: T | undefined;
    try {
      value = this.decode(record.raw ?? Buffer.alloc(0), this.key);
    } catch (err) {
      this.onError(new DecodeError(this.key, `the leader's value: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
    return Object.freeze({ value, sessionId: record.sessionId, fencingToken: record.fencingToken });
  }
}
