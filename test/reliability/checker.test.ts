/**
 * The checker must reject what it claims to rule out: each property is shown a recorded history
 * that breaks it (and a clean one it accepts), and a live trial with workers that ignore their
 * signal must be caught.
 */
import { describe, expect, it } from 'vitest';
import { checkHistory, formatViolations, type Violation } from './checker.js';
import { runTrial } from './harness.js';
import type { HistoryRecord, Line, Recipe } from './history.js';

const CONFIG = { pauseMs: 1000, progressBoundMs: 10_000 };

/** Numbers the records as a history file would. */
const lines = (...records: HistoryRecord[]): Line[] => records.map((r, i) => ({ ...r, line: i + 1 }));
const acquired = (w: string, recipe: Recipe, hold: string, token: number, t: number): HistoryRecord => ({ type: 'acquired', w, recipe, hold, token, session: `s-${hold}`, t });
const write = (w: string, recipe: Recipe, hold: string, token: number, tCheck: number, t = tCheck + 0.1): HistoryRecord => ({ type: 'write', w, recipe, hold, token, tCheck, t });
const released = (w: string, recipe: Recipe, hold: string, token: number, tCall: number): HistoryRecord => ({ type: 'released', w, recipe, hold, token, tCall, t: tCall + 5 });
const lost = (w: string, recipe: Recipe, hold: string, token: number, t: number, deadline = t): HistoryRecord => ({ type: 'lost', w, recipe, hold, token, t, deadline });
const store = (w: string, recipe: Recipe, hold: string, token: number, tCheck: number, t: number, accepted: boolean, highest: number): HistoryRecord => ({ type: 'store', w, recipe, hold, token, tCheck, t, accepted, highest });

const properties = (vs: Violation[]): string[] => [...new Set(vs.map((v) => v.property))].sort();

