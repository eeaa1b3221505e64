/**
 * Semaphore: at most `limit` holders under one KV prefix, interoperable with Consul's Go
 * `api.Semaphore` and `consul lock -n N` (same keys, flags `0xe0f69a2baa414de0`, same record).
 *
 * Layout (hashicorp/consul `api/semaphore.go`):
 * - `prefix/<session>` — one contender key per contender, locked (`?acquire`) by its own session,
 *   which uses `Behavior: delete`, so a dead contender's key disappears with its session;
 * - `prefix/.lock` — `{"Limit":N,"Holders":{"<session>":true,…}}`, only changed by check-and-set.
 *
 * Algorithm: list the prefix; a slot free for us → create our contender key and CAS the record
 * in one transaction (`claimOps`). Otherwise create our contender key (a transaction whose
 * `get-tree` shows the prefix as our write left it); then, on every change of the prefix
 * (blocking list):
 * the record must carry the semaphore flag and decode with our limit (else `LockConflictError`);
 * holders whose session no longer locks any key under the prefix are pruned; with fewer than
 * `limit` holders left we CAS the record with ourselves added; a lost CAS race just reads again.
 * Held → the prefix is monitored with consistent blocking reads; the permit is lost when our
 * session leaves the (pruned) holders, the record or our contender key is deleted, or the
 * session is lost.
 *
 * Fair mode (`fair: true`): only the first waiter in line blocks on the prefix; every other
 * blocks on the contender key just ahead of it, which our claim re-takes (so it changes) and our
 * release deletes: a freed slot wakes one waiter. Go contenders do not queue.
 *
 * We CAS through `/v1/txn` (the same state-store operation as `PUT ?cas`) because its answer
 * carries the ModifyIndex of our write: that exact index is the permit's fencing token.
 *
 * Hazard: as with any Consul lock, it is NOT safe to assume the permit is held until
 * `release()`; watch `permit.signal`.
 */
import { performance } from 'node:perf_hooks';
import { contextOf, type RecipeHost } from '../context.js';
import { ConfigError, LockConflictError, SessionLostError } from '../../errors.js';
import { classifyRefusal, lockedEntry } from '../hold/txn-outcome.js';
import { linkSignals, sleep } from '../../internal/abort.js';
import { describe } from '../../internal/duration.js';
import { validateKey } from '../../internal/keys.js';
import { backoffDelay } from '../../loop/backoff.js';
import { blockingQuery, type BlockingRead } from '../../loop/blocking-query.js';
import type { Session } from '../../session/session.js';
import { isTransient } from '../../transport/client.js';
import type { ConsulApi, KVPair } from '../../transport/index.js';
import { retryTransient } from '../hold/key-contention.js';
import { Contender, holdHandle, type AcquireAttempt, type ContenderEvents, type Grant, type HoldDriver, type HoldHandle, type HoldingView } from '../hold/contender.js';
import {
  SEMAPHORE_FLAG_VALUE,
  contenderKey,
  encodeLockValue,
  normalizePrefix,
  semaphoreRecordKey,
  type LockValue,
} from '../hold/keys.js';
import {
  asIfEntered,
  claimOps,
  leaveOps,
  observeSemaphore,
  recordListing,
  waitingContenders,
  semaphoreLossReason,
  type SemaphoreObservation,
  type SemaphoreRecord,
  type SemaphoreView,
} from './record.js';
import { checkLocalOptions } from '../../internal/options.js';
import { HOLDER_OPTION_NAMES, resolveFair, resolveHolderOptions, type HolderOptions, type ResolvedHolderOptions } from '../hold/options.js';

export { SEMAPHORE_FLAG_VALUE } from '../hold/keys.js';
export type { HoldState as SemaphoreState } from '../hold/state.js';
/** Events of a {@link Semaphore}: `acquired`, `released`, `lost`, `waiting`, `error`. */
export type SemaphoreEvents = ContenderEvents<Permit>;

