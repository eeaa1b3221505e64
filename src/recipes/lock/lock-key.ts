/**
 * What a snapshot of a lock key means, as pure functions (tested without a server). The rules are
 * those of Consul's `api/lock.go`: a key with other flags is somebody else's data; a key with a
 * session is held; a key without one is free (an acquire may still be refused by lock-delay).
 */
import type { KVPair } from '../../transport/kv.js';
import type { TxnKVOp } from '../../transport/txn.js';
import { LOCK_FLAG_VALUE } from '../hold/keys.js';

export type LockObservation =
  /**
   * No key (`modifyIndex` undefined), or a lock key nobody holds at `modifyIndex`: take it with
   * {@link acquireOps}.
   */
  | { readonly kind: 'free'; readonly modifyIndex?: number }
  /** Held by our own session already (a retried acquire landed, or a reclaim with a given session). */
  | { readonly kind: 'ours' }
  /** Held by another session: wait for the key to change. */
  | { readonly kind: 'held'; readonly holder: string }
  /** The key holds something that is not a lock (`ErrLockConflict` in Go). */
  | { readonly kind: 'conflict'; readonly flags: bigint };

/** Classifies a read of the lock key for a contender whose session is `sessionId`. */
export function observeLockKey(pair: KVPair | null, sessionId: string): LockObservation {
  if (pair === null) return { kind: 'free' };
  if (pair.flags !== LOCK_FLAG_VALUE) return { kind: 'conflict', flags: pair.flags };
  if (pair.session === undefined) return { kind: 'free', modifyIndex: pair.modifyIndex };
  if (pair.session === sessionId) return { kind: 'ours' };
  return { kind: 'held', holder: pair.session };
}

/**
 * Why a held lock is gone, or undefined while it is still ours. Like Go's `monitorLock`, only the
 * session on the key matters: a plain PUT that keeps the session (Consul preserves it) does not
 * end the hold.
 */
export function lockLossReason(pair: KVPair | null, sessionId: string): string | undefined {
  if (pair === null) return 'the lock key was deleted';
  if (pair.session === sessionId) return undefined;
  if (pair.session === undefined) return 'the lock key was released (session invalidated or released by another client)';
  return `the lock key was taken by session ${pair.session}`;
}

/**
 * The acquiring write: one transaction that takes the key exactly as it was read — absent
 * (`check-not-exists`) or unchanged since (`check-index`) — with the `lock` verb, which is the
 * state-store operation behind Go's `PUT ?acquire` (kvsLockTxn: same session check, same
 * LockIndex and Session rules, same lock-delay pre-check in txn_endpoint.go). Two things beyond
 * `?acquire`: the answer carries the entry as written, whose ModifyIndex is the fencing token (no
 * read needs to follow), and a key rewritten between our read and our write (say, with other
 * flags) is refused instead of overwritten.
 */
export function acquireOps(key: string, value: Buffer | null, sessionId: string, seen: { readonly modifyIndex?: number | undefined }): TxnKVOp[] {
  const lock: TxnKVOp = { verb: 'lock', key, value, flags: LOCK_FLAG_VALUE, session: sessionId };
  if (seen.modifyIndex === undefined) return [{ verb: 'check-not-exists', key }, lock];
  return [{ verb: 'check-index', key, index: seen.modifyIndex }, lock];
}
