/**
 * What a snapshot of a read-write lock prefix means, as pure functions (tested without a server).
 *
 * Every contender has one key `P/<session>` (flags {@link RWLOCK_FLAG_VALUE}, value
 * `{"mode":"read"}` or `{"mode":"write"}`), locked by its own session. Contenders are served in
 * the order their keys were created (CreateIndex), as in ZooKeeper's read-write lock recipe:
 * - a writer holds when its key is the first one;
 * - a reader holds when no writer's key comes before its own.
 * So a reader that arrives after a waiting writer queues behind it: a stream of readers cannot
 * starve a writer. Keys without a session (their session ended with `Behavior: release`, or an
 * operator's copy) are not contenders.
 */
import type { KVPair } from '../../transport/index.js';

/** Marks the contender keys of a read-write lock; anything else under the prefix is a conflict. */
export const RWLOCK_FLAG_VALUE = 0x72776c6f636b0001n;

export type RwMode = 'read' | 'write';

export function encodeMode(mode: RwMode): Buffer {
  return Buffer.from(JSON.stringify({ mode }), 'utf8');
}

export function decodeMode(pair: KVPair): RwMode | undefined {
  try {
    const mode = (JSON.parse(pair.value?.toString('utf8') ?? '') as { mode?: unknown }).mode;
    return mode === 'read' || mode === 'write' ? mode : undefined;
  } catch {
    return undefined;
  }
}

export type RwObservation =
  /** Our key is not there (not written yet, or deleted): write it. */
  | { readonly kind: 'absent' }
  /** Ours to hold: the fencing token is our key's CreateIndex. */
  | { readonly kind: 'granted'; readonly createIndex: number }
  /** Somebody ahead of us blocks us. */
  | { readonly kind: 'blocked'; readonly by: string }
  /** A key under the prefix that is not a read-write lock contender. */
  | { readonly kind: 'conflict'; readonly key: string };

/** Classifies a listing of `prefix/` for the contender whose session is `sessionId`. */
export function observeRwLock(pairs: readonly KVPair[], prefix: string, sessionId: string, mode: RwMode): RwObservation {
  const line: Array<{ pair: KVPair; mode: RwMode }> = [];
  for (const pair of pairs) {
    if (pair.key.slice(prefix.length + 1).includes('/')) continue;
    if (pair.flags !== RWLOCK_FLAG_VALUE) return { kind: 'conflict', key: pair.key };
    const m = decodeMode(pair);
    if (m === undefined) return { kind: 'conflict', key: pair.key };
    if (pair.session !== undefined) line.push({ pair, mode: m });
  }
  line.sort((a, b) => a.pair.createIndex - b.pair.createIndex);
  const at = line.findIndex((e) => e.pair.key === `${prefix}/${sessionId}` && e.pair.session === sessionId);
  if (at === -1) return { kind: 'absent' };
  const ahead = line.slice(0, at);
  const blocker = mode === 'write' ? ahead[0] : ahead.find((e) => e.mode === 'write');
  if (blocker) return { kind: 'blocked', by: blocker.pair.session as string };
  return { kind: 'granted', createIndex: (line[at] as { pair: KVPair }).pair.createIndex };
}

/** Why a held side is gone according to `pairs`, or undefined while it is ours. */
export function rwLossReason(pairs: readonly KVPair[], prefix: string, sessionId: string): string | undefined {
  const mine = pairs.find((p) => p.key === `${prefix}/${sessionId}`);
  if (mine === undefined) return 'the contender key was deleted';
  if (mine.session !== sessionId) return 'the contender key is no longer locked by our session';
  return undefined;
}