/** Defaults, each with its reason. */
export const SEMAPHORE_DEFAULTS = Object.freeze({
  /** Go's DefaultSemaphoreSessionTTL. */
  ttlMs: 15_000,
  /**
   * Lock-delay only ever applies to our own contender key (named after our session), so it never
   * delays anybody; Consul's default is kept.
   */
  lockDelayMs: 15_000,
  /** As for Lock: `consul lock`'s 3 tolerated monitor failures. */
  monitorRetries: 3,
  /** Go's DefaultSemaphoreWaitTime. */
  waitTimeMs: 15_000,
  sessionName: 'consul-recipes semaphore',
  /**
   * Every waiter watches the prefix, as Go's do (our waiters defer to earlier ones, but still
   * wake on every change): no extra requests when uncontended, and Go's behaviour.
   */
  fair: false,
});

/** Releasing retries its CAS this many times before leaving the record to be pruned. */
const MAX_LEAVE_ATTEMPTS = 8;
/**
 * Waiters further back than the next in line re-read the prefix at most this often. Each change
 * of the prefix (a contender entering, a slot taken or freed) otherwise costs one read per
 * waiter, O(waiters²) per round under contention; the next in line still reads at once.
 */
const QUEUE_READ_SPACING_MS = 50;
/** Spacing of retries after a write failed with a transient error. */
const WRITE_RETRY_BACKOFF = Object.freeze({ minMs: 100, maxMs: 2_000 });

/**
 * Options of `new Semaphore(coord, prefix, options)` / `coord.semaphore(prefix, options)`. The
 * session and monitor options are documented once, in {@link HolderOptions}; those re-declared
 * here have the semaphore's own default or meaning.
 */
export interface SemaphoreOptions extends HolderOptions {
  /** How many holders at once. Every contender on the prefix must use the same limit. Required. */
  limit: number;
  /** Value stored in our contender key (Buffer/string as is, anything else as JSON). @default empty */
  value?: LockValue;
  /**
   * A session to contend with; used as is, never destroyed. Give it `behavior: 'delete'`, as Go
   * does, so its contender key goes away with it. @default a new session per acquisition
   */
  session?: Session;
  /** Lock-delay of the session we create (it only affects our own contender key). @default '15s' */
  lockDelay?: string | number;
  /**
   * Node checks the session we create is bound to, besides the heartbeat check. Lock-delay never
   * guards a slot, so binding to `serfHealth` lets a node cut off from the servers lose its slot
   * to someone else before its holder's deadline: opt in only if that is acceptable. @default []
   */
  checks?: readonly string[];
  /** Name of the session we create. @default 'consul-recipes semaphore' */
  sessionName?: string;
  /**
   * First come, first served among fair waiters, in the order of their contender keys: only the
   * first waiter in line watches the prefix; every other blocks on the contender key just ahead
   * of it, so a freed slot wakes one waiter instead of all of them. Go `api.Semaphore`
   * contenders do not queue and may still take a free slot first. See the Semaphore guide,
   * "Fair mode".
   * @default false
   */
  fair?: boolean;
}

/** The names `semaphore()` accepts. */
export const SEMAPHORE_OPTION_NAMES = Object.freeze([...HOLDER_OPTION_NAMES, 'limit', 'value', 'fair'] as const);

export interface ResolvedSemaphoreOptions extends ResolvedHolderOptions {
  prefix: string;
  limit: number;
  value: Buffer | null;
  fair: boolean;
}

/** Validates and converts semaphore options synchronously; throws {@link ConfigError}. */
export function resolveSemaphoreOptions(prefix: unknown, options: SemaphoreOptions): ResolvedSemaphoreOptions {
  validateKey('prefix', prefix);
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`semaphore options must be an object with a "limit", got ${describe(options)}`, 'options');
  }
  checkLocalOptions(options, SEMAPHORE_OPTION_NAMES, 'semaphore()');
  const { limit } = options;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit <= 0) {
    throw new ConfigError(`option "limit" must be a positive integer, got ${describe(limit)}`, 'limit');
  }
  const normalized = normalizePrefix(prefix as string);
  if (normalized === '') throw new ConfigError(`prefix must name a folder, got ${describe(prefix)}`, 'prefix');
  return {
    prefix: normalized,
    limit,
    value: encodeLockValue('value', options.value),
    fair: resolveFair(options.fair, SEMAPHORE_DEFAULTS.fair),
    // Contender sessions use Behavior delete, as Go's do: a dead contender's key disappears.
    // Lock-delay never guards a slot (only our own contender key): never bind to serfHealth by default.
    ...resolveHolderOptions(options, { ...SEMAPHORE_DEFAULTS, behavior: 'delete', lockDelayGuards: false }),
  };
}

