/**
 * The semaphore's coordination record and the decisions built on it, as pure functions.
 *
 * Layout (Consul `api/semaphore.go`): every contender locks `prefix/<session>` with its own
 * session; `prefix/.lock` holds `{"Limit":N,"Holders":{"<session>":true,…}}` and is only ever
 * changed with check-and-set. A holder whose session no longer locks any key under the prefix is
 * dead and is pruned by whoever writes the record next (`pruneDeadHolders`).
 */
import type { KVPair } from '../../transport/kv.js';
import type { TxnKVOp } from '../../transport/txn.js';
import { SEMAPHORE_FLAG_VALUE, contenderKey, semaphoreRecordKey } from '../hold/keys.js';

export interface SemaphoreRecord {
  /** The limit every contender must agree on. */
  readonly limit: number;
  /** Session IDs holding a slot. Go uses the map as a set: presence counts, not the value. */
  readonly holders: ReadonlySet<string>;
}

export type DecodeResult = { readonly ok: true; readonly record: SemaphoreRecord } | { readonly ok: false; readonly error: string };

/**
 * Decodes the `.lock` value as Go's `decodeLock` + `json.Unmarshal` would: an empty value is a
 * fresh record with our limit; field names match case-insensitively (Go prefers the exact name);
 * unknown fields are ignored; `Holders: null` is an empty set.
 */
export function decodeSemaphoreRecord(value: Buffer | null, localLimit: number): DecodeResult {
  if (value === null || value.length === 0) return { ok: true, record: { limit: localLimit, holders: new Set() } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `the record is not JSON (${(err as Error).message})` };
  }
  if (parsed === null) return { ok: true, record: { limit: 0, holders: new Set() } };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, error: 'the record is not a JSON object' };
  const obj = parsed as Record<string, unknown>;
  const limit = goField(obj, 'Limit');
  const holders = goField(obj, 'Holders');
  if (limit !== undefined && limit !== null && !(typeof limit === 'number' && Number.isSafeInteger(limit))) {
    return { ok: false, error: `"Limit" is not an integer: ${JSON.stringify(limit)}` };
  }
  if (holders !== undefined && holders !== null && (typeof holders !== 'object' || Array.isArray(holders))) {
    return { ok: false, error: '"Holders" is not an object' };
  }
  const set = new Set<string>();
  for (const [id, flag] of Object.entries((holders ?? {}) as Record<string, unknown>)) {
    if (typeof flag !== 'boolean' && flag !== null) return { ok: false, error: `holder ${JSON.stringify(id)} is not a boolean` };
    set.add(id);
  }
  return { ok: true, record: { limit: typeof limit === 'number' ? limit : 0, holders: set } };
}

/** encoding/json matches a struct field exactly first, then case-insensitively. */
function goField(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  const key = Object.keys(obj).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : obj[key];
}

/**
 * Encodes the record byte for byte as Go's `json.Marshal(semaphoreLock)`: field order Limit,
 * Holders; map keys sorted; every value `true`.
 */
export function encodeSemaphoreRecord(record: SemaphoreRecord): string {
  const holders = [...record.holders].sort(compareBytes).map((id) => `${JSON.stringify(id)}:true`);
  return `{"Limit":${record.limit},"Holders":{${holders.join(',')}}}`;
}

/** Go sorts map keys by their bytes. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Drops holders whose session locks no key in `pairs` (Go's `pruneDeadHolders`). */
export function pruneDeadHolders(record: SemaphoreRecord, pairs: readonly KVPair[]): SemaphoreRecord {
  const alive = new Set<string>();
  for (const pair of pairs) if (pair.session !== undefined) alive.add(pair.session);
  const holders = new Set([...record.holders].filter((id) => alive.has(id)));
  return holders.size === record.holders.size ? record : { limit: record.limit, holders };
}

export function withHolder(record: SemaphoreRecord, sessionId: string): SemaphoreRecord {
  return { limit: record.limit, holders: new Set([...record.holders, sessionId]) };
}

export function withoutHolder(record: SemaphoreRecord, sessionId: string): SemaphoreRecord {
  const holders = new Set(record.holders);
  holders.delete(sessionId);
  return { limit: record.limit, holders };
}

