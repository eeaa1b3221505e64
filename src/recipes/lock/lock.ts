/**
 * Lock: a mutex on one Consul KV key, interoperable with Consul's Go `api.Lock` and the
 * `consul lock` command (same key, same flags `0x2ddccbc058a50c18`, same wait logic).
 *
 * Algorithm (hashicorp/consul `api/lock.go`, `Lock()` and `monitorLock()`):
 * 1. Read the key. Other flags → `LockConflictError` (the key is not a lock). Held by another
 *    session → block on the key (blocking query) until it changes. A Lock that released the key
 *    before skips this read: its release's answer showed the key (see `LockDriver.recall`), and
 *    step 2's `check-index` refuses the write if anybody touched the key since, after which the
 *    read happens as usual.
 * 2. Free → one transaction: `check-not-exists` (or `check-index` at the ModifyIndex we read) +
 *    `lock` with our session, the lock flags and our value — the state-store operation behind
 *    Go's `PUT ?acquire`. Refused for lock-delay (Consul refuses acquires for `lockDelay` after a
 *    holder's session was invalidated): wait a growing delay (capped at `retryTime`) instead of
 *    hot-looping, read again, retry. Refused because the key changed since our read (a faster
 *    contender): read again; if held, block on it.
 * 3. Acquired → the transaction's answer carries the entry as written: its ModifyIndex (the
 *    index of our acquiring write) is the fencing token, strictly increasing across successive
 *    holders. No read follows: the answer of a write that went through Raft already proves it.
 * 4. Held → monitor the key with consistent blocking reads; it is lost when the key is deleted,
 *    released or taken, or when the session is lost. The handle's `signal` aborts first, then
 *    `lost` fires.
 * 5. Release → an `unlock` transaction (the operation behind Go's `PUT ?release`), whose answer
 *    carries the key as it left it.
 *
 * Fair mode (`fair: true`): before step 1 a waiter joins a queue beside the key
 * (`<key>.fair/<session>`) and blocks only on the waiter just ahead of it; the first in line runs
 * steps 1–3; a holder leaves the queue in the transaction that unlocks the key, so a release wakes
 * one waiter (see `fair-queue.ts`). Go contenders do not queue and may take a free key first.
 *
 * Guarantee: with a session we created (or one with a TTL), the holder's signal aborts before
 * anybody else can acquire after a TTL expiry or partition — the session's local deadline is a
 * full ttl before Consul's 2×ttl invalidation, and lock-delay adds more. Hazard (as Go's doc
 * says): it is NOT safe to assume the lock is held until `release()`. An operator can delete the
 * key, `consul` can invalidate the session, a pause can outlive the deadline; work already under
 * way cannot be recalled. Check `fencingToken` downstream when that matters.
 */
import { contextOf, type RecipeHost } from '../context.js';
import { LockConflictError, SessionLostError, abortReason } from '../../errors.js';
import type { Session } from '../../session/session.js';
import { HOLDER_OPTION_NAMES, resolveFair, resolveSingleKeyOptions, type HolderOptions, type ResolvedHolderOptions } from '../hold/options.js';
import { isTransient } from '../../transport/client.js';
import type { ConsulApi, KVPair, TxnResult } from '../../transport/index.js';
import {
  Contender,
  holdHandle,
  type AcquireAttempt,
  type ContenderEvents,
  type Grant,
  type HoldHandle,
  type HoldingView,
} from '../hold/contender.js';
import { LOCK_FLAG_VALUE, fairEntryKey, type LockValue } from '../hold/keys.js';
import { anyoneWaiting, deadAhead, handOverOps, handedTo, hasLeft, heir, joinOps, lookOps, predecessor, queueView, type QueueView } from './fair-queue.js';
import { classifyRefusal, lockedEntry } from '../hold/txn-outcome.js';
import { blockingQuery } from '../../loop/blocking-query.js';
import { acquireOps, lockLossReason, observeLockKey, type LockObservation } from './lock-key.js';
import { KeyContentionAttempt, SingleKeyDriver, grantFromWrite, keyRead, retryTransient, writeOutcome, type KnownKey, type WriteOutcome } from '../hold/key-contention.js';