/** A held slot of a semaphore. */
export interface Permit extends HoldHandle {
  /** The semaphore prefix (normalised: no trailing slash). */
  readonly prefix: string;
  /** ModifyIndex of the `.lock` write that added us: strictly increasing across acquisitions. */
  readonly fencingToken: number;
}

/**
 * A counting semaphore under `prefix`. One Semaphore holds at most one permit at a time;
 * create one per concurrent holder.
 *
 * Events: `acquired(permit)`, `released()`, `lost(LockLostError)`, `waiting()` (debug: every
 * slot was taken and the acquire waits), `error(err)` (background cleanup failures).
 */
export class Semaphore extends Contender<Permit, KVPair[]> {
  readonly prefix: string;
  readonly limit: number;
  /** Whether waiters queue first come, first served (`fair: true`). */
  readonly fair: boolean;

  constructor(host: RecipeHost, prefix: string, options: SemaphoreOptions) {
    const o = resolveSemaphoreOptions(prefix, options);
    super(host, {
      kind: 'semaphore',
      key: o.prefix,
      driver: new SemaphoreDriver(contextOf(host).api, o.prefix, o.limit, o.value, { waitMs: o.waitTimeMs, fair: o.fair }),
      session: o.session,
      sessionOptions: o.sessionOptions,
      monitorRetries: o.monitorRetries,
      waitMs: o.waitTimeMs,
    });
    this.prefix = o.prefix;
    this.limit = o.limit;
    this.fair = o.fair;
  }

  protected wrap(view: HoldingView): Permit {
    return holdHandle(view, { prefix: this.prefix });
  }
}

// -----------------------------------------------------------------------------------------------
// Driver: Consul's semaphore algorithm

/** @internal The semaphore algorithm over one prefix (exported for tests). */
export class SemaphoreDriver implements HoldDriver<KVPair[]> {
  readonly recordKey: string;

  constructor(
    readonly api: ConsulApi,
    readonly prefix: string,
    readonly limit: number,
    readonly value: Buffer | null,
    readonly options: { waitMs: number; fair?: boolean },
  ) {
    this.recordKey = semaphoreRecordKey(prefix);
  }

  /**
   * Lists `prefix/` (Go lists the bare prefix, which also matches `prefix-other/…`; with the
   * slash we see exactly this semaphore's keys and the answer is the same for them).
   */
  readonly list = (consistent: boolean): BlockingRead<KVPair[]> => async ({ index, waitMs, signal }) => {
    const { pairs, meta } = await this.api.kv.list(`${this.prefix}/`, { index, waitMs, signal, consistent });
    return { value: pairs, meta };
  };

  readonly monitorRead = this.list(true);

  view(sessionId: string): SemaphoreView {
    return { prefix: this.prefix, sessionId, limit: this.limit };
  }

  lossReason(pairs: KVPair[], sessionId: string): string | undefined {
    return semaphoreLossReason(pairs, this.view(sessionId));
  }

  begin(session: Session): AcquireAttempt {
    return new SemaphoreAttempt(this, session.id);
  }

  release(session: Session, last: KVPair[] | undefined): Promise<void> {
    return this.leave(session.id, last);
  }

