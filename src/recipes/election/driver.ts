/**
 * The election algorithm as a {@link HoldDriver} of the shared hold engine (the one Lock and
 * Semaphore use): the engine owns sessions, timeouts, aborts, the monitor and the deadline rule;
 * this file only decides how a term is started, proven and ended on the leader key.
 *
 * Campaign loop (one session):
 * 1. Read the key with the blocking-query loop. Held by another session → keep blocking until it
 *    changes (followers never poll). Absent, or present without a session → step 2. Ours → a
 *    create whose answer was lost did land: that is our term.
 * 2. One transaction: `check-not-exists` (or `delete-cas` of the leftover) + `lock` with our
 *    session. Its answer carries the created entry: CreateIndex is the fencing token, ModifyIndex
 *    where the monitor starts blocking.
 * 3. Refused for lock-delay (the previous leader's session was invalidated, not resigned) → wait
 *    a growing delay capped at `retryTime`, read again, retry: the key stays absent, so there is
 *    nothing to block on. Refused because the key changed → read again. Our session is gone →
 *    tell the engine, which starts over with a new session.
 */
import { SessionLostError, abortReason } from '../../errors.js';
import { sleep } from '../../internal/abort.js';
import { backoffDelay } from '../../loop/backoff.js';
import { blockingQuery, type BlockingRead } from '../../loop/blocking-query.js';
import type { Session } from '../../session/session.js';
import { isTransient } from '../../transport/client.js';
import type { ConsulApi, KVPair } from '../../transport/index.js';
import type { AcquireAttempt, Grant, HoldDriver } from '../hold/contender.js';
import { consistentKeyRead } from '../lock/lock-key.js';
import {
  campaignOps,
  classifyRefusal,
  lockedEntry,
  observeLeaderKey,
  resignOps,
  termLossReason,
  type KeyObservation,
} from './leader-key.js';

/** First delay of the lock-delay retry backoff: a small multiple of a local round trip. */
const RETRY_MIN_MS = 50;

export interface ElectionDriverOptions {
  /** Blocking wait of the follower's reads. */
  readonly waitMs: number;
  /** Cap of the delay between campaigns refused by lock-delay. */
  readonly retryTimeMs: number;
}

/** @internal The election algorithm over one key. */
export class ElectionDriver implements HoldDriver<KVPair | null> {
  /** The value the next term starts with; `proclaim()` updates it. */
  value: Buffer | null;

  constructor(
    readonly api: ConsulApi,
    readonly key: string,
    value: Buffer | null,
    readonly options: ElectionDriverOptions,
  ) {
    this.value = value;
    this.monitorRead = consistentKeyRead(api, key);
  }

  readonly monitorRead: BlockingRead<KVPair | null>;

  lossReason(pair: KVPair | null, sessionId: string): string | undefined {
    return termLossReason(pair, sessionId);
  }

  begin(session: Session): AcquireAttempt {
    return new CampaignAttempt(this, session.id);
  }

  /**
   * Ends the term by deleting the key if it is still ours. A refusal means it is not ours any
   * more (deleted, or taken after our session died): nothing to give back.
   */
  async release(session: Session): Promise<void> {
    await this.api.txn(resignOps(this.key, session.id));
  }
}

type WriteOutcome =
  | { readonly kind: 'elected'; readonly grant: Grant }
  | { readonly kind: 'lock-delay' }
  | { readonly kind: 'conflict' }
  /** A transient failure: the transaction may or may not have landed; the next read tells. */
  | { readonly kind: 'unknown' };

class CampaignAttempt implements AcquireAttempt {
  /** A campaign transaction was sent: abandon() must check whether it landed. */
  private wrote = false;

  constructor(
    private readonly d: ElectionDriver,
    private readonly sessionId: string,
  ) {}

  async acquire(signal: AbortSignal, onWaiting: () => void): Promise<Grant> {
    // Campaigns refused by lock-delay in a row; reset when another leader is seen.
    let refusals = 0;
    for (;;) {
      const seen = await this.waitForChance(signal, () => {
        refusals = 0;
        onWaiting();
      });
      if (seen.kind === 'ours') return grantOf(seen.pair);
      if (refusals > 0) await sleep(backoffDelay(refusals, { minMs: RETRY_MIN_MS, maxMs: this.d.options.retryTimeMs }), signal);
      const outcome = await this.write(seen, signal);
      if (outcome.kind === 'elected') return outcome.grant;
      if (outcome.kind === 'lock-delay') {
        refusals += 1;
        // Waiting for somebody else's lock-delay is waiting too (debug event, once per campaign).
        onWaiting();
      }
    }
  }

  async tryOnce(signal: AbortSignal): Promise<Grant | null> {
    const { pair } = await this.d.api.kv.get(this.d.key, { signal });
    const seen = observeLeaderKey(pair, this.sessionId);
    if (seen.kind === 'held') return null;
    if (seen.kind === 'ours') return grantOf(seen.pair);
    const outcome = await this.write(seen, signal);
    if (outcome.kind === 'elected') return outcome.grant;
    if (outcome.kind !== 'unknown') return null;
    const again = await this.d.api.kv.get(this.d.key, { consistent: true, signal });
    return again.pair?.session === this.sessionId ? grantOf(again.pair) : null;
  }

  async abandon(): Promise<void> {
    if (!this.wrote) return;
    // A transaction whose answer we never saw (or a term we then refused) may hold the key:
    // delete it before the engine destroys the session, which would set lock-delay on it.
    await this.d.api.txn(resignOps(this.d.key, this.sessionId));
  }

  /** Blocks until the key is absent, a leftover, or ours; `onHeld` runs each time another leader is seen. */
  private async waitForChance(signal: AbortSignal, onHeld: () => void): Promise<Exclude<KeyObservation, { kind: 'held' }>> {
    const snapshots = blockingQuery<KVPair | null>(
      async ({ index, waitMs, signal: s }) => {
        const { pair, meta } = await this.d.api.kv.get(this.d.key, { index, waitMs, signal: s });
        return { value: pair, meta };
      },
      // A permanent error (403, bad key) fails the campaign instead of retrying forever.
      { signal, waitMs: this.d.options.waitMs, isFatal: (err) => !isTransient(err) },
    );
    for await (const { value } of snapshots) {
      const seen = observeLeaderKey(value, this.sessionId);
      if (seen.kind !== 'held') return seen;
      onHeld();
    }
    throw abortReason(signal);
  }

  private async write(seen: KeyObservation, signal: AbortSignal): Promise<WriteOutcome> {
    this.wrote = true;
    let result: Awaited<ReturnType<ConsulApi['txn']>>;
    try {
      result = await this.d.api.txn(campaignOps(this.d.key, this.d.value, this.sessionId, seen), signal);
    } catch (err) {
      if (signal.aborted || !isTransient(err)) throw err;
      return { kind: 'unknown' };
    }
    if (result.ok) {
      const entry = lockedEntry(result, this.d.key);
      return entry ? { kind: 'elected', grant: grantOf(entry) } : { kind: 'unknown' };
    }
    const refusal = classifyRefusal(result);
    if (refusal === 'session-gone') {
      // The engine recognises this and starts over with a new session (ours expired while we
      // waited, e.g. during a partition).
      throw new SessionLostError(this.sessionId, result.errors.map((e) => e.what).join('; '));
    }
    return { kind: refusal };
  }
}


/** The term an entry proves: its creation is the fencing token; the monitor blocks from its last write. */
function grantOf(pair: KVPair): Grant {
  return { fencingToken: pair.createIndex, index: BigInt(pair.modifyIndex) };
}