export { LOCK_FLAG_VALUE } from '../hold/keys.js';
export type { AcquireOptions } from '../hold/options.js';
export { defaultHolderChecks, type HolderOptions } from '../hold/options.js';
/** Events of a {@link Lock}: `acquired`, `released`, `lost`, `waiting`, `error`. */
export type LockEvents = ContenderEvents<LockHandle>;
export type { HoldState as LockState } from '../hold/state.js';

/** Defaults, each with its reason. */
export const LOCK_DEFAULTS = Object.freeze({
  /** Go's DefaultLockSessionTTL: rides out a leader election, fails over in seconds. */
  ttlMs: 15_000,
  /** Consul's default lock-delay: time for a holder that lost its session to notice. */
  lockDelayMs: 15_000,
  /**
   * Failed monitor reads tolerated before declaring the lock lost, as `consul lock` does (3).
   * Each read is already retried by the transport; the session deadline bounds the wait anyway.
   */
  monitorRetries: 3,
  /** Go's DefaultLockWaitTime. Cancelling does not depend on it (requests are aborted). */
  waitTimeMs: 15_000,
  /**
   * Cap of the retries during lock-delay, which start at 100ms and double. Go sleeps a fixed 5s
   * (DefaultLockRetryTime); as a cap that would let the take-over after a crash overshoot the
   * default 15s lock-delay by up to 5s. 1s bounds the overshoot at about a second for a few more
   * requests (about 20 over a 15s lock-delay).
   */
  retryTimeMs: 1_000,
  /** Session name (shown by `consul operator`/UI), like Go's "Consul API Lock". */
  sessionName: 'consul-recipes lock',
  /**
   * Go's algorithm, where every waiter wakes on a release and the fastest wins: no queue to join,
   * the fewest requests when there is no contention, and the same behaviour as Go's contenders.
   */
  fair: false,
});

/** First delay of the lock-delay retry backoff. */
const RETRY_MIN_MS = 100;

/**
 * Options of `new Lock(coord, key, options)` / `coord.lock(key, options)`. The session and
 * monitor options are documented once, in {@link HolderOptions}; those re-declared here have
 * the lock's own default.
 */
export interface LockOptions extends HolderOptions {
  /** Value stored with the lock (Buffer/string as is, anything else as JSON). @default empty */
  value?: LockValue;
  /** Lock-delay of the session we create; `0` really sends 0 (no delay after a loss). @default '15s' */
  lockDelay?: string | number;
  /**
   * Node checks the session we create is bound to, besides the heartbeat check; only safe when
   * lockDelay ≥ ttl (see `defaultHolderChecks`).
   * @default ['serfHealth'] when lockDelay ≥ ttl (the defaults), otherwise []
   */
  checks?: readonly string[];
  /** Name of the session we create. @default 'consul-recipes lock' */
  sessionName?: string;
  /** Cap of the delay between acquires refused by lock-delay (they start at 100ms and double). @default '1s' */
  retryTime?: string | number;
  /**
   * First come, first served among fair waiters: each joins a queue (`<key>.fair/<session>`,
   * locked by its session) and blocks only on the waiter just ahead of it, so a release wakes one
   * waiter instead of all of them. Go `api.Lock` contenders do not queue and may still barge in.
   * Needs write access to `<key>.fair/`. See the Lock guide, "Fair mode".
   * @default false
   */
  fair?: boolean;
}

/** The names `lock()` accepts. */
export const LOCK_OPTION_NAMES = Object.freeze([...HOLDER_OPTION_NAMES, 'value', 'retryTime', 'fair'] as const);

export interface ResolvedLockOptions extends ResolvedHolderOptions {
  key: string;
  value: Buffer | null;
  retryTimeMs: number;
  fair: boolean;
}

/** Validates and converts lock options synchronously; throws {@link ConfigError}. */
export function resolveLockOptions(key: unknown, options: LockOptions = {}): ResolvedLockOptions {
  return {
    ...resolveSingleKeyOptions(key, options, LOCK_OPTION_NAMES, 'lock()', { ...LOCK_DEFAULTS, behavior: 'release', lockDelayGuards: true }),
    fair: resolveFair(options.fair, LOCK_DEFAULTS.fair),
  };
}

/** A held lock. */
export interface LockHandle extends HoldHandle {
  /** The lock key. */
  readonly key: string;
  /** The key's ModifyIndex at our acquiring write: strictly increasing across successive holders. */
  readonly fencingToken: number;
}