  /**
   * Removes `sessionId` from the holders and deletes its contender key, in one transaction so a
   * concurrent reader never sees one without the other. With `last` (the monitor's newest
   * listing, or what our claim wrote) the first try needs no read; a lost CAS race reads and
   * tries again; if it keeps losing, deleting the contender key alone is enough (everyone prunes
   * us then).
   */
  async leave(sessionId: string, last?: readonly KVPair[]): Promise<void> {
    const view = this.view(sessionId);
    const mine = contenderKey(this.prefix, sessionId);
    let known = last ? recordListing(last, view) : undefined;
    for (let attempt = 1; attempt <= MAX_LEAVE_ATTEMPTS; attempt++) {
      if (!known) {
        const { pair } = await this.api.kv.get(this.recordKey, { consistent: true });
        known = pair ? recordListing([pair], view) : undefined;
        if (!known) break;
      }
      try {
        const result = await this.api.txn(leaveOps(view, known.record, known.recordIndex));
        if (result.ok) return;
      } catch (err) {
        // A lost answer may hide a success; the next read tells.
        if (!isTransient(err)) throw err;
      }
      known = undefined;
    }
    await this.api.kv.delete(mine);
  }

  /**
   * Takes a slot: CAS of the record with us added, and our contender key locked (created when we
   * had not entered yet), in one transaction; the grant carries our write's index, and what we
   * wrote, so the release needs no read.
   */
  async claim(record: SemaphoreRecord, recordIndex: number, sessionId: string, entered: boolean, signal: AbortSignal): Promise<Grant | 'lost-race' | 'unknown'> {
    const view = this.view(sessionId);
    const ops = claimOps(view, this.value, record, recordIndex, entered);
    const contender = contenderKey(this.prefix, sessionId);
    let result;
    try {
      result = await this.api.txn(ops, signal);
    } catch (err) {
      if (signal.aborted || !isTransient(err)) throw err;
      return 'unknown';
    }
    if (!result.ok) {
      const refusal = classifyRefusal(result);
      if (refusal === 'session-gone') throw new SessionLostError(sessionId, result.errors.map((e) => e.what).join('; '));
      if (result.errors.some((e) => ops[e.opIndex]?.key === contender)) {
        throw new LockConflictError(contender, 'Consul refused to lock our contender key (it is locked by another session or in lock-delay)');
      }
      return 'lost-race';
    }
    const written = lockedEntry(result, this.recordKey);
    if (!written) return 'unknown';
    // The answer blanks values; the record's is the one we just wrote.
    const recordPair: KVPair = { ...written, value: Buffer.from(ops.at(-1)!.value as string, 'utf8') };
    return { fencingToken: written.modifyIndex, index: BigInt(written.modifyIndex), seen: [recordPair] };
  }
}

/** What the wait hands to `act()`: an observation to act on, or "wait again". */
type Actionable = Exclude<SemaphoreObservation, { kind: 'conflict' | 'full' | 'queued' }> | { kind: 'wait' };

class SemaphoreAttempt implements AcquireAttempt {
  private writeFailures = 0;
  /** The last listing showed our contender key, locked by our session. */
  private entered = false;
  /** The prefix as our entering transaction left it: the wait's first look, instead of a list. */
  private known: { pairs: KVPair[]; index: bigint } | undefined;

  constructor(
    private readonly d: SemaphoreDriver,
    private readonly sessionId: string,
  ) {}

  async acquire(signal: AbortSignal, onWaiting: () => void): Promise<Grant> {
    for (;;) {
      const seen = await this.waitForSlot(signal, onWaiting);
      const grant = await this.act(seen, signal);
      if (grant) return grant;
    }
  }

  async tryOnce(signal: AbortSignal): Promise<Grant | null> {
    // A few passes: creating the contender key and losing a CAS race to a contender that then
    // left a free slot are not "busy"; a full semaphore is.
    for (let pass = 0; pass < 3; pass++) {
      const pairs = this.takeKnown()?.pairs ?? (await this.d.api.kv.list(`${this.d.prefix}/`, { signal })).pairs;
      // A try never waits, so it does not queue; a fair one does not overtake those who do.
      const seen = this.classify(pairs, this.d.options.fair === true);
      if (seen.kind === 'full' || seen.kind === 'queued') return null;
      const grant = await this.act(seen, signal);
      if (grant) return grant;
    }
    return null;
  }

  abandon(): Promise<void> {
    return this.d.leave(this.sessionId);
  }

