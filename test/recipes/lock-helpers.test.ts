/** The pure halves of Lock and Semaphore: key decisions, the `.lock` record, the state table. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { resolveAcquireOptions } from '../../src/recipes/hold/contender.js';
import {
  LOCK_FLAG_VALUE,
  SEMAPHORE_FLAG_VALUE,
  contenderKey,
  encodeLockValue,
  normalizePrefix,
  semaphoreRecordKey,
} from '../../src/recipes/hold/keys.js';
import { lockLossReason, observeLockKey } from '../../src/recipes/lock/lock-key.js';
import {
  decodeSemaphoreRecord,
  encodeSemaphoreRecord,
  observeSemaphore,
  pruneDeadHolders,
  semaphoreLossReason,
  waitingContenders,
  withHolder,
  withoutHolder,
} from '../../src/recipes/semaphore/record.js';
import { HOLD_TRANSITIONS, canTransition } from '../../src/recipes/hold/state.js';
import type { KVPair } from '../../src/transport/kv.js';

function pair(key: string, fields: Partial<KVPair> = {}): KVPair {
  return { key, value: null, flags: 0n, session: undefined, lockIndex: 0, createIndex: 1, modifyIndex: 1, ...fields };
}

const ME = '11111111-1111-1111-1111-111111111111';
const OTHER = '22222222-2222-2222-2222-222222222222';
const THIRD = '33333333-3333-3333-3333-333333333333';

describe('the flags', () => {
  it('are exactly the Go constants', () => {
    expect(LOCK_FLAG_VALUE.toString(16)).toBe('2ddccbc058a50c18');
    expect(SEMAPHORE_FLAG_VALUE.toString(16)).toBe('e0f69a2baa414de0');
    expect(LOCK_FLAG_VALUE.toString()).toBe('3304740253564472344');
    expect(SEMAPHORE_FLAG_VALUE.toString()).toBe('16210313421097356768');
  });
});

describe('observeLockKey', () => {
  it('sees a missing key and an unheld lock key as free', () => {
    expect(observeLockKey(null, ME)).toEqual({ kind: 'free' });
    expect(observeLockKey(pair('k', { flags: LOCK_FLAG_VALUE }), ME)).toMatchObject({ kind: 'free' });
  });

  it('tells our own hold from another session’s', () => {
    expect(observeLockKey(pair('k', { flags: LOCK_FLAG_VALUE, session: ME }), ME)).toEqual({ kind: 'ours' });
    expect(observeLockKey(pair('k', { flags: LOCK_FLAG_VALUE, session: OTHER }), ME)).toEqual({ kind: 'held', holder: OTHER });
  });

  it('reports a conflict for any other flags, held or not (Go: ErrLockConflict)', () => {
    expect(observeLockKey(pair('k', { flags: 0n }), ME)).toEqual({ kind: 'conflict', flags: 0n });
    expect(observeLockKey(pair('k', { flags: SEMAPHORE_FLAG_VALUE, session: OTHER }), ME).kind).toBe('conflict');
  });
});

describe('lockLossReason', () => {
  it('is undefined while the key carries our session, whatever else changed', () => {
    expect(lockLossReason(pair('k', { flags: LOCK_FLAG_VALUE, session: ME, modifyIndex: 99 }), ME)).toBeUndefined();
  });

  it('names deletion, release and takeover', () => {
    expect(lockLossReason(null, ME)).toMatch(/deleted/);
    expect(lockLossReason(pair('k', { flags: LOCK_FLAG_VALUE }), ME)).toMatch(/released/);
    expect(lockLossReason(pair('k', { flags: LOCK_FLAG_VALUE, session: OTHER }), ME)).toMatch(new RegExp(`taken by session ${OTHER}`));
  });
});

describe('encodeLockValue', () => {
  it('stores buffers and strings as they are and other values as JSON', () => {
    expect(encodeLockValue('value', undefined)).toBeNull();
    expect(encodeLockValue('value', null)).toBeNull();
    expect(encodeLockValue('value', Buffer.from([1, 2]))).toEqual(Buffer.from([1, 2]));
    expect(encodeLockValue('value', new Uint8Array([3]))).toEqual(Buffer.from([3]));
    expect(encodeLockValue('value', 'plain')?.toString()).toBe('plain');
    expect(encodeLockValue('value', { id: 'worker-1' })?.toString()).toBe('{"id":"worker-1"}');
  });

  it('throws ConfigError for values JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeLockValue('value', cyclic)).toThrow(ConfigError);
    expect(() => encodeLockValue('value', (() => 1) as unknown as object)).toThrow(ConfigError);
  });
});

describe('semaphore keys', () => {
  it('follow path.Join(prefix, …) as Go builds them', () => {
    expect(normalizePrefix('sem/db/')).toBe('sem/db');
    expect(normalizePrefix('sem/db//')).toBe('sem/db');
    expect(semaphoreRecordKey('sem/db')).toBe('sem/db/.lock');
    expect(contenderKey('sem/db', ME)).toBe(`sem/db/${ME}`);
  });
});

describe('the .lock record', () => {
  it('encodes byte for byte as Go’s json.Marshal (Limit first, sorted holders)', () => {
    const record = { limit: 3, holders: new Set([THIRD, ME, OTHER]) };
    expect(encodeSemaphoreRecord(record)).toBe(`{"Limit":3,"Holders":{"${ME}":true,"${OTHER}":true,"${THIRD}":true}}`);
    expect(encodeSemaphoreRecord({ limit: 1, holders: new Set() })).toBe('{"Limit":1,"Holders":{}}');
  });

  it('decodes what Go writes, and round-trips', () => {
    const text = `{"Limit":2,"Holders":{"${OTHER}":true}}`;
    const decoded = decodeSemaphoreRecord(Buffer.from(text), 2);
    expect(decoded).toEqual({ ok: true, record: { limit: 2, holders: new Set([OTHER]) } });
    if (decoded.ok) expect(encodeSemaphoreRecord(decoded.record)).toBe(text);
  });

  it('reads an empty value as a fresh record with our limit (Go: pair.Value == nil)', () => {
    expect(decodeSemaphoreRecord(null, 4)).toEqual({ ok: true, record: { limit: 4, holders: new Set() } });
  });

  it('accepts what encoding/json accepts: other case, unknown fields, null holders, false entries', () => {
    const decoded = decodeSemaphoreRecord(Buffer.from(`{"limit":2,"holders":{"${ME}":false},"Extra":1}`), 2);
    expect(decoded).toEqual({ ok: true, record: { limit: 2, holders: new Set([ME]) } });
    expect(decodeSemaphoreRecord(Buffer.from('{"Limit":2,"Holders":null}'), 2)).toEqual({ ok: true, record: { limit: 2, holders: new Set() } });
  });

  it('rejects what encoding/json rejects', () => {
    expect(decodeSemaphoreRecord(Buffer.from('not json'), 2).ok).toBe(false);
    expect(decodeSemaphoreRecord(Buffer.from('[1]'), 2).ok).toBe(false);
    expect(decodeSemaphoreRecord(Buffer.from('{"Limit":"2"}'), 2).ok).toBe(false);
    expect(decodeSemaphoreRecord(Buffer.from('{"Limit":1.5}'), 2).ok).toBe(false);
    expect(decodeSemaphoreRecord(Buffer.from('{"Limit":2,"Holders":{"x":1}}'), 2).ok).toBe(false);
  });

  it('adds and removes holders without touching the original', () => {
    const record = { limit: 2, holders: new Set([OTHER]) };
    expect([...withHolder(record, ME).holders].sort()).toEqual([ME, OTHER]);
    expect([...withoutHolder(record, OTHER).holders]).toEqual([]);
    expect([...record.holders]).toEqual([OTHER]);
  });
});

describe('pruneDeadHolders', () => {
  it('keeps holders whose session locks some key and drops the rest', () => {
    const record = { limit: 3, holders: new Set([ME, OTHER, THIRD]) };
    const pairs = [pair(`p/${ME}`, { session: ME }), pair(`p/${OTHER}`), pair('p/.lock')];
    expect([...pruneDeadHolders(record, pairs).holders]).toEqual([ME]);
  });
});

describe('observeSemaphore', () => {
  const view = { prefix: 'p', sessionId: ME, limit: 2 };
  const record = (holders: string[], limit = 2, modifyIndex = 7): KVPair =>
    pair('p/.lock', { flags: SEMAPHORE_FLAG_VALUE, modifyIndex, value: Buffer.from(encodeSemaphoreRecord({ limit, holders: new Set(holders) })) });
  const contender = (id: string): KVPair => pair(`p/${id}`, { flags: SEMAPHORE_FLAG_VALUE, session: id });

  it('asks for a contender key first', () => {
    expect(observeSemaphore([], view)).toEqual({ kind: 'no-contender' });
    expect(observeSemaphore([pair(`p/${ME}`, { flags: SEMAPHORE_FLAG_VALUE })], view)).toEqual({ kind: 'no-contender' });
  });

  it('finds a free slot when there is no record yet (CAS index 0: create only)', () => {
    const seen = observeSemaphore([contender(ME)], view);
    expect(seen).toMatchObject({ kind: 'free', recordIndex: 0 });
  });

  it('is full when live holders fill the limit, and frees slots of dead holders', () => {
    expect(observeSemaphore([record([OTHER, THIRD]), contender(ME), contender(OTHER), contender(THIRD)], view).kind).toBe('full');
    const seen = observeSemaphore([record([OTHER, THIRD]), contender(ME), contender(OTHER)], view);
    expect(seen).toMatchObject({ kind: 'free', recordIndex: 7 });
    if (seen.kind === 'free') expect([...seen.record.holders]).toEqual([OTHER]);
  });

  it('with queueing, leaves free slots to contenders that arrived earlier', () => {
    const early = (id: string, createIndex: number): KVPair => ({ ...contender(id), createIndex });
    const waiters = [early(OTHER, 3), early(THIRD, 4), early(ME, 5)];
    // Limit 1, one free slot: OTHER (created first) takes it; two contenders are ahead of us.
    expect(observeSemaphore([record([], 1), ...waiters], { ...view, limit: 1 }, { queue: true })).toMatchObject({ kind: 'queued', ahead: 2 });
    // Without queueing (tryAcquire, or out of patience) a free slot is free for anyone.
    expect(observeSemaphore([record([], 1), ...waiters], { ...view, limit: 1 }).kind).toBe('free');
    // Three free slots for three waiters: we are within reach.
    expect(observeSemaphore([record([], 3), ...waiters], { ...view, limit: 3 }, { queue: true }).kind).toBe('free');
  });

  it('counts only live, waiting contenders as ahead (not holders, not keys without a session)', () => {
    const rec = record([OTHER], 3);
    const pairs: KVPair[] = [
      rec,
      { ...contender(OTHER), createIndex: 2 },
      { ...pair(`p/${THIRD}`, { flags: SEMAPHORE_FLAG_VALUE }), createIndex: 3 },
      { ...contender(ME), createIndex: 4 },
    ];
    expect(waitingContenders(pairs, 'p', { limit: 3, holders: new Set([OTHER]) })).toEqual([ME]);
    expect(observeSemaphore(pairs, { ...view, limit: 3 }, { queue: true }).kind).toBe('free');
  });

  it('recognises that we already hold a slot', () => {
    expect(observeSemaphore([record([ME]), contender(ME)], view).kind).toBe('holding');
  });

  it('reports conflicts: wrong flags, undecodable record, other limit', () => {
    expect(observeSemaphore([pair('p/.lock', { flags: LOCK_FLAG_VALUE }), contender(ME)], view).kind).toBe('conflict');
    expect(observeSemaphore([pair('p/.lock', { flags: SEMAPHORE_FLAG_VALUE, value: Buffer.from('{') }), contender(ME)], view).kind).toBe('conflict');
    const other = observeSemaphore([record([], 3), contender(ME)], view);
    expect(other).toEqual({ kind: 'conflict', message: 'semaphore limit conflict (record: 3, local: 2)' });
  });
});

describe('semaphoreLossReason', () => {
  const view = { prefix: 'p', sessionId: ME, limit: 2 };
  const rec = (holders: string[]): KVPair =>
    pair('p/.lock', { flags: SEMAPHORE_FLAG_VALUE, value: Buffer.from(encodeSemaphoreRecord({ limit: 2, holders: new Set(holders) })) });
  const mine = pair(`p/${ME}`, { flags: SEMAPHORE_FLAG_VALUE, session: ME });

  it('is undefined while we are a listed holder with our contender key', () => {
    expect(semaphoreLossReason([rec([ME]), mine], view)).toBeUndefined();
  });

  it('names each way a permit ends', () => {
    expect(semaphoreLossReason([mine], view)).toMatch(/record .* deleted/);
    expect(semaphoreLossReason([rec([ME])], view)).toMatch(/contender key was deleted/);
    expect(semaphoreLossReason([rec([ME]), { ...mine, session: undefined }], view)).toMatch(/no longer locked/);
    expect(semaphoreLossReason([rec([OTHER]), mine], view)).toMatch(/removed from the semaphore holders/);
  });
});

describe('the state table', () => {
  it('allows the documented lifecycle and nothing out of a closed object', () => {
    expect(canTransition('idle', 'acquiring')).toBe(true);
    expect(canTransition('acquiring', 'held')).toBe(true);
    expect(canTransition('held', 'lost')).toBe(true);
    expect(canTransition('held', 'releasing')).toBe(true);
    expect(canTransition('releasing', 'idle')).toBe(true);
    expect(canTransition('lost', 'acquiring')).toBe(true);
    expect(canTransition('held', 'idle')).toBe(false);
    expect(canTransition('held', 'closed')).toBe(false);
    expect(HOLD_TRANSITIONS.closed).toEqual([]);
  });
});

describe('resolveAcquireOptions', () => {
  it('parses the timeout once and passes the signal through', () => {
    const controller = new AbortController();
    expect(resolveAcquireOptions({ timeout: '1m30s', signal: controller.signal })).toEqual({ timeoutMs: 90_000, signal: controller.signal });
    expect(resolveAcquireOptions(undefined)).toEqual({ timeoutMs: undefined, signal: undefined });
  });

  it('throws ConfigError naming the option', () => {
    expect(() => resolveAcquireOptions({ timeout: 'abc' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', option: 'timeout' }));
    expect(() => resolveAcquireOptions({ timeout: -1 })).toThrow(ConfigError);
    expect(() => resolveAcquireOptions({ signal: 'nope' as unknown as AbortSignal })).toThrow(expect.objectContaining({ option: 'signal' }));
  });
});