/**
 * A mutex on `key`. One Lock holds at most one hold at a time; create one per concurrent holder.
 *
 * Events: `acquired(handle)`, `released()`, `lost(LockLostError)`, `waiting()` (debug: the
 * acquire found the key held and waits), `error(err)` (background cleanup failures).
 */
export class Lock extends Contender<LockHandle, KVPair | null> {
  readonly key: string;
  /** Whether waiters queue first come, first served (`fair: true`). */
  readonly fair: boolean;

  constructor(host: RecipeHost, key: string, options: LockOptions = {}) {
    const o = resolveLockOptions(key, options);
    super(host, {
      kind: 'lock',
      key: o.key,
      driver: new LockDriver(contextOf(host).api, o.key, o.value, { waitMs: o.waitTimeMs, retryTimeMs: o.retryTimeMs, fair: o.fair }),
      session: o.session,
      sessionOptions: o.sessionOptions,
      monitorRetries: o.monitorRetries,
      waitMs: o.waitTimeMs,
    });
    this.key = o.key;
    this.fair = o.fair;
  }

  protected wrap(view: HoldingView): LockHandle {
    return holdHandle(view, { key: this.key });
  }
}

// -----------------------------------------------------------------------------------------------
// Driver: Consul's lock algorithm

/** @internal The lock algorithm over one key (exported for tests). */
export class LockDriver extends SingleKeyDriver {
  readonly fair: boolean;
  /** The entry our last release's answer carried (see {@link recall}); one Lock has one hold at a time. */
  private remembered: KVPair | undefined;
  /** Fair mode: the waiter the current hold hands the key to at release, found by {@link onHeld}. */
  private heirEntry: KVPair | undefined;
  /** Counts holds and releases, so a look answered after its hold ended is ignored. */
  private holdSerial = 0;
  /** Fair mode: our queue entry may be the marker of our last hand-over: the next join deletes it first (see `joinOps`). */
  staleEntry = false;
  /** Fair mode: the marker of the hand-over that made the current hold ours, until {@link onHeld} or the release deletes it. */
  private handedMarker: KVPair | undefined;
  /** Fair mode: the hold's look for its heir, and the deletion of its hand-over's marker, while under way (see {@link onHeld}). */
  private looking: Promise<void> | undefined;
  private tidying: Promise<void> | undefined;
  /** Fair mode: the session whose acquiring transaction showed the queue (it reads the tree too), so {@link onHeld} needs no look. */
  private takenBy: string | undefined;

  constructor(
    api: ConsulApi,
    key: string,
    readonly value: Buffer | null,
    options: { waitMs: number; retryTimeMs: number; fair?: boolean },
  ) {
    super(api, key, options);
    this.fair = options.fair === true;
  }

  lossReason(pair: KVPair | null, sessionId: string): string | undefined {
    return lockLossReason(pair, sessionId);
  }

  begin(session: Session): AcquireAttempt {
    this.takenBy = undefined;
    this.heirEntry = undefined;
    this.handedMarker = undefined;
    return this.fair ? new FairLockAttempt(this, session.id) : new LockAttempt(this, session.id);
  }

  async release(session: Session): Promise<void> {
    if (this.fair) return this.releaseFair(session.id);
    this.remembered = undefined;
    // As Go's Unlock: the entry (value, flags) unlocked with our session. `unlock` is the
    // state-store operation behind `PUT ?release` (kvsUnlockTxn, no lock-delay); sent as a
    // transaction, its answer carries the entry as it left it, which the next acquire of this
    // Lock acts on instead of reading the key. No signal: it must complete.
    const result = await this.api.txn([{ verb: 'unlock', key: this.key, value: this.value, flags: LOCK_FLAG_VALUE, session: session.id }]);
    this.remembered = result.ok ? lockedEntry(result, this.key) : undefined;
  }

  /**
   * The key as our own release left it (unlocked, the lock flag, its ModifyIndex), handed out
   * once: the next acquire sends its acquiring transaction at once, with `check-index` on that
   * ModifyIndex, instead of reading the key first. Whatever happened to the key since (a plain
   * PUT with other flags, another session's lock, a delete, an operator's release) moved its
   * ModifyIndex, so a stale memory only costs a refused transaction, after which the acquire
   * reads the key as usual. Undefined when there is nothing trustworthy to act on.
   */
  recall(): KnownKey | undefined {
    const pair = this.remembered;
    this.remembered = undefined;
    if (pair === undefined || pair.flags !== LOCK_FLAG_VALUE || pair.session !== undefined) return undefined;
    return { pair, index: BigInt(pair.modifyIndex) };
  }

