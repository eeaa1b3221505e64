/**
 * KV table operations, rule for rule after agent/consul/state/kvs.go, kvs_ce.go and
 * graveyard.go. Each function runs inside a transaction at one index; the caller decides which
 * Raft write it belongs to.
 */
import type { ReadTx, WriteTx } from './store.js';
import { type DirEntry, type DirEntryInput, StateError, goQuote } from './types.js';

/** structs.DirEntry.Equal: LockIndex, Key, Flags, Value and Session (nil and empty bytes equal). */
export function entriesEqual(a: DirEntry, b: DirEntry): boolean {
  const av = a.Value ?? Buffer.alloc(0);
  const bv = b.Value ?? Buffer.alloc(0);
  return a.LockIndex === b.LockIndex && a.Key === b.Key && a.Flags === b.Flags && a.Session === b.Session && av.equals(bv);
}

/** st/kvs_ce.go kvsMaxIndex: the kvs and tombstones table indexes together. */
export function kvsMaxIndex(tx: ReadTx): number {
  return Math.max(tx.tableIndex('kvs'), tx.tableIndex('tombstones'));
}

/** kvsGetTxn: the entry (if any) and kvsMaxIndex. */
export function kvsGet(tx: ReadTx, key: string): { index: number; entry: DirEntry | undefined } {
  return { index: kvsMaxIndex(tx), entry: tx.get('kvs', key) };
}

/**
 * kvsListTxn: entries under a plain string prefix, with the index rule of §3.1: the largest
 * ModifyIndex among them, raised to the largest tombstone index under the prefix
 * (graveyard `GetMaxIndexTxn`); for the empty prefix the table index; the table index if that
 * is still 0.
 */
export function kvsList(tx: ReadTx, prefix: string): { index: number; entries: DirEntry[] } {
  const idx = kvsMaxIndex(tx);
  const entries = tx.prefix('kvs', prefix);
  let lindex = 0;
  for (const e of entries) lindex = Math.max(lindex, e.ModifyIndex);
  if (prefix !== '') {
    for (const stone of tx.prefix('tombstones', prefix)) lindex = Math.max(lindex, stone.Index);
  } else {
    lindex = idx;
  }
  return { index: lindex !== 0 ? lindex : idx, entries };
}

function normalize(entry: DirEntryInput): DirEntryInput {
  // An empty value is stored as nil bytes (kvs_endpoint.go KVSPut copies into a nil buffer).
  return entry.Value !== null && entry.Value.length === 0 ? { ...entry, Value: null } : entry;
}

/**
 * kvsSetTxn. Keeps the existing CreateIndex and, unless `updateSession`, the existing Session
 * (a plain PUT does not break a lock). LockIndex comes from the request as is. An entry equal
 * to the stored one is not written: no ModifyIndex bump, no watcher wake-up.
 * Returns the entry as stored (or as it would have been, for the echo in txn results).
 */
export function kvsSet(tx: WriteTx, input: DirEntryInput, updateSession: boolean): DirEntry {
  const entry = normalize(input);
  const existing = tx.get('kvs', entry.Key);
  const candidate: DirEntry = {
    LockIndex: entry.LockIndex ?? 0,
    Key: entry.Key,
    Flags: entry.Flags,
    Value: entry.Value,
    Session: updateSession ? entry.Session : (existing?.Session ?? ''),
    CreateIndex: existing ? existing.CreateIndex : tx.index,
    ModifyIndex: tx.index,
  };
  if (existing && entriesEqual(existing, candidate)) {
    return { ...candidate, ModifyIndex: existing.ModifyIndex };
  }
  tx.put('kvs', candidate.Key, candidate);
  return candidate;
}

/** kvsSetCASTxn: index 0 = create only if absent; N = only if ModifyIndex == N. */
export function kvsSetCAS(tx: WriteTx, entry: DirEntryInput): DirEntry | undefined {
  const cas = entry.ModifyIndex ?? 0;
  const existing = tx.get('kvs', entry.Key);
  if (cas === 0 && existing) return undefined;
  if (cas !== 0 && !existing) return undefined;
  if (existing && cas !== 0 && cas !== existing.ModifyIndex) return undefined;
  return kvsSet(tx, entry, false);
}

