/**
 * The model behind `inspect`, without a server: which keys are locks, semaphores and elections,
 * how dead semaphore holders are told apart, where an age comes from, and how the table reads.
 */
import { describe, expect, it } from 'vitest';
import { formatAge, inspect, inspectionRows, renderTable } from '../../src/cli/inspect-model.js';
import { LOCK_FLAG_VALUE, SEMAPHORE_FLAG_VALUE } from '../../src/recipes/hold/keys.js';
import type { KVPair, SessionEntry } from '../../src/transport/index.js';

const NOW = Date.parse('2030-01-01T00:01:00Z');

function pair(key: string, fields: Partial<KVPair> = {}): KVPair {
  return { key, value: null, flags: 0n, session: undefined, lockIndex: 0, createIndex: 10, modifyIndex: 10, ...fields };
}

function session(id: string, name = `session ${id}`): SessionEntry {
  return { ID: id, Name: name, Node: 'n1', LockDelay: 15e9, Behavior: 'release', TTL: '15s', NodeChecks: null, ServiceChecks: null, CreateIndex: 1, ModifyIndex: 1 };
}

const info = (since: string, name?: string): Buffer => Buffer.from(JSON.stringify({ host: 'h', pid: 42, since, ...(name ? { name } : {}) }));

describe('inspect()', () => {
  it('recognises a held lock by its flag and takes the age from the holder info', () => {
    const result = inspect('p', [pair('p/jobs/.lock', { flags: LOCK_FLAG_VALUE, session: 's1', value: info('2030-01-01T00:00:00Z'), modifyIndex: 77 })], [session('s1')], NOW);
    expect(result.locks).toEqual([
      {
        key: 'p/jobs/.lock',
        modifyIndex: 77,
        holder: {
          sessionId: 's1',
          session: { id: 's1', name: 'session s1', node: 'n1', ttl: '15s', lockDelayMs: 15_000, behavior: 'release' },
          holder: { host: 'h', pid: 42, since: '2030-01-01T00:00:00Z' },
          ageMs: 60_000,
        },
      },
    ]);
  });

  it('leaves the age unknown for a holder that wrote no info, and says when the session is gone', () => {
    const result = inspect('p', [pair('p/a', { flags: LOCK_FLAG_VALUE, session: 'gone', value: Buffer.from('go') })], [], NOW);
    expect(result.locks[0]?.holder).toEqual({ sessionId: 'gone', session: undefined, holder: undefined, ageMs: null });
    expect(inspectionRows(result)[0]).toEqual(['lock', 'p/a', 'held (token 10)', 'gone', '-', 'gone', '?', '(session gone)']);
  });

  it('splits a semaphore into live holders, waiters in arrival order and stale holders', () => {
    const record = Buffer.from(JSON.stringify({ Limit: 2, Holders: { s1: true, dead: true } }));
    const result = inspect(
      'p',
      [
        pair('p/sem/.lock', { flags: SEMAPHORE_FLAG_VALUE, value: record }),
        pair('p/sem/s1', { flags: SEMAPHORE_FLAG_VALUE, session: 's1', value: info('2030-01-01T00:00:30Z', 'one') }),
        pair('p/sem/s3', { flags: SEMAPHORE_FLAG_VALUE, session: 's3', createIndex: 30 }),
        pair('p/sem/s2', { flags: SEMAPHORE_FLAG_VALUE, session: 's2', createIndex: 20 }),
      ],
      [session('s1'), session('s2'), session('s3')],
      NOW,
    );
    const sem = result.semaphores[0];
    expect(sem?.limit).toBe(2);
    expect(sem?.holders.map((h) => [h.sessionId, h.ageMs])).toEqual([['s1', 30_000]]);
    expect(sem?.waiting.map((h) => h.sessionId)).toEqual(['s2', 's3']);
    expect(sem?.stale).toEqual(['dead']);
    expect(inspectionRows(result).map((r) => [r[2], r[7]])).toEqual([
      ['holder 1/2', 'one'],
      ['waiting #1', 'session s2'],
      ['waiting #2', 'session s3'],
      ['stale 1', 'dead holders, pruned by the next acquire'],
    ]);
  });

  it('reports a semaphore record it cannot read instead of guessing', () => {
    const result = inspect('p', [pair('p/sem/.lock', { flags: SEMAPHORE_FLAG_VALUE, value: Buffer.from('not json') })], [], NOW);
    expect(result.semaphores[0]).toMatchObject({ limit: null, holders: [], problem: expect.stringMatching(/not JSON/) });
  });

  it('treats a session-locked key without either flag as an election leader (token = CreateIndex) and counts plain data', () => {
    const result = inspect(
      'p',
      [pair('p/leader', { session: 's1', createIndex: 55, modifyIndex: 60, value: Buffer.from('{"id":"w1"}') }), pair('p/config', { value: Buffer.from('x') })],
      [session('s1')],
      NOW,
    );
    expect(result.elections).toMatchObject([{ key: 'p/leader', fencingToken: 55, value: '{"id":"w1"}', leader: { sessionId: 's1', ageMs: null } }]);
    expect(result.otherKeys).toBe(1);
    expect(inspectionRows(result)[0]?.[7]).toBe('{"id":"w1"}');
  });
});

describe('formatAge()', () => {
  it.each([
    [null, '?'],
    [1234, '1.2s'],
    [42_000, '42s'],
    [192_000, '3m12s'],
    [7_500_000, '2h05m'],
  ])('%j → %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});

describe('renderTable()', () => {
  it('aligns columns and trims trailing space', () => {
    expect(renderTable(['A', 'BB'], [['xxx', 'y'], ['z', '']])).toBe('A    BB\nxxx  y\nz');
  });
});