  /**
   * A fair hold learns, with one look off the caller's path, the waiter it will hand the key to
   * (see `fair-queue.ts`, "Hand-over"). Nobody waiting: it releases as usual.
   */
  onHeld(session: Session, signal: AbortSignal): Promise<void> | undefined {
    if (!this.fair) return undefined;
    const serial = ++this.holdSerial;
    const taken = this.takenBy;
    this.takenBy = undefined;
    // Taken by a transaction, whose answer showed the queue (see noteTaken): no look.
    if (taken === session.id) return undefined;
    this.heirEntry = undefined;
    this.handedMarker = undefined; // deleted by the look's tidying below
    const look = this.api.txn(lookOps(this.key), signal).then((result) => queueView(this.key, result));
    this.looking = look.then(
      (view) => {
        if (serial === this.holdSerial && view.lockKey.pair?.session === session.id) this.heirEntry = heir(view, this.key, session.id);
      },
      () => undefined, // reported through `tidying`, which the engine awaits and logs
    );
    this.tidying = look.then((view) => this.deleteMarkers(view, session.id, signal));
    return this.tidying;
  }

  /**
   * Deletes the marker of the hand-over that made us the holder: dead, and its writer may not
   * join again soon (a writer that joined first replaced it, and the check-and-set delete then
   * does nothing).
   */
  private async deleteMarkers(view: QueueView, sessionId: string, signal: AbortSignal): Promise<void> {
    for (const entry of view.entries) {
      if (handedTo(entry, sessionId)) await this.api.kv.delete(entry.key, { cas: entry.modifyIndex, signal });
    }
  }

  /** A fair attempt was handed the key: `marker` is its predecessor's entry, to delete (see {@link onHeld}). */
  noteHanded(marker: KVPair): void {
    this.handedMarker = marker;
  }

  /**
   * A fair attempt's acquiring transaction also read the queue: its answer names the heir at
   * once, so even a hold given back before {@link onHeld} runs hands the key over.
   */
  noteTaken(sessionId: string, result: TxnResult): void {
    this.takenBy = sessionId;
    this.heirEntry = heir(queueView(this.key, result), this.key, sessionId);
  }

  /**
   * A fair holder that knows its heir hands the key over in one transaction (see `fair-queue.ts`,
   * "Hand-over"). Its entry is now a marker, which the heir deletes; our next join deletes it
   * first in any case, so it starts at the back of the line. Refused (the heir left, or the key
   * is not ours any more), or no heir known: it unlocks the key (as Go's Unlock: value and flags,
   * `unlock` being the operation behind `?release`) and leaves the queue in one transaction: its
   * successor, blocked on its entry, wakes — and nobody else. That refused too (the key is not
   * ours): it just leaves the queue.
   */
  async releaseFair(sessionId: string): Promise<void> {
    const entry = fairEntryKey(this.key, sessionId);
    // A look still under way is already sent: its answer names the heir (its failure is logged by the engine).
    const { looking, tidying, handedMarker } = this;
    this.looking = this.tidying = this.handedMarker = undefined;
    await looking;
    try {
      await this.releaseOrHandOver(sessionId, entry);
    } finally {
      // Nothing of the hand-over to us outlives our release. (A hold given back before onHeld ran
      // deletes the marker here; if that fails, the next waiter deletes it as a dead entry.)
      await tidying?.catch(() => undefined);
      if (handedMarker) await this.api.kv.delete(handedMarker.key, { cas: handedMarker.modifyIndex }).catch(() => undefined);
    }
  }

  private async releaseOrHandOver(sessionId: string, entry: string): Promise<void> {
    const heirEntry = this.heirEntry;
    this.heirEntry = undefined;
    this.holdSerial += 1;
    if (heirEntry !== undefined) {
      this.staleEntry = true;
      const handed = await this.api.txn(handOverOps(this.key, sessionId, this.value, heirEntry));
      if (handed.ok) return;
    }
    const result = await this.api.txn([
      { verb: 'unlock', key: this.key, value: this.value, flags: LOCK_FLAG_VALUE, session: sessionId },
      { verb: 'delete', key: entry },
    ]);
    if (!result.ok) await this.api.kv.delete(entry);
    this.staleEntry = false;
  }
}