/**
 * kvsLockTxn. The lock-delay is not checked here: Consul checks it before Raft
 * (c/kvs_endpoint.go `kvsPreApply`), see `Store.lockDelayRemaining`.
 * Returns undefined when another session holds the key.
 */
export function kvsLock(tx: WriteTx, entry: DirEntryInput): DirEntry | undefined {
  if (entry.Session === '') throw new StateError('missing session');
  // Go's %#v of a string prints it double-quoted.
  if (!tx.get('sessions', entry.Session)) throw new StateError(`invalid session ${goQuote(entry.Session)}`);
  const existing = tx.get('kvs', entry.Key);
  let lockIndex: number;
  if (existing) {
    if (existing.Session === entry.Session) lockIndex = existing.LockIndex;
    else if (existing.Session !== '') return undefined;
    else lockIndex = existing.LockIndex + 1;
  } else {
    lockIndex = 1;
  }
  return kvsSet(tx, { ...entry, LockIndex: lockIndex }, true);
}

/** kvsUnlockTxn: only the holder may release; Value and Flags come from the request. */
export function kvsUnlock(tx: WriteTx, entry: DirEntryInput): DirEntry | undefined {
  if (entry.Session === '') throw new StateError('missing session');
  const existing = tx.get('kvs', entry.Key);
  if (!existing || existing.Session !== entry.Session) return undefined;
  return kvsSet(tx, { ...entry, Session: '', LockIndex: existing.LockIndex }, true);
}

/** Inserts a tombstone (graveyard `InsertTxn`). */
function bury(tx: WriteTx, key: string, tombstoneTtlMs: number): void {
  tx.put('tombstones', key, { Key: key, Index: tx.index, reapAt: tx.now + tombstoneTtlMs });
}

/** kvsDeleteTxn: a missing key is a no-op; otherwise delete and leave a tombstone. */
export function kvsDelete(tx: WriteTx, key: string, tombstoneTtlMs: number): void {
  if (!tx.get('kvs', key)) return;
  bury(tx, key, tombstoneTtlMs);
  tx.delete('kvs', key);
}

/** kvsDeleteCASTxn: true when deleted, or when the key is absent; false on index mismatch. */
export function kvsDeleteCAS(tx: WriteTx, key: string, cas: number, tombstoneTtlMs: number): boolean {
  const existing = tx.get('kvs', key);
  if (!existing || existing.ModifyIndex !== cas) return existing === undefined;
  kvsDelete(tx, key, tombstoneTtlMs);
  return true;
}

/**
 * kvsDeleteTreeTxn (kvs_ce.go): removes every key under the prefix and leaves ONE tombstone for
 * the prefix itself, none for the empty prefix ("all watchers on keys will see the max_index of
 * the tree").
 */
export function kvsDeleteTree(tx: WriteTx, prefix: string, tombstoneTtlMs: number): void {
  const entries = tx.prefix('kvs', prefix);
  if (entries.length === 0) return;
  for (const e of entries) tx.delete('kvs', e.Key);
  if (prefix !== '') bury(tx, prefix, tombstoneTtlMs);
}

/** kvsCheckSessionTxn. */
export function kvsCheckSession(tx: ReadTx, key: string, session: string): DirEntry {
  const e = tx.get('kvs', key);
  if (!e) throw new StateError(`failed to check session, key ${goQuote(key)} doesn't exist`);
  if (e.Session !== session) {
    throw new StateError(`failed session check for key ${goQuote(key)}, current session ${goQuote(e.Session)} != ${goQuote(session)}`);
  }
  return e;
}

/** kvsCheckIndexTxn. */
export function kvsCheckIndex(tx: ReadTx, key: string, index: number): DirEntry {
  const e = tx.get('kvs', key);
  if (!e) throw new StateError(`failed to check index, key ${goQuote(key)} doesn't exist`);
  if (e.ModifyIndex !== index) {
    throw new StateError(`failed index check for key ${goQuote(key)}, current modify index ${e.ModifyIndex} != ${index}`);
  }
  return e;
}

/**
 * Graveyard `ReapTxn`: removes tombstones whose TTL has passed. Returns whether any was removed.
 */
export function reapTombstones(tx: WriteTx, now: number): boolean {
  let reaped = false;
  for (const stone of tx.all('tombstones')) {
    if (stone.reapAt <= now) {
      tx.delete('tombstones', stone.Key);
      reaped = true;
    }
  }
  return reaped;
}
