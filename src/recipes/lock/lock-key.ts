/**
 * What a snapshot of a lock key means, as pure functions (tested without a server). The rules are
 * those of Consul's `api/lock.go`: a key with other flags is somebody else's data; a key with a
 * session is held; a key without one is free (an acquire may still be refused by lock-delay).
 */
import type { KVPair } from '../../transport/kv.js';
import { LOCK_FLAG_VALUE } from '../hold/keys.js';

export type LockObservation =
  /** No key, or a lock key nobody holds: try `?acquire`. */
  | { readonly kind: 'free' }
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
  if (pair.session === undefined) return { kind: 'free' };
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