class LockAttempt extends KeyContentionAttempt<LockObservation> {
  constructor(private readonly d: LockDriver, sessionId: string) {
    super(d, sessionId, { retryMinMs: RETRY_MIN_MS, lockDelayIsWaiting: false });
  }

  async abandon(): Promise<void> {
    if (!this.wrote) return;
    // A write whose answer we never saw (or a grant we then refused) may have taken the key.
    const { pair } = await this.api.kv.get(this.key, { consistent: true });
    if (pair?.session === this.sessionId) {
      await this.api.kv.put(this.key, this.d.value, { flags: LOCK_FLAG_VALUE, release: this.sessionId });
    }
  }

  protected observe(pair: KVPair | null): LockObservation {
    const seen = observeLockKey(pair, this.sessionId);
    if (seen.kind === 'conflict') {
      throw new LockConflictError(this.key, `the key has flags 0x${seen.flags.toString(16)}, not the lock flag 0x${LOCK_FLAG_VALUE.toString(16)}; it is not a lock (a semaphore or plain data?)`);
    }
    return seen;
  }

  /** The key as this Lock's last release left it, if any: acted on without a read (see {@link LockDriver.recall}). */
  protected override firstGuess(): KnownKey | undefined {
    return this.d.recall();
  }

  /** Seen ours (a retried acquire landed, or a reclaim): a consistent read proves it. */
  protected claim(_seen: LockObservation, signal: AbortSignal): Promise<Grant | null> {
    return this.confirm(signal);
  }

  /** One transaction: take the key as read (absent, or unchanged since) — see {@link acquireOps}. */
  protected async write(seen: LockObservation, signal: AbortSignal): Promise<WriteOutcome> {
    return writeOutcome(this, acquireOps(this.key, this.d.value, this.sessionId, seen.kind === 'free' ? seen : {}), signal);
  }

  /** A consistent read proving the key carries our session; its ModifyIndex is the fencing token. */
  protected async confirm(signal: AbortSignal): Promise<Grant | null> {
    let read: Awaited<ReturnType<ConsulApi['kv']['get']>>;
    try {
      read = await this.api.kv.get(this.key, { consistent: true, signal });
    } catch (err) {
      if (signal.aborted || !isTransient(err)) throw err;
      return null;
    }
    const { pair, meta } = read;
    if (pair?.session !== this.sessionId) return null;
    return { fencingToken: pair.modifyIndex, index: meta.index > 0n ? meta.index : BigInt(pair.modifyIndex) };
  }
}

/**
 * A fair waiter (`fair: true`): joins the queue, blocks only on its predecessor's entry, and
 * contends for the key (the ordinary algorithm above, from the snapshot it already has) once
 * nobody live is ahead of it. See `fair-queue.ts`.
 */
class FairLockAttempt extends LockAttempt {
  private joined = false;

  constructor(private readonly fd: LockDriver, sessionId: string) {
    super(fd, sessionId);
  }

  override async acquire(signal: AbortSignal, onWaiting: () => void): Promise<Grant> {
    let view = await this.join(signal);
    for (;;) {
      await this.clearDead(view);
      const ahead = predecessor(view, this.key, this.sessionId);
      if (!ahead) return this.contend(signal, onWaiting, view.lockKey);
      this.lastHolder = view.lockKey.pair?.session;
      onWaiting();
      const turn = await this.waitForTurn(ahead, signal);
      // Handed over: the transaction that wrote the marker locked the key for us at its index.
      if (turn.handed) {
        this.fd.noteHanded(turn.handed);
        return grantFromWrite(turn.handed);
      }
      const grant = await this.takeAfterRelease(turn.index, signal);
      if (grant) return grant;
      view = await this.look(signal);
    }
  }

