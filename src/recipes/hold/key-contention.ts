/**
 * The acquire loop of every single-key hold (Lock, LeaderElection), written once. Consul's
 * `api/lock.go` algorithm, shared by both:
 *
 * 1. Block on the key (the one blocking-query loop) while another session holds it: no polling.
 * 2. Free (for the recipe) → one acquiring transaction. Refused for lock-delay (Consul refuses
 *    acquires for `lockDelay` after a holder's session was invalidated): wait a growing delay
 *    capped at `retryTime`, read again, retry. Refused because the key changed since our read →
 *    read again at once. Seeing another holder resets that backoff. A write whose answer was lost
 *    (a transient error) is settled by the next read: the key then carries our session, or not.
 * 3. Taken → the transaction's answer carries the entry as written: its index is the grant
 *    (fencing token, monitor start index), so no read follows the write.
 *
 * A recipe supplies what differs: what a read of the key means (`observe`), how a write is made
 * (`write`: the acquiring transaction for a lock, a create-or-replace transaction for an
 * election), how a key
 * found ours becomes a grant (`claim`), and how to undo a write on abandon.
 */
import { SessionLostError, abortReason } from '../../errors.js';
import { sleep } from '../../internal/abort.js';
import { backoffDelay } from '../../loop/backoff.js';
import { blockingQuery, type BlockingRead } from '../../loop/blocking-query.js';
import { isTransient, type QueryMeta } from '../../transport/client.js';
import type { ConsulApi, KVPair, TxnKVOp, TxnResult } from '../../transport/index.js';
import { classifyRefusal, heldAtIndex, lockedEntry } from './txn-outcome.js';
import type { Session } from '../../session/session.js';
import type { AcquireAttempt, Grant, HoldDriver } from './contender.js';

/** A KV read's answer as the blocking-query loop wants it. */
function pairValue({ pair, meta }: { pair: KVPair | null; meta: QueryMeta }): { value: KVPair | null; meta: QueryMeta } {
  return { value: pair, meta };
}

/**
 * A blocking read of one key, as the blocking-query loop wants it. Not an async function: a
 * parked read (a monitor holds one for as long as it holds the lock) then keeps no suspended
 * frame of its own, only the promise chain.
 */
export function keyRead(api: ConsulApi, key: string, options: { consistent?: boolean } = {}): BlockingRead<KVPair | null> {
  const consistent = options.consistent === true;
  return ({ index, waitMs, signal }) => api.kv.get(key, { index, waitMs, signal, ...(consistent ? { consistent } : {}) }).then(pairValue);
}

/**
 * The monitor read of a single-key hold (lock, election term): a consistent blocking read, as
 * Go's monitor does, so a stale follower can never tell a holder it still holds.
 */
export function consistentKeyRead(api: ConsulApi, key: string): BlockingRead<KVPair | null> {
  return keyRead(api, key, { consistent: true });
}

/** The half of a single-key recipe (Lock, LeaderElection) the hold engine drives. */
export abstract class SingleKeyDriver implements HoldDriver<KVPair | null> {
  /** The monitor's consistent blocking read of the key. */
  readonly monitorRead: BlockingRead<KVPair | null>;

  constructor(
    readonly api: ConsulApi,
    readonly key: string,
    readonly options: { readonly waitMs: number; readonly retryTimeMs: number },
  ) {
    this.monitorRead = consistentKeyRead(api, key);
  }

  /** Why the hold is gone according to `pair`, or undefined while it is ours. */
  abstract lossReason(pair: KVPair | null, sessionId: string): string | undefined;
  abstract begin(session: Session): AcquireAttempt;
  /** Gives the hold back. Must not need a signal: it runs during close and after aborts. */
  abstract release(session: Session): Promise<void>;
}

/** What a read of the key means to a contender. `held`: another session has it. */
export interface KeySeen {
  readonly kind: string;
  readonly holder?: string;
}

/** What one acquiring write told us. */
export type WriteOutcome =
  | { readonly kind: 'held'; readonly grant: Grant }
  /** Refused while the key looked free: lock-delay. */
  | { readonly kind: 'refused' }
  /**
   * Refused because the key changed under us: read again, no backoff — or, when the answer
   * proves another session holds it at `heldAt`, block from there without reading.
   */
  | { readonly kind: 'conflict'; readonly heldAt?: bigint | undefined }
  /** A transient failure: the write may or may not have landed; the next read tells. */
  | { readonly kind: 'unknown' };

/** What differs between the recipes' loops (the driver carries `waitMs` and the backoff cap `retryTimeMs`). */
export interface KeyContentionOptions {
  /** First delay of the lock-delay backoff. */
  readonly retryMinMs: number;
  /** Whether waiting out somebody else's lock-delay counts as `waiting` (the election's view). */
  readonly lockDelayIsWaiting: boolean;
}

