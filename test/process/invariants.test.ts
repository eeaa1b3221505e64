/** The report checker used by the process tests must reject what it claims to rule out. */
import { describe, expect, it } from 'vitest';
import { checkOneLeaderAtATime, type WorkerReport } from './support.js';

const elected = (id: string, token: number, t: number): WorkerReport => ({ type: 'elected', id, token, sessionId: `s-${id}`, t });
const acting = (id: string, token: number, t: number): WorkerReport => ({ type: 'acting', id, token, t });
const deposed = (id: string, token: number, t: number): WorkerReport => ({ type: 'deposed', id, token, reason: 'session-lost', t, deadline: t });

describe('checkOneLeaderAtATime', () => {
  it('accepts terms that follow each other', () => {
    const reports = [elected('a', 10, 1), acting('a', 10, 2), acting('a', 10, 3), elected('b', 20, 4), acting('b', 20, 5), deposed('a', 10, 6)];
    expect(checkOneLeaderAtATime(reports)).toEqual([10, 20]);
  });

  it('rejects an old leader acting after a newer term began', () => {
    const reports = [elected('a', 10, 1), elected('b', 20, 4), acting('b', 20, 5), acting('a', 10, 6)];
    expect(() => checkOneLeaderAtATime(reports)).toThrow(/after token 20 was elected/);
  });

  it('rejects acting after its own deposed report, a token won twice, tokens going down, acting without winning', () => {
    expect(() => checkOneLeaderAtATime([elected('a', 10, 1), deposed('a', 10, 2), acting('a', 10, 3)])).toThrow(/after being deposed/);
    expect(() => checkOneLeaderAtATime([elected('a', 10, 1), elected('b', 10, 2)])).toThrow(/won twice/);
    expect(() => checkOneLeaderAtATime([elected('a', 20, 1), elected('b', 10, 2)])).toThrow(/do not increase/);
    expect(() => checkOneLeaderAtATime([elected('a', 10, 1), acting('b', 10, 2)])).toThrow(/won by a/);
  });
});