  /**
   * Our predecessor left at `index` (the index of the answer that showed it gone). When it left by
   * releasing the lock — one transaction unlocking the key and deleting its entry — the key's
   * ModifyIndex is that same index, and nobody live is ahead of us (the holder was the newest live
   * entry before ours). So an acquiring transaction checked at `index` is sent at once, without a
   * look: it succeeds only in exactly that case (`check-index` fails when any other write came
   * last), and any refusal falls back to the look. Saves one round trip per fair handoff.
   */
  private async takeAfterRelease(index: bigint, signal: AbortSignal): Promise<Grant | null> {
    if (index <= 0n || index > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    const outcome = await this.write({ kind: 'free', modifyIndex: Number(index) }, signal);
    if (outcome.kind === 'held') return outcome.grant;
    if (outcome.kind === 'unknown') return this.confirm(signal);
    return null;
  }

  /** The acquiring transaction also reads the tree: its answer shows whom to hand the key to (see {@link LockDriver.onHeld}). */
  protected override write(seen: LockObservation, signal: AbortSignal): Promise<WriteOutcome> {
    const ops = [...acquireOps(this.key, this.fd.value, this.sessionId, seen.kind === 'free' ? seen : {}), ...lookOps(this.key)];
    return writeOutcome(this, ops, signal, (entry, result) => {
      this.fd.noteTaken(this.sessionId, result);
      return grantFromWrite(entry);
    });
  }

  /** A try never waits, so it never joins; and it does not overtake anybody who waits. */
  override async tryOnce(signal: AbortSignal): Promise<Grant | null> {
    const view = await this.look(signal);
    if (anyoneWaiting(view)) {
      this.lastHolder = view.lockKey.pair?.session;
      return null;
    }
    return super.tryOnce(signal, view.lockKey);
  }

  override async abandon(): Promise<void> {
    if (this.joined) {
      // Leaving the queue first ends any hand-over to us (it checks our entry); one that landed
      // before made us the holder, which the check below gives back.
      await this.api.kv.delete(fairEntryKey(this.key, this.sessionId));
      this.wrote = true;
    }
    await super.abandon();
  }

  /** Our entry, locked by our session, and the queue and key as that transaction left them. */
  private async join(signal: AbortSignal): Promise<QueueView> {
    this.joined = true;
    // Re-locking our own entry changes nothing, so a join whose answer was lost is just repeated
    // (after a hand-over of ours the join re-creates the entry, and a repeat only re-creates it again).
    const fresh = this.fd.staleEntry;
    const result = await retryTransient(() => this.api.txn(joinOps(this.key, this.sessionId, this.fd.value, fresh), signal), signal);
    if (!result.ok) {
      if (classifyRefusal(result) === 'session-gone') throw new SessionLostError(this.sessionId, result.errors.map((e) => e.what).join('; '));
      throw new LockConflictError(fairEntryKey(this.key, this.sessionId), 'Consul refused to lock our place in the fair queue (locked by another session?)');
    }
    if (fresh) this.fd.staleEntry = false;
    return queueView(this.key, result);
  }

  private async look(signal: AbortSignal): Promise<QueueView> {
    return queueView(this.key, await retryTransient(() => this.api.txn(lookOps(this.key), signal), signal));
  }

  /**
   * Blocks on the predecessor's entry until it is gone, dead or replaced; resolves with the index
   * of the answer that showed it, and the entry when it shows the lock handed over to us.
   */
  private async waitForTurn(ahead: KVPair, signal: AbortSignal): Promise<{ index: bigint; handed?: KVPair }> {
    const snapshots = blockingQuery<KVPair | null>(keyRead(this.api, ahead.key), {
      signal,
      waitMs: this.fd.options.waitMs,
      initialIndex: BigInt(ahead.modifyIndex),
      isFatal: (err) => !isTransient(err),
    });
    for await (const { value, index } of snapshots) {
      if (handedTo(value, this.sessionId)) return { index, handed: value };
      if (hasLeft(ahead, value)) return { index };
    }
    throw abortReason(signal);
  }

  /** Deletes dead entries ahead of us (check-and-set: a re-created entry is left alone). Best effort. */
  private async clearDead(view: QueueView): Promise<void> {
    for (const dead of deadAhead(view, this.key, this.sessionId)) {
      await this.api.kv.delete(dead.key, { cas: dead.modifyIndex }).catch((err: unknown) => {
        // Someone else cleared it, or the server is away: it is skipped either way.
        if (!isTransient(err)) throw err;
      });
    }
  }
}
