/** The fair lock's queue as pure functions: who is ahead of whom, what is dead, what a transaction answer shows. */
import { describe, expect, it } from 'vitest';
import { anyoneWaiting, deadAhead, handOverOps, handedTo, hasLeft, heir, joinOps, lookOps, predecessor, queueView } from '../../src/recipes/lock/fair-queue.js';
import { acquireOps } from '../../src/recipes/lock/lock-key.js';
import { FAIR_HANDED_FLAG, LOCK_FLAG_VALUE } from '../../src/recipes/hold/keys.js';
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

describe('hand-over', () => {
  const view = (...entries: KVPair[]) => ({ entries, lockKey: { pair: lockKey(A), index: 9n } });

  it('the heir is the oldest live entry other than the holder’s, whatever the order of the answer', () => {
    expect(heir(view(entry(C, 12), entry(A, 10), entry(B, 11)), KEY, A)?.key).toBe(`${KEY}.fair/${B}`);
    expect(heir(view(entry(A, 10), entry(B, 11, false), entry(C, 12)), KEY, A)?.key).toBe(`${KEY}.fair/${C}`);
    // A marker (unlocked) is not a waiter.
    const marker: KVPair = { ...entry(B, 11, false), flags: FAIR_HANDED_FLAG, value: Buffer.from(A) };
    expect(heir(view(entry(A, 10), marker), KEY, A)).toBeUndefined();
    expect(heir(view(entry(A, 10)), KEY, A)).toBeUndefined();
  });

  it('one transaction: the heir’s entry unchanged, the key unlocked and locked for the heir with its value, the holder’s entry marked', () => {
    const next: KVPair = { ...entry(B, 11), value: Buffer.from('b'), modifyIndex: 14 };
    expect(handOverOps(KEY, A, Buffer.from('a'), next)).toEqual([
      { verb: 'check-index', key: `${KEY}.fair/${B}`, index: 14 },
      { verb: 'unlock', key: KEY, value: Buffer.from('a'), flags: LOCK_FLAG_VALUE, session: A },
      { verb: 'lock', key: KEY, value: Buffer.from('b'), flags: LOCK_FLAG_VALUE, session: B },
      { verb: 'unlock', key: `${KEY}.fair/${A}`, value: Buffer.from(B), flags: FAIR_HANDED_FLAG, session: A },
    ]);
  });

  it('a waiter reads a hand-over to itself only from an unlocked entry with the marker flags naming it', () => {
    const marker = (to: string, flags = FAIR_HANDED_FLAG): KVPair => ({ ...entry(A, 10, false), flags, value: Buffer.from(to), modifyIndex: 20 });
    expect(handedTo(marker(B), B)).toBe(true);
    expect(handedTo(marker(C), B)).toBe(false);
    expect(handedTo(marker(B, 0n), B)).toBe(false);
    expect(handedTo({ ...marker(B), session: A }, B)).toBe(false);
    expect(handedTo(null, B)).toBe(false);
    // To anybody else it is a predecessor that left.
    expect(hasLeft(entry(A, 10), marker(C))).toBe(true);
  });

  it('a join after a hand-over deletes our marker first, so our place is the join’s', () => {
    expect(joinOps(KEY, A, null, true).slice(0, 2)).toEqual([
      { verb: 'delete', key: `${KEY}.fair/${A}` },
      { verb: 'lock', key: `${KEY}.fair/${A}`, value: null, session: A },
    ]);
    expect(joinOps(KEY, A, null)[0]).toEqual({ verb: 'lock', key: `${KEY}.fair/${A}`, value: null, session: A });
  });
});