/** One attempt of one session on one key. */
export abstract class KeyContentionAttempt<S extends KeySeen> implements AcquireAttempt {
  /** An acquiring write was sent and may have landed: abandon() must check whether it did. */
  wrote = false;
  /** The last write was refused while the key looked free: the previous holder's lock-delay is in force. */
  lockDelayInForce = false;
  /** The holder last seen on the key, when another session held it. */
  lastHolder: string | undefined;
  /** The key is held by a session a refused write proved but no read has shown yet. */
  holderUnseen = false;

  readonly api: ConsulApi;
  readonly key: string;
  private readonly options: KeyContentionOptions & { readonly waitMs: number; readonly retryTimeMs: number };

  constructor(
    driver: SingleKeyDriver,
    readonly sessionId: string,
    options: KeyContentionOptions,
  ) {
    this.api = driver.api;
    this.key = driver.key;
    this.options = { ...options, waitMs: driver.options.waitMs, retryTimeMs: driver.options.retryTimeMs };
  }

  /** What `pair` means for us; throws when the key is not this recipe's (a conflict error). */
  protected abstract observe(pair: KVPair | null): S;
  /** A key found ours becomes a grant (null when it turns out not to be). */
  protected abstract claim(seen: S & { kind: 'ours' }, signal: AbortSignal): Promise<Grant | null>;
  /** One acquiring write given what was seen. */
  protected abstract write(seen: S, signal: AbortSignal): Promise<WriteOutcome>;
  /** A consistent read settling a write whose answer was lost: the grant if the key is ours. */
  protected abstract confirm(signal: AbortSignal): Promise<Grant | null>;
  abstract abandon(): Promise<void>;

  async acquire(signal: AbortSignal, onWaiting: () => void): Promise<Grant> {
    return this.contend(signal, onWaiting, this.firstGuess());
  }

  /**
   * What to act on before any read, or undefined to read first. The election guesses "absent"
   * (its write refuses a key that exists, so a wrong guess costs one refused transaction); a lock
   * reads first, because its key usually exists between holds and must be checked for flags.
   */
  protected firstGuess(): KnownKey | undefined {
    return undefined;
  }

  /**
   * The loop, starting from `known` when a reply already told us the key (a guess, or a read
   * made by a fair waiter): acted on without reading it again; when held, the first blocking
   * read waits from its index.
   */
  protected async contend(signal: AbortSignal, onWaiting: () => void, known: KnownKey | undefined): Promise<Grant> {
    // Writes refused by lock-delay in a row; reset when another holder is seen.
    let refusals = 0;
    let start: KnownKey | HeldSince | undefined = known;
    for (;;) {
      const seen = await this.waitForChance(signal, start, () => {
        refusals = 0;
        this.lockDelayInForce = false;
        onWaiting();
      });
      start = undefined;
      if (isOurs(seen)) {
        const grant = await this.claim(seen, signal);
        if (grant) return grant;
        continue;
      }
      if (refusals > 0) {
        await sleep(backoffDelay(refusals, { minMs: this.options.retryMinMs, maxMs: this.options.retryTimeMs }), signal);
      }
      const outcome = await this.write(seen, signal);
      if (outcome.kind === 'held') return outcome.grant;
      if (outcome.kind === 'refused') {
        refusals += 1;
        this.lockDelayInForce = true;
        if (this.options.lockDelayIsWaiting) onWaiting();
      }
      // Another session took it first, and the refusal says at which index: block from there.
      if (outcome.kind === 'conflict' && outcome.heldAt !== undefined) start = { heldSince: outcome.heldAt };
    }
  }

  /** One look (a read, or `known` when a reply already showed the key) and at most one write. */
  async tryOnce(signal: AbortSignal, known?: KnownKey): Promise<Grant | null> {
    const pair = known ? known.pair : (await this.api.kv.get(this.key, { signal })).pair;
    const seen = this.observe(pair);
    if (isHeld(seen)) {
      this.lastHolder = seen.holder;
      return null;
    }
    if (isOurs(seen)) return this.claim(seen, signal);
    const outcome = await this.write(seen, signal);
    if (outcome.kind === 'held') return outcome.grant;
    if (outcome.kind === 'refused') this.lockDelayInForce = true;
    if (outcome.kind === 'unknown') return this.confirm(signal);
    return null;
  }

