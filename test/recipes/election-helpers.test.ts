/** The election's pure rules, without a server: key observations, transactions, refusals, observer sequences, states, options. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  campaignOps,
  classifyRefusal,
  decodeAuto,
  leaderChanges,
  leaderRecord,
  lockedEntry,
  observeLeaderKey,
  proclaimOps,
  resignOps,
  resolveLeaderDecoder,
  termLossReason,
  type LeaderRecord,
} from '../../src/recipes/election/leader-key.js';
import { resolveShutdownOptions } from '../../src/recipes/election/shutdown.js';
import { ELECTION_TRANSITIONS, canTransition, type ElectionState } from '../../src/recipes/election/state.js';
import { ELECTION_DEFAULTS, resolveElectionOptions } from '../../src/recipes/election/election.js';
import type { KVPair } from '../../src/transport/index.js';

const ME = 'me-session';
const OTHER = 'other-session';

function pair(over: Partial<KVPair> = {}): KVPair {
  return { key: 'e', value: null, flags: 0n, session: undefined, lockIndex: 1, createIndex: 10, modifyIndex: 12, ...over };
}

describe('reading the leader key', () => {
  it('classifies absent, leftover, ours and held', () => {
    expect(observeLeaderKey(null, ME)).toEqual({ kind: 'free' });
    expect(observeLeaderKey(pair(), ME)).toEqual({ kind: 'stale', modifyIndex: 12 });
    expect(observeLeaderKey(pair({ session: ME }), ME)).toMatchObject({ kind: 'ours' });
    expect(observeLeaderKey(pair({ session: OTHER }), ME)).toEqual({ kind: 'held', holder: OTHER });
  });

  it('says why a term is over, and nothing while the key carries our session (whatever its value)', () => {
    expect(termLossReason(pair({ session: ME, value: Buffer.from('new') }), ME)).toBeUndefined();
    expect(termLossReason(null, ME)).toMatch(/deleted/);
    expect(termLossReason(pair(), ME)).toMatch(/lost its session/);
    expect(termLossReason(pair({ session: OTHER }), ME)).toMatch(new RegExp(`taken by session ${OTHER}`));
  });

  it('reads a leader only from a key that carries a session; its token is the CreateIndex', () => {
    expect(leaderRecord(null)).toBeNull();
    expect(leaderRecord(pair())).toBeNull();
    expect(leaderRecord(pair({ session: OTHER, value: Buffer.from('x') }))).toEqual({ sessionId: OTHER, fencingToken: 10, raw: Buffer.from('x') });
  });
});

describe('transactions', () => {
  it('creates the key only when absent, or after deleting the leftover it saw', () => {
    const v = Buffer.from('v');
    expect(campaignOps('e', v, ME, { kind: 'free' })).toEqual([
      { verb: 'check-not-exists', key: 'e' },
      { verb: 'lock', key: 'e', value: v, session: ME },
    ]);
    expect(campaignOps('e', v, ME, { kind: 'stale', modifyIndex: 7 })).toEqual([
      { verb: 'delete-cas', key: 'e', index: 7 },
      { verb: 'lock', key: 'e', value: v, session: ME },
    ]);
  });

  it('proclaims and resigns only while the key carries our session', () => {
    expect(proclaimOps('e', null, ME)).toEqual([
      { verb: 'check-session', key: 'e', session: ME },
      { verb: 'set', key: 'e', value: null },
    ]);
    expect(resignOps('e', ME)).toEqual([
      { verb: 'check-session', key: 'e', session: ME },
      { verb: 'delete', key: 'e' },
    ]);
  });

  it('tells lock-delay, a vanished session and a conflict apart', () => {
    expect(classifyRefusal({ errors: [{ opIndex: 1, what: 'failed to lock key "e" due to lock delay' }] })).toBe('lock-delay');
    expect(classifyRefusal({ errors: [{ opIndex: 1, what: 'invalid session "abc"' }] })).toBe('session-gone');
    expect(classifyRefusal({ errors: [{ opIndex: 1, what: 'missing session' }] })).toBe('session-gone');
    expect(classifyRefusal({ errors: [{ opIndex: 0, what: 'key "e" exists' }] })).toBe('conflict');
    expect(classifyRefusal({ errors: [{ opIndex: 0, what: 'failed to delete key "e", index is stale' }] })).toBe('conflict');
  });

  it('finds the entry the lock op wrote', () => {
    const written = pair({ session: ME, createIndex: 20, modifyIndex: 20 });
    expect(lockedEntry({ results: [written] }, 'e')).toBe(written);
    expect(lockedEntry({ results: [] }, 'e')).toBeUndefined();
  });
});

describe('observer sequences', () => {
  const a: LeaderRecord = { sessionId: 'a', fencingToken: 10, raw: Buffer.from('A') };
  const a2: LeaderRecord = { ...a, raw: Buffer.from('A2') };
  const b: LeaderRecord = { sessionId: 'b', fencingToken: 20, raw: Buffer.from('B') };

  it('reports the first read as it is', () => {
    expect(leaderChanges(undefined, null)).toEqual([null]);
    expect(leaderChanges(undefined, a)).toEqual([a]);
  });

  it('reports nothing when nothing it reports changed', () => {
    expect(leaderChanges(null, null)).toEqual([]);
    expect(leaderChanges(a, { ...a, raw: Buffer.from('A') })).toEqual([]);
    expect(leaderChanges({ ...a, raw: null }, { ...a, raw: Buffer.alloc(0) })).toEqual([]);
  });

  it('reports a new value of the same term, the end of a term, and a new term', () => {
    expect(leaderChanges(a, a2)).toEqual([a2]);
    expect(leaderChanges(a, null)).toEqual([null]);
    expect(leaderChanges(null, b)).toEqual([b]);
  });

  it('puts null between two terms seen back to back', () => {
    expect(leaderChanges(a, b)).toEqual([null, b]);
    // Same session, new key (a caller-provided session campaigning again): a new term too.
    expect(leaderChanges(a, { ...a, fencingToken: 30 })).toEqual([null, { ...a, fencingToken: 30 }]);
  });
});

describe('decoding values', () => {
  it('decodes JSON, else text, else bytes; empty is null', () => {
    expect(decodeAuto(Buffer.from('{"id":"w1"}'))).toEqual({ id: 'w1' });
    expect(decodeAuto(Buffer.from('worker-1'))).toBe('worker-1');
    expect(decodeAuto(Buffer.alloc(0))).toBeNull();
    expect(decodeAuto(Buffer.from([0xff, 0xfe]))).toEqual(Buffer.from([0xff, 0xfe]));
  });

  it('accepts the named decoders and functions, and rejects anything else', () => {
    expect(resolveLeaderDecoder(undefined)).toBe(decodeAuto);
    expect(resolveLeaderDecoder('string')(Buffer.from('{}'), 'k')).toBe('{}');
    expect(resolveLeaderDecoder('json')(Buffer.from('{"a":1}'), 'k')).toEqual({ a: 1 });
    const fn = (raw: Buffer): number => raw.length;
    expect(resolveLeaderDecoder(fn)).toBe(fn);
    expect(() => resolveLeaderDecoder('yaml' as 'json')).toThrow(ConfigError);
  });
});

describe('states', () => {
  it('allows exactly the moves of the contract', () => {
    const states: ElectionState[] = ['idle', 'campaigning', 'leader', 'resigning', 'closed'];
    const allowed = states.flatMap((from) => states.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`));
    expect(allowed).toEqual([
      'idle→campaigning',
      'idle→closed',
      'campaigning→idle',
      'campaigning→leader',
      'leader→idle',
      'leader→resigning',
      'resigning→idle',
    ]);
    expect(ELECTION_TRANSITIONS.closed).toEqual([]);
  });
});

describe('options', () => {
  it('fills documented defaults; sessions delete the key when they die', () => {
    const o = resolveElectionOptions('elections/billing');
    expect(o.engine.sessionOptions).toMatchObject({
      ttlMs: ELECTION_DEFAULTS.ttlMs,
      lockDelayMs: ELECTION_DEFAULTS.lockDelayMs,
      behavior: 'delete',
      name: 'consul-recipes election',
    });
    expect(o.engine.sessionOptions.healthCheckTtlMs).toBeUndefined();
    expect(o.retryTimeMs).toBe(250);
    expect(o.value).toBeNull();
  });

  it('converts durations and values', () => {
    const o = resolveElectionOptions('e', { ttl: '10s', lockDelay: 0, healthCheckTtl: '2s', retryTime: '1s', waitTime: 500, value: { id: 1 } });
    expect(o.engine.sessionOptions).toMatchObject({ ttlMs: 10_000, lockDelayMs: 0, healthCheckTtlMs: 2_000 });
    expect(o.retryTimeMs).toBe(1000);
    expect(o.engine.waitMs).toBe(500);
    expect(o.value?.toString()).toBe('{"id":1}');
  });

  it('resolves shutdown options', () => {
    expect(resolveShutdownOptions(undefined)).toMatchObject({ signals: ['SIGTERM', 'SIGINT'], exit: true, exitCode: 0, timeoutMs: 10_000 });
    expect(resolveShutdownOptions(['SIGHUP'], { exit: false, timeout: '2s' })).toMatchObject({ signals: ['SIGHUP'], exit: false, timeoutMs: 2000 });
    expect(() => resolveShutdownOptions([])).toThrow(ConfigError);
    expect(() => resolveShutdownOptions(['SIGTERM'], { beforeExit: 'x' as unknown as () => void })).toThrow(ConfigError);
  });
});
