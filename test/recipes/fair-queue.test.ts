/** The fair lock's queue as pure functions: who is ahead of whom, what is dead, what a transaction answer shows. */
import { describe, expect, it } from 'vitest';
import { anyoneWaiting, deadAhead, hasLeft, joinOps, lookOps, predecessor, queueView } from '../../src/recipes/lock/fair-queue.js';
import { acquireOps } from '../../src/recipes/lock/lock-key.js';
import { LOCK_FLAG_VALUE } from '../../src/recipes/hold/keys.js';
import type { KVPair } from '../../src/transport/kv.js';

const KEY = 'locks/orders';
const A = 'aaaaaaaa-0000-0000-0000-000000000000';
const B = 'bbbbbbbb-0000-0000-0000-000000000000';
const C = 'cccccccc-0000-0000-0000-000000000000';

function entry(session: string, createIndex: number, live = true): KVPair {
  return { key: `${KEY}.fair/${session}`, value: null, flags: 0n, session: live ? session : undefined, lockIndex: 1, createIndex, modifyIndex: createIndex };
}

function lockKey(session?: string): KVPair {
  return { key: KEY, value: null, flags: LOCK_FLAG_VALUE, session, lockIndex: 1, createIndex: 3, modifyIndex: 9 };
}

describe('queueView', () => {
  it('splits a get-tree of the key into the lock key and the entries, ignoring keys that only share the prefix', () => {
    const other: KVPair = { ...lockKey(), key: `${KEY}-archive/x` };
    const view = queueView(KEY, { results: [entry(A, 10), lockKey(B), other, entry(B, 11)] });
    expect(view.lockKey).toEqual({ pair: lockKey(B), index: 9n });
    expect(view.entries.map((e) => e.key)).toEqual([`${KEY}.fair/${A}`, `${KEY}.fair/${B}`]);
  });

  it('shows an absent lock key as null, to be read from index 0', () => {
    expect(queueView(KEY, { results: [entry(A, 10)] }).lockKey).toEqual({ pair: null, index: 0n });
  });
});

describe('predecessor', () => {
  const view = (...entries: KVPair[]) => ({ entries, lockKey: { pair: null, index: 0n } });

  it('is the newest live entry created before ours', () => {
    expect(predecessor(view(entry(A, 10), entry(B, 11), entry(C, 12)), KEY, C)?.key).toBe(`${KEY}.fair/${B}`);
    expect(predecessor(view(entry(C, 12), entry(A, 10), entry(B, 11)), KEY, B)?.key).toBe(`${KEY}.fair/${A}`);
  });

  it('is none for the first in line, and skips dead entries ahead', () => {
    expect(predecessor(view(entry(A, 10), entry(B, 11)), KEY, A)).toBeUndefined();
    expect(predecessor(view(entry(A, 10), entry(B, 11, false), entry(C, 12)), KEY, C)?.key).toBe(`${KEY}.fair/${A}`);
    expect(deadAhead(view(entry(A, 10), entry(B, 11, false), entry(C, 12)), KEY, C).map((e) => e.key)).toEqual([`${KEY}.fair/${B}`]);
  });

  it('counts an entry locked by a session other than the one it is named after as dead', () => {
    const odd = { ...entry(A, 10), session: B };
    expect(predecessor(view(odd, entry(C, 12)), KEY, C)).toBeUndefined();
    expect(anyoneWaiting(view(odd))).toBe(false);
    expect(anyoneWaiting(view(odd, entry(C, 12)))).toBe(true);
  });
});

describe('hasLeft', () => {
  it('is true when the watched entry is gone, unlocked or re-created; false when only its value changed', () => {
    const watched = entry(A, 10);
    expect(hasLeft(watched, null)).toBe(true);
    expect(hasLeft(watched, { ...watched, session: undefined, modifyIndex: 14 })).toBe(true);
    expect(hasLeft(watched, { ...watched, createIndex: 20, modifyIndex: 20 })).toBe(true);
    expect(hasLeft(watched, { ...watched, value: Buffer.from('x'), modifyIndex: 15 })).toBe(false);
  });
});

describe('the transactions', () => {
  it('join: lock our entry with our session, then the tree of the key', () => {
    expect(joinOps(KEY, A, null)).toEqual([
      { verb: 'lock', key: `${KEY}.fair/${A}`, value: null, session: A },
      { verb: 'get-tree', key: KEY },
    ]);
    expect(lookOps(KEY)).toEqual([{ verb: 'get-tree', key: KEY }]);
  });

  it('acquire: take the key as read — absent, or unchanged since its ModifyIndex — with the lock flags', () => {
    const lock = { verb: 'lock', key: KEY, value: null, flags: LOCK_FLAG_VALUE, session: A };
    expect(acquireOps(KEY, null, A, {})).toEqual([{ verb: 'check-not-exists', key: KEY }, lock]);
    expect(acquireOps(KEY, null, A, { modifyIndex: 9 })).toEqual([{ verb: 'check-index', key: KEY, index: 9 }, lock]);
  });
});