export interface SemaphoreView {
  /** Normalised prefix (no trailing slash). */
  readonly prefix: string;
  readonly sessionId: string;
  readonly limit: number;
}

export type SemaphoreObservation =
  /** Wrong flags, undecodable record or a different limit: `LockConflictError`. */
  | { readonly kind: 'conflict'; readonly message: string }
  /** Our contender key is missing or not locked by our session: (re)create it before competing. */
  | { readonly kind: 'no-contender' }
  /** We are listed as a live holder (our CAS landed, or a retry found it did). */
  | { readonly kind: 'holding'; readonly record: SemaphoreRecord; readonly recordIndex: number }
  /**
   * Every slot is taken by a live holder: wait for the prefix to change. `ahead`: waiting
   * contenders that arrived before us (computed only with `queue`, else 0).
   */
  | { readonly kind: 'full'; readonly record: SemaphoreRecord; readonly ahead: number }
  /** Slots are free but contenders that arrived earlier take them first: wait for the prefix to change. */
  | { readonly kind: 'queued'; readonly record: SemaphoreRecord; readonly ahead: number }
  /** A slot is free: CAS `record + us` against `recordIndex` (0: the record does not exist yet). */
  | { readonly kind: 'free'; readonly record: SemaphoreRecord; readonly recordIndex: number };

/**
 * Classifies a listing of `prefix/` for one contender (Go's acquire loop, one pass).
 *
 * One addition to Go's rules: when `queue` is on, free slots go to the waiting contenders in
 * arrival order (their contender keys' CreateIndex), so only the first `limit - holders` of them
 * try the CAS. Go's contenders try whenever a slot is free, so every waiter wakes and all but one
 * lose the CAS race — O(waiters) writes per freed slot. Go contenders are unaffected (they still
 * compete and may overtake); the caller bounds how long it defers (see SemaphoreAttempt).
 */
export function observeSemaphore(pairs: readonly KVPair[], view: SemaphoreView, { queue = false } = {}): SemaphoreObservation {
  const recordKey = semaphoreRecordKey(view.prefix);
  const recordPair = pairs.find((p) => p.key === recordKey);
  if (recordPair && recordPair.flags !== SEMAPHORE_FLAG_VALUE) {
    return { kind: 'conflict', message: `${recordKey} has flags 0x${recordPair.flags.toString(16)}, not the semaphore flag` };
  }
  const decoded = decodeSemaphoreRecord(recordPair?.value ?? null, view.limit);
  if (!decoded.ok) return { kind: 'conflict', message: `${recordKey}: ${decoded.error}` };
  if (decoded.record.limit !== view.limit) {
    return { kind: 'conflict', message: `semaphore limit conflict (record: ${decoded.record.limit}, local: ${view.limit})` };
  }
  const mine = pairs.find((p) => p.key === contenderKey(view.prefix, view.sessionId));
  if (!mine || mine.session !== view.sessionId) return { kind: 'no-contender' };
  const record = pruneDeadHolders(decoded.record, pairs);
  const recordIndex = recordPair?.modifyIndex ?? 0;
  if (record.holders.has(view.sessionId)) return { kind: 'holding', record, recordIndex };
  const ahead = queue ? waitingContenders(pairs, view.prefix, record).indexOf(view.sessionId) : 0;
  if (record.holders.size >= record.limit) return { kind: 'full', record, ahead };
  if (queue && ahead >= record.limit - record.holders.size) return { kind: 'queued', record, ahead };
  return { kind: 'free', record, recordIndex };
}

/**
 * Sessions of contenders waiting for a slot, in arrival order: contender keys (named after and
 * locked by their session) of sessions not among the holders, by CreateIndex.
 */