  /** One step on an observation; null means "look again". */
  private async act(seen: Actionable | Exclude<SemaphoreObservation, { kind: 'conflict' }>, signal: AbortSignal): Promise<Grant | null> {
    switch (seen.kind) {
      case 'no-contender':
        await this.enter(signal);
        return null;
      case 'full':
      case 'queued':
      case 'wait':
        return null;
      case 'holding':
      case 'free': {
        // 'holding': an earlier CAS whose answer was lost did land. Re-writing the record (it
        // already lists us) gives an exact index for the fencing token.
        const outcome = await this.d.claim(seen.record, seen.recordIndex, this.sessionId, this.entered, signal);
        if (typeof outcome === 'object') return outcome;
        if (outcome === 'unknown') await this.pauseAfterFailure(signal);
        return null;
      }
    }
  }

  /** Creates (or re-creates) our contender key, locked by our session (Go's contenderEntry). */
  private async enter(signal: AbortSignal): Promise<void> {
    const key = contenderKey(this.d.prefix, this.sessionId);
    let result: Awaited<ReturnType<ConsulApi['txn']>>;
    try {
      // `lock` is what Go's `?acquire` does; the `get-tree` in the same transaction shows the
      // prefix as our write left it, so the wait starts from it instead of listing again.
      result = await this.d.api.txn(
        [
          { verb: 'lock', key, value: this.d.value, flags: SEMAPHORE_FLAG_VALUE, session: this.sessionId },
          { verb: 'get-tree', key: `${this.d.prefix}/` },
        ],
        signal,
      );
    } catch (err) {
      if (signal.aborted || !isTransient(err)) throw err;
      await this.pauseAfterFailure(signal);
      return;
    }
    if (!result.ok) {
      if (classifyRefusal(result) === 'session-gone') throw new SessionLostError(this.sessionId, result.errors.map((e) => e.what).join('; '));
      throw new LockConflictError(key, 'Consul refused to lock our contender key (it is locked by another session or in lock-delay)');
    }
    const written = lockedEntry({ results: result.results.slice(0, 1) }, key);
    // The tree (values included) comes after the lock's own result (value blanked).
    const pairs = [...new Map(result.results.slice(1).map((p) => [p.key, p])).values()];
    if (written) this.known = { pairs, index: BigInt(written.modifyIndex) };
    this.writeFailures = 0;
  }

  /** What the last reply showed of the prefix, if no read has happened since; taken once. */
  private takeKnown(): { pairs: KVPair[]; index: bigint } | undefined {
    const known = this.known;
    this.known = undefined;
    return known;
  }

  /**
   * Blocks on the prefix until there is something to do: a free slot that is ours to take, no
   * contender key, or a hold to re-affirm. While queued behind earlier contenders we defer to
   * them for at most `waitTime`: one that never takes its slot (a Go acquire aborted with its
   * own session leaves its key) must not stall us, so past that we compete regardless.
   */
  private async waitForSlot(signal: AbortSignal, onWaiting: () => void): Promise<Actionable> {
    if (this.d.options.fair === true) return this.waitInLine(signal, onWaiting);
    const known = this.takeKnown();
    if (known) {
      const seen = this.classify(known.pairs, true);
      if (seen.kind !== 'full' && seen.kind !== 'queued') return seen;
      onWaiting();
    }
    const patience = linkSignals([signal], { ms: this.d.options.waitMs, reason: () => new DOMException('patience', 'TimeoutError') });
    try {
      const snapshots = blockingQuery(this.d.list(false), {
        signal: patience.signal,
        waitMs: this.d.options.waitMs,
        ...(known ? { initialIndex: known.index } : {}),
        isFatal: (err) => !isTransient(err),
      });
      for await (const { value } of snapshots) {
        const seen = this.classify(value, true);
        if (seen.kind !== 'full' && seen.kind !== 'queued') return seen;
        onWaiting();
        // Not next in line: no single change can make this contender act, so it reads again
        // after a short pause (the generator issues the next read only when asked), letting
        // changes pile up into one read instead of one read per change per waiter.
        if (seen.ahead > seen.record.limit - seen.record.holders.size) await sleep(QUEUE_READ_SPACING_MS, patience.signal).catch(() => undefined);
      }
    } finally {
      patience.dispose();
    }
    signal.throwIfAborted();
    // Out of patience: one fresh look, taking a free slot even if others arrived first.
    const { pairs } = await this.d.api.kv.list(`${this.d.prefix}/`, { signal });
    const seen = this.classify(pairs, false);
    return seen.kind === 'full' || seen.kind === 'queued' ? { kind: 'wait' } : seen;
  }

