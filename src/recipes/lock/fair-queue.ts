/**
 * The queue of a fair lock, as pure functions (tested without a server).
 *
 * Each fair waiter locks `<key>.fair/<session>` with its session when it starts waiting; the
 * entry's CreateIndex is its place in line. A waiter blocks only on its predecessor — the newest
 * live entry created before its own — and takes part in the ordinary contention for the lock key
 * only once nobody live is ahead of it. The holder keeps its entry until it releases, and deletes
 * it in the same transaction that unlocks the key, so a release wakes exactly one fair waiter.
 *
 * An entry whose session is gone is dead: with Behavior `release` (a lock's sessions) Consul
 * unlocks it when the session ends, with `delete` it removes it. A dead entry is skipped, and
 * deleted (check-and-set) by whoever finds it in its way.
 *
 * Hand-over. A holder that knows the next live waiter (its heir, learned by one look after it
 * acquired) releases by handing the key over in one transaction: `check-index` on the heir's
 * entry (still there, unchanged: the same waiter, still waiting), `unlock` and `lock` of the key
 * (the heir's session, its value, the lock flags), and `unlock` of the holder's own entry with
 * the heir's session ID as value and {@link FAIR_HANDED_FLAG}. The heir, blocked on that entry,
 * wakes holding the lock: the entry's ModifyIndex is the transaction's, the key's ModifyIndex,
 * its fencing token. No waiter writes on the handoff's path, and the key is never free, so nobody
 * (a Go contender included) can take it in between. The marker entry is dead (unlocked) and its
 * writer deletes it right after.
 */
import type { KVPair, TxnKVOp, TxnResult } from '../../transport/index.js';
import { FAIR_HANDED_FLAG, LOCK_FLAG_VALUE, fairEntryKey, fairQueuePrefix } from '../hold/keys.js';
import type { KnownKey } from '../hold/key-contention.js';

/** The queue and the lock key, as one transaction showed them. */
export interface QueueView {
  /** Every entry under `<key>.fair/`, live or dead. */
  readonly entries: readonly KVPair[];
  /** The lock key (`pair` null when absent) and the index a blocking read of it waits from. */
  readonly lockKey: KnownKey;
}

/**
 * Joining: lock our entry, and read the queue and the lock key in the same transaction. With
 * `fresh`, the entry is deleted first, so its CreateIndex (our place) is this transaction's: a
 * hand-over marker of ours left behind must not keep an old place.
 */
export function joinOps(key: string, sessionId: string, value: Buffer | null, fresh = false): TxnKVOp[] {
  const entry = fairEntryKey(key, sessionId);
  return [...(fresh ? [{ verb: 'delete', key: entry } as const] : []), { verb: 'lock', key: entry, value, session: sessionId }, ...lookOps(key)];
}

/**
 * Looking again (read-only): the queue and the lock key, atomically, with one `get-tree` on the
 * key itself — the tree of `<key>` holds the key and `<key>.fair/…` (and any other key that
 * merely starts with the same text, which {@link queueView} ignores). A plain `get` would fail the
 * whole transaction when the key is absent, and `get-or-empty` needs Consul 1.14.
 */
export function lookOps(key: string): TxnKVOp[] {
  return [{ verb: 'get-tree', key }];
}

/** Reads the answer of {@link joinOps} or {@link lookOps}. */
export function queueView(key: string, result: Pick<TxnResult, 'results'>): QueueView {
  const prefix = fairQueuePrefix(key);
  const byKey = new Map<string, KVPair>();
  let lock: KVPair | null = null;
  for (const r of result.results) {
    if (r.key === key) lock = r;
    else if (r.key.startsWith(prefix)) byKey.set(r.key, r);
  }
  return { entries: [...byKey.values()], lockKey: { pair: lock, index: lock ? BigInt(lock.modifyIndex) : 0n } };
}

/** The entry of `sessionId`'s predecessor: the newest live entry created before ours; none when we are first. */
export function predecessor(view: QueueView, key: string, sessionId: string): KVPair | undefined {
  const mine = view.entries.find((e) => e.key === fairEntryKey(key, sessionId));
  if (!mine) return undefined;
  let best: KVPair | undefined;
  for (const e of view.entries) {
    if (e === mine || !isLive(e) || !before(e, mine)) continue;
    if (!best || before(best, e)) best = e;
  }
  return best;
}

/**
 * The waiter a holder hands the key to: the oldest live entry other than its own (nobody live is
 * ahead of a fair holder, so that is the one just behind it). None when nobody waits.
 */
export function heir(view: QueueView, key: string, sessionId: string): KVPair | undefined {
  const mine = fairEntryKey(key, sessionId);
  let best: KVPair | undefined;
  for (const e of view.entries) {
    if (e.key === mine || !isLive(e)) continue;
    if (!best || before(e, best)) best = e;
  }
  return best;
}

/** The hand-over of a lock from `holderId` to `heirEntry` (see the module's "Hand-over"). */
export function handOverOps(key: string, holderId: string, holderValue: Buffer | null, heirEntry: KVPair): TxnKVOp[] {
  const heirId = heirEntry.session as string;
  return [
    { verb: 'check-index', key: heirEntry.key, index: heirEntry.modifyIndex },
    { verb: 'unlock', key, value: holderValue, flags: LOCK_FLAG_VALUE, session: holderId },
    { verb: 'lock', key, value: heirEntry.value, flags: LOCK_FLAG_VALUE, session: heirId },
    { verb: 'unlock', key: fairEntryKey(key, holderId), value: Buffer.from(heirId, 'utf8'), flags: FAIR_HANDED_FLAG, session: holderId },
  ];
}

/** Whether a read of a predecessor's entry shows it handed the lock to `sessionId` (then its ModifyIndex is our fencing token). */
export function handedTo(now: KVPair | null, sessionId: string): now is KVPair {
  return now !== null && now.session === undefined && now.flags === FAIR_HANDED_FLAG && now.value?.toString('utf8') === sessionId;
}

/** Dead entries (no session) created before ours: to be deleted by us. */
export function deadAhead(view: QueueView, key: string, sessionId: string): KVPair[] {
  const mine = view.entries.find((e) => e.key === fairEntryKey(key, sessionId));
  return view.entries.filter((e) => !isLive(e) && (!mine || before(e, mine)));
}

/** Whether anybody live is in line (a fair `tryAcquire` does not overtake them). */
export function anyoneWaiting(view: QueueView): boolean {
  return view.entries.some(isLive);
}

/** A live entry is locked by the session named in its key. */
export function isLive(entry: KVPair): boolean {
  return entry.session !== undefined && entry.key.endsWith(`/${entry.session}`);
}

/** Queue order: CreateIndex, then key (two entries created by one transaction). */
function before(a: KVPair, b: KVPair): boolean {
  return a.createIndex < b.createIndex || (a.createIndex === b.createIndex && a.key < b.key);
}

/** Whether a read of a predecessor's entry shows it gone, dead, or replaced (its place is free). */
export function hasLeft(watched: KVPair, now: KVPair | null): boolean {
  return now === null || now.session !== watched.session || now.createIndex !== watched.createIndex;
}
