/**
 * The election algorithm as a {@link HoldDriver} of the shared hold engine (the one Lock and
 * Semaphore use): the engine owns sessions, timeouts, aborts, the monitor and the deadline rule;
 * this file only decides how a term is started, proven and ended on the leader key.
 *
 * Campaign loop (one session):
 * 1. First, without reading, guess the key is absent and go to step 2 (on a free key the term
 *    starts in one request; a wrong guess costs one refused transaction). Then read the key with
 *    the blocking-query loop. Held by another session → keep blocking until it changes
 *    (followers never poll). Absent, or present without a session → step 2. Ours → a create
 *    whose answer was lost did land: that is our term.
 * 2. One transaction: `check-not-exists` (or `delete-cas` of the leftover) + `lock` with our
 *    session. Its answer carries the created entry: CreateIndex is the fencing token, ModifyIndex
 *    where the monitor starts blocking.
 * 3. Refused for lock-delay (the previous leader's session was invalidated, not resigned) → wait
 *    a growing delay capped at `retryTime`, read again, retry: the key stays absent, so there is
 *    nothing to block on. Refused because the key changed → read again. Our session is gone →
 *    tell the engine, which starts over with a new session.
 */
import type { Session } from '../../session/session.js';
import type { ConsulApi, KVPair } from '../../transport/index.js';
import type { AcquireAttempt, Grant } from '../hold/contender.js';
import { KeyContentionAttempt, SingleKeyDriver, writeOutcome, type KnownKey, type WriteOutcome } from '../hold/key-contention.js';
import {
  campaignOps,
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
export class ElectionDriver extends SingleKeyDriver {
  /** The value the next term starts with; `proclaim()` updates it. */
  value: Buffer | null;

  constructor(api: ConsulApi, key: string, value: Buffer | null, options: ElectionDriverOptions) {
    super(api, key, options);
    this.value = value;
  }

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

class CampaignAttempt extends KeyContentionAttempt<KeyObservation> {
  constructor(private readonly d: ElectionDriver, sessionId: string) {
    // Waiting for somebody else's lock-delay is waiting too (debug event, once per campaign).
    super(d, sessionId, { retryMinMs: RETRY_MIN_MS, lockDelayIsWaiting: true });
  }

  async abandon(): Promise<void> {
    if (!this.wrote) return;
    // A transaction whose answer we never saw (or a term we then refused) may hold the key:
    // delete it before the engine destroys the session, which would set lock-delay on it.
    await this.api.txn(resignOps(this.key, this.sessionId));
  }

  protected observe(pair: KVPair | null): KeyObservation {
    return observeLeaderKey(pair, this.sessionId);
  }

  /** A create whose answer was lost did land: that is our term. */
  protected async claim(seen: KeyObservation): Promise<Grant | null> {
    return seen.kind === 'ours' ? grantOf(seen.pair) : null;
  }

  /**
   * A campaign starts with its transaction, not a read: it creates the key only if absent, so
   * guessing "absent" is safe, and on a free key the term starts in one request. A wrong guess
   * costs one refused transaction, then the loop reads and waits as usual.
   */
  protected override firstGuess(): KnownKey {
    return { pair: null, index: 0n };
  }

  protected async write(seen: KeyObservation, signal: AbortSignal): Promise<WriteOutcome> {
    // The term is the key's creation: its CreateIndex is the token (see leader-key.ts).
    return writeOutcome(this, campaignOps(this.key, this.d.value, this.sessionId, seen), signal, grantOf);
  }

  protected async confirm(signal: AbortSignal): Promise<Grant | null> {
    const { pair } = await this.api.kv.get(this.key, { consistent: true, signal });
    return pair?.session === this.sessionId ? grantOf(pair) : null;
  }
}

/** The term an entry proves: its creation is the fencing token; the monitor blocks from its last write. */
function grantOf(pair: KVPair): Grant {
  return { fencingToken: pair.createIndex, index: BigInt(pair.modifyIndex) };
}