  /**
   * Blocks until the key is not held by another session; `onHeld` runs each time it is. A
   * `known` snapshot is used as the first look instead of a read.
   */
  private async waitForChance(signal: AbortSignal, known: KnownKey | HeldSince | undefined, onHeld: () => void): Promise<S> {
    let initialIndex: bigint | undefined;
    if (known && 'heldSince' in known) {
      // Held by a session we have not seen: who it is shows at the next change (a timeout error
      // reads the key to name it).
      this.lastHolder = undefined;
      this.holderUnseen = true;
      onHeld();
      initialIndex = known.heldSince;
    } else if (known) {
      const free = this.lookAt(known.pair, onHeld);
      if (free) return free;
      initialIndex = known.index;
    }
    const snapshots = blockingQuery<KVPair | null>(keyRead(this.api, this.key), {
      signal,
      waitMs: this.options.waitMs,
      ...(initialIndex !== undefined && initialIndex > 0n ? { initialIndex } : {}),
      // A permanent error (403, bad key) fails the acquire instead of retrying forever.
      isFatal: (err) => !isTransient(err),
    });
    for await (const { value } of snapshots) {
      const free = this.lookAt(value, onHeld);
      if (free) return free;
    }
    throw abortReason(signal);
  }

  /** What one look at the key shows: the observation when it is not held, else undefined (and `onHeld` runs). */
  private lookAt(pair: KVPair | null, onHeld: () => void): S | undefined {
    const seen = this.observe(pair);
    this.holderUnseen = false;
    if (!isHeld(seen)) {
      this.lastHolder = undefined;
      return seen;
    }
    this.lastHolder = seen.holder;
    onHeld();
    return undefined;
  }
}

/** The key is held by another session since `heldSince` (a refused write said so); who, is unknown. */
interface HeldSince {
  readonly heldSince: bigint;
}

/** The key as a reply showed it (`pair` null: absent) and the index a blocking read waits from. */
export interface KnownKey {
  readonly pair: KVPair | null;
  readonly index: bigint;
}

/** The grant a transaction that took `key` proves: its entry's ModifyIndex is the fencing token and where the monitor blocks from. */
export function grantFromWrite(entry: KVPair): Grant {
  return { fencingToken: entry.modifyIndex, index: BigInt(entry.modifyIndex) };
}

function isHeld<S extends KeySeen>(seen: S): seen is S & { kind: 'held'; holder: string } {
  return seen.kind === 'held';
}

function isOurs<S extends KeySeen>(seen: S): seen is S & { kind: 'ours' } {
  return seen.kind === 'ours';
}

/**
 * Sends an acquiring transaction for `attempt` and says what it did: taken (the grant from the
 * entry in the answer), refused for lock-delay, refused because the key changed, or unknown (the
 * answer was lost; the next read settles it). A transaction refused because our session is gone
 * throws {@link SessionLostError}, which the engine answers by starting over with a new session.
 */
export async function writeOutcome(
  attempt: { readonly api: ConsulApi; readonly key: string; readonly sessionId: string; wrote: boolean },
  ops: TxnKVOp[],
  signal: AbortSignal,
  grantOf: (entry: KVPair, result: TxnResult) => Grant = grantFromWrite,
): Promise<WriteOutcome> {
  const before = attempt.wrote;
  attempt.wrote = true;
  let result: Awaited<ReturnType<ConsulApi['txn']>>;
  try {
    result = await attempt.api.txn(ops, signal);
  } catch (err) {
    if (signal.aborted || !isTransient(err)) throw err;
    // The write may have landed (the transport retries it only when it provably did not).
    return { kind: 'unknown' };
  }
  if (result.ok) {
    const entry = lockedEntry(result, attempt.key);
    return entry ? { kind: 'held', grant: grantOf(entry, result) } : { kind: 'unknown' };
  }
  // A refused transaction changed nothing: no need to check on abandon because of it.
  attempt.wrote = before;
  const refusal = classifyRefusal(result);
  if (refusal === 'session-gone') throw new SessionLostError(attempt.sessionId, result.errors.map((e) => e.what).join('; '));
  if (refusal === 'lock-delay') return { kind: 'refused' };
  return { kind: 'conflict', heldAt: heldAtIndex(result, attempt.key) };
}

/** Spacing of the retries of {@link retryTransient}. */
const TRANSIENT_RETRY_BACKOFF = Object.freeze({ minMs: 100, maxMs: 2_000 });

/**
 * Runs `step` until it succeeds, waiting a growing delay after each transient failure (the
 * transport has already retried it), so a waiter rides out an outage instead of failing its
 * acquire; a permanent error or an abort ends it. For steps that may be repeated: reads, and
 * writes whose repetition changes nothing (re-locking our own queue entry).
 */
export async function retryTransient<T>(step: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await step();
    } catch (err) {
      if (signal.aborted || !isTransient(err)) throw err;
      await sleep(backoffDelay(failures, TRANSIENT_RETRY_BACKOFF), signal);
    }
  }
}