describe('checkHistory on recorded histories', () => {
  it('accepts holders that follow each other, a semaphore with two at once, and a refused paused write', () => {
    const h = lines(
      acquired('w1', 'lock', 'a', 10, 100),
      write('w1', 'lock', 'a', 10, 110),
      store('w1', 'lock', 'a', 10, 110, 130, true, 10),
      released('w1', 'lock', 'a', 10, 150),
      acquired('w2', 'lock', 'b', 20, 200),
      write('w2', 'lock', 'b', 20, 210),
      // w2 checks at 220, is SIGSTOPped, loses at its deadline 1100; w3 takes over and writes.
      write('w2', 'lock', 'b', 20, 220),
      acquired('w3', 'lock', 'c', 30, 3700),
      write('w3', 'lock', 'c', 30, 3710),
      store('w3', 'lock', 'c', 30, 3710, 3720, true, 30),
      lost('w2', 'lock', 'b', 20, 5000, 1100),
      store('w2', 'lock', 'b', 20, 220, 5001, false, 30),
      acquired('w4', 'semaphore', 's1', 40, 100),
      acquired('w5', 'semaphore', 's2', 41, 105),
      write('w4', 'semaphore', 's1', 40, 110),
      write('w5', 'semaphore', 's2', 41, 111),
      released('w4', 'semaphore', 's1', 40, 120),
      released('w5', 'semaphore', 's2', 41, 121),
    );
    const result = checkHistory(h, CONFIG);
    expect(result.violations).toEqual([]);
    expect(result.stats).toMatchObject({ writesChecked: 6, staleRefused: 1, pauseHazards: 1, storeWrites: 3 });
  });

  it('rejects two lock holders valid at one write, and three semaphore holders', () => {
    const lock = lines(acquired('w1', 'lock', 'a', 10, 100), acquired('w2', 'lock', 'b', 20, 150), write('w2', 'lock', 'b', 20, 160), write('w1', 'lock', 'a', 10, 170));
    const sem = lines(
      acquired('w1', 'semaphore', 'a', 10, 100),
      acquired('w2', 'semaphore', 'b', 11, 101),
      acquired('w3', 'semaphore', 'c', 12, 102),
      write('w3', 'semaphore', 'c', 12, 110),
    );
    expect(properties(checkHistory(lock, CONFIG).violations)).toContain('concurrency');
    const semViolations = checkHistory(sem, CONFIG).violations;
    expect(semViolations.map((v) => v.message)).toEqual(['semaphore: 3 holds valid at w3\'s write (limit 2)']);
  });

  it('accepts a holder killed right after an unrecorded release, and rejects one killed mid-hold but still written over', () => {
    // w1 resigned (unrecorded) and was killed; w2 took over 6 ms later: fine, w1 wrote nothing after 110.
    const released = lines(
      acquired('w1', 'election', 'w1/7/1', 10, 100),
      write('w1', 'election', 'w1/7/1', 10, 110),
      acquired('w2', 'election', 'w2/8/1', 20, 140),
      write('w2', 'election', 'w2/8/1', 20, 150),
      { type: 'gone', w: 'w1', pid: 7, code: null, signal: 'SIGKILL', expected: true, t: 160 },
    );
    expect(checkHistory(released, CONFIG).violations).toEqual([]);
    const overlapping = lines(
      acquired('w1', 'election', 'w1/7/1', 10, 100),
      acquired('w2', 'election', 'w2/8/1', 20, 140),
      write('w2', 'election', 'w2/8/1', 20, 150),
      write('w1', 'election', 'w1/7/1', 10, 155),
      { type: 'gone', w: 'w1', pid: 7, code: null, signal: 'SIGKILL', expected: true, t: 160 },
    );
    expect(properties(checkHistory(overlapping, CONFIG).violations)).toContain('concurrency');
  });

  it('rejects a write after its own lost line, or checked after its deadline', () => {
    const afterLine = lines(acquired('w1', 'lock', 'a', 10, 100), lost('w1', 'lock', 'a', 10, 200), write('w1', 'lock', 'a', 10, 150));
    const afterDeadline = lines(acquired('w1', 'election', 'a', 10, 100), write('w1', 'election', 'a', 10, 900), lost('w1', 'election', 'a', 10, 2000, 800));
    expect(properties(checkHistory(afterLine, CONFIG).violations)).toEqual(['write-after-lost']);
    expect(properties(checkHistory(afterDeadline, CONFIG).violations)).toEqual(['write-after-lost']);
  });

  it('rejects a newer holder writing before the old one learnt of its loss', () => {
    // w1's hold ended at its deadline 500, reported at 600; w2 wrote at 550, after acquiring at 520.
    const h = lines(acquired('w1', 'lock', 'a', 10, 100), write('w1', 'lock', 'a', 10, 110), acquired('w2', 'lock', 'b', 20, 520), write('w2', 'lock', 'b', 20, 550), lost('w1', 'lock', 'a', 10, 600, 700));
    expect(properties(checkHistory(h, CONFIG).violations)).toEqual(['concurrency', 'lost-first']);
  });

  it('rejects tokens that do not grow, and writes going back without a pause', () => {
    const tokens = lines(acquired('w1', 'election', 'a', 20, 100), released('w1', 'election', 'a', 20, 120), acquired('w2', 'election', 'b', 10, 200), released('w2', 'election', 'b', 10, 220));
    expect(properties(checkHistory(tokens, CONFIG).violations)).toEqual(['fencing']);
    // The store got token 10 after 20 with only 50 ms between check and arrival: no pause explains it.
    const back = lines(
      acquired('w1', 'lock', 'a', 10, 100),
      write('w1', 'lock', 'a', 10, 110),
      released('w1', 'lock', 'a', 10, 120),
      acquired('w2', 'lock', 'b', 20, 130),
      write('w2', 'lock', 'b', 20, 140),
      store('w2', 'lock', 'b', 20, 140, 145, true, 20),
      store('w1', 'lock', 'a', 10, 110, 160, false, 20),
      released('w2', 'lock', 'b', 20, 170),
    );
    const v = checkHistory(back, CONFIG).violations;
    expect(properties(v)).toEqual(['order']);
    expect(v[0]?.message).toMatch(/the store went back from token 20 to 10 with only 50 ms/);
  });

  it('rejects a store that accepted a stale write, or refused a current one', () => {
    const accepted = lines(store('w1', 'lock', 'a', 20, 100, 110, true, 20), store('w2', 'lock', 'b', 10, 50, 3000, true, 20));
    const refused = lines(store('w1', 'lock', 'a', 20, 100, 110, false, 20));
    expect(properties(checkHistory(accepted, CONFIG).violations)).toEqual(['fencing']);
    expect(properties(checkHistory(refused, CONFIG).violations)).toEqual(['fencing']);
  });

  it('rejects no progress after a heal, and workers that crashed or vanished', () => {
    const h = lines(
      { type: 'nemesis', id: 1, fault: 'partition', target: 'w1', detail: '', phase: 'start', t: 0 },
      { type: 'nemesis', id: 1, fault: 'partition', target: 'w1', detail: '', phase: 'heal', t: 100 },
      acquired('w1', 'lock', 'a', 10, 200),
      write('w1', 'lock', 'a', 10, 210),
      acquired('w2', 'semaphore', 'b', 11, 200),
      write('w2', 'semaphore', 'b', 11, 20_000),
      { type: 'crash', w: 'w3', message: 'TypeError: boom', t: 300 },
      { type: 'gone', w: 'w4', pid: 4, code: 13, signal: null, expected: false, t: 400 },
    );
    const v = checkHistory(h, CONFIG).violations;
    expect(v.map((x) => `${x.property}: ${x.message}`)).toEqual([
      'progress: semaphore: no write within 10000 ms after partition on w1 healed',
      'progress: election: no write within 10000 ms after partition on w1 healed',
      'crash: w3 crashed: TypeError: boom',
      'crash: w4 (pid 4) exited by itself mid-trial: code 13, signal null',
    ]);
  });

  it('prints the seed and the offending lines', () => {
    const h = lines(acquired('w1', 'lock', 'a', 10, 100), lost('w1', 'lock', 'a', 10, 200), write('w1', 'lock', 'a', 10, 150));
    const text = formatViolations(42, checkHistory(h, CONFIG).violations);
    expect(text).toContain('seed 42: 1 violation(s)');
    expect(text).toContain('line 3: {"type":"write","w":"w1"');
  });
});

describe('a worker that ignores its signal', () => {
  it(
    'is caught: it keeps writing after a pause past its TTL while a newer holder writes',
    async () => {
      // Two broken workers on the lock; the nemesis SIGSTOPs whichever holds it past its lease.
      const result = await runTrial({ seed: 4242, durationMs: 6_000, workers: 2, broken: ['w1', 'w2'], recipes: ['lock'], faults: ['pause'], pairChance: 0, maxWrites: 40 });
      const caught = result.violations.filter((v) => v.property === 'write-after-lost' || v.property === 'concurrency' || v.property === 'lost-first');
      expect(caught.length, formatViolations(result.seed, result.violations)).toBeGreaterThan(0);
      expect(result.stats.faults.pause).toBeGreaterThan(0);
    },
    120_000,
  );
});