export function waitingContenders(pairs: readonly KVPair[], prefix: string, record: SemaphoreRecord): string[] {
  return pairs
    .filter((p) => p.session !== undefined && p.key === contenderKey(prefix, p.session) && !record.holders.has(p.session))
    .sort((a, b) => a.createIndex - b.createIndex || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((p) => p.session as string);
}

/**
 * Why a held slot is gone, or undefined while it is still ours. As in Go's `monitorLock`, the
 * slot is ours while the (pruned) record lists our session; we also name the usual causes.
 */
export function semaphoreLossReason(pairs: readonly KVPair[], view: SemaphoreView): string | undefined {
  const recordKey = semaphoreRecordKey(view.prefix);
  const recordPair = pairs.find((p) => p.key === recordKey);
  if (!recordPair) return `the semaphore record ${recordKey} was deleted`;
  const mine = pairs.find((p) => p.key === contenderKey(view.prefix, view.sessionId));
  if (!mine) return 'our contender key was deleted';
  if (mine.session !== view.sessionId) return 'our contender key is no longer locked by our session';
  const decoded = decodeSemaphoreRecord(recordPair.value, view.limit);
  if (!decoded.ok) return `the semaphore record can no longer be read: ${decoded.error}`;
  if (!decoded.record.holders.has(view.sessionId)) return 'our session was removed from the semaphore holders';
  return undefined;
}

/**
 * The listing as it will be once our contender key exists: ours is the newest entry (it is
 * created after everything listed). Lets a contender that has not entered yet decide whether it
 * may take a slot in the same transaction that enters.
 */
export function asIfEntered(pairs: readonly KVPair[], view: SemaphoreView): KVPair[] {
  const key = contenderKey(view.prefix, view.sessionId);
  const mine: KVPair = { key, value: null, flags: SEMAPHORE_FLAG_VALUE, session: view.sessionId, lockIndex: 1, createIndex: Number.MAX_SAFE_INTEGER, modifyIndex: Number.MAX_SAFE_INTEGER };
  return [...pairs.filter((p) => p.key !== key), mine];
}

/**
 * Taking a slot: CAS the record with us added, and in the same transaction our contender key.
 * Not entered yet: `lock` creates it (one request instead of Go's `?acquire` then CAS). Entered:
 * `unlock` + `lock` re-takes it, which bumps its LockIndex and so its ModifyIndex (Consul does not
 * re-write an entry that would not change, so a plain re-`lock` would not), and a fair waiter
 * blocked on our key learns we moved from waiting to holding. Nothing can come between the two
 * ops of one transaction, and an unlock sets no lock-delay.
 */
export function claimOps(view: SemaphoreView, value: Buffer | null, record: SemaphoreRecord, recordIndex: number, entered: boolean): TxnKVOp[] {
  const key = contenderKey(view.prefix, view.sessionId);
  const lock: TxnKVOp = { verb: 'lock', key, value, flags: SEMAPHORE_FLAG_VALUE, session: view.sessionId };
  return [
    ...(entered ? [{ verb: 'unlock', key, value, flags: SEMAPHORE_FLAG_VALUE, session: view.sessionId } satisfies TxnKVOp] : []),
    lock,
    { verb: 'cas', key: semaphoreRecordKey(view.prefix), value: encodeSemaphoreRecord(withHolder(record, view.sessionId)), flags: SEMAPHORE_FLAG_VALUE, index: recordIndex },
  ];
}

/**
 * Leaving: CAS the record without us and delete our contender key, in one transaction so no
 * reader sees one without the other. `record` and `recordIndex` come from the newest read we have.
 */
export function leaveOps(view: SemaphoreView, record: SemaphoreRecord, recordIndex: number): TxnKVOp[] {
  return [
    { verb: 'cas', key: semaphoreRecordKey(view.prefix), value: encodeSemaphoreRecord(withoutHolder(record, view.sessionId)), flags: SEMAPHORE_FLAG_VALUE, index: recordIndex },
    { verb: 'delete', key: contenderKey(view.prefix, view.sessionId) },
  ];
}

/** The record in `pairs` when it decodes and lists `sessionId`, with the index to CAS against. */
export function recordListing(pairs: readonly KVPair[], view: SemaphoreView): { record: SemaphoreRecord; recordIndex: number } | undefined {
  const recordPair = pairs.find((p) => p.key === semaphoreRecordKey(view.prefix));
  if (!recordPair || recordPair.flags !== SEMAPHORE_FLAG_VALUE) return undefined;
  const decoded = decodeSemaphoreRecord(recordPair.value, view.limit);
  if (!decoded.ok || !decoded.record.holders.has(view.sessionId)) return undefined;
  return { record: decoded.record, recordIndex: recordPair.modifyIndex };
}