  /**
   * Fair mode: waits in line. The first waiter in line blocks on the prefix (any change may free
   * a slot for it); every other blocks on the contender key of the waiter just ahead of it, which
   * changes only when that waiter takes a slot (our claim re-writes its contender key) or leaves
   * — so a freed slot wakes one waiter, not all of them. A predecessor that takes a slot without
   * touching its key (a Go contender) is noticed when the blocking read's `waitTime` ends; after a
   * whole `waitTime` without moving up while slots are free, we compete regardless, as in the
   * default mode, so a contender that never takes its slot cannot stall the line.
   */
  private async waitInLine(signal: AbortSignal, onWaiting: () => void): Promise<Actionable> {
    const waitMs = this.d.options.waitMs;
    const known = this.takeKnown();
    const list = (options: { index?: bigint; waitMs?: number } = {}): Promise<{ pairs: KVPair[]; meta: { index: bigint } }> =>
      retryTransient(() => this.d.api.kv.list(`${this.d.prefix}/`, { signal, ...options }), signal);
    let { pairs, meta } = known ? { pairs: known.pairs, meta: { index: known.index } } : await list();
    let place: { ahead: number; since: number } | undefined;
    for (;;) {
      const seen = this.classify(pairs, true);
      if (seen.kind !== 'full' && seen.kind !== 'queued') return seen;
      onWaiting();
      const now = performance.now();
      if (!place || seen.ahead < place.ahead) place = { ahead: seen.ahead, since: now };
      if (seen.kind === 'queued' && now - place.since >= waitMs) {
        // Out of patience with the line ahead: take a free slot even if others arrived first.
        const eager = this.classify(pairs, false);
        if (eager.kind !== 'full' && eager.kind !== 'queued') return eager;
      }
      const line = waitingContenders(pairs, this.d.prefix, seen.record);
      const before = seen.ahead > 0 ? line[seen.ahead - 1] : undefined;
      const watched = before === undefined ? undefined : pairs.find((p) => p.key === contenderKey(this.d.prefix, before));
      if (watched) {
        await retryTransient(() => this.waitOn(watched, signal), signal);
        ({ pairs, meta } = await list());
      } else {
        // First in line: the next change of the prefix.
        ({ pairs, meta } = await list({ index: meta.index, waitMs }));
      }
    }
  }

  /** Blocks until `watched` (a contender key) changes or goes, or one `waitTime` passes. */
  private async waitOn(watched: KVPair, signal: AbortSignal): Promise<void> {
    await this.d.api.kv.get(watched.key, { signal, index: BigInt(watched.modifyIndex), waitMs: this.d.options.waitMs });
  }

  private classify(pairs: readonly KVPair[], queue: boolean): Exclude<SemaphoreObservation, { kind: 'conflict' }> {
    const view = this.d.view(this.sessionId);
    const seen = observeSemaphore(pairs, view, { queue });
    if (seen.kind === 'conflict') throw new LockConflictError(this.d.prefix, seen.message);
    this.entered = seen.kind !== 'no-contender';
    if (seen.kind === 'no-contender') {
      // Not entered yet: if a slot would be ours once we enter, enter and take it in one
      // transaction (claimOps creates the contender key) instead of entering, listing again,
      // then claiming.
      const entered = observeSemaphore(asIfEntered(pairs, view), view, { queue });
      if (entered.kind === 'free') return entered;
    }
    return seen;
  }

  private async pauseAfterFailure(signal: AbortSignal): Promise<void> {
    this.writeFailures += 1;
    await sleep(backoffDelay(this.writeFailures, WRITE_RETRY_BACKOFF), signal);
  }
}
