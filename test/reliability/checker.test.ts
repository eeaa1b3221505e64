/**
 * The checker must reject what it claims to rule out: each property is shown a recorded history
 * that breaks it (and a clean one it accepts), and a live trial with workers that ignore their
 * signal must be caught.
 */
import { describe, expect, it } from 'vitest';
import { checkHistory, formatViolations, type Violation } from './checker.js';
import { runTrial } from './harness.js';
import type { HistoryRecord, HoldRecipe as Recipe, Line, Mode } from './history.js';

const CONFIG = { pauseMs: 1000, progressBoundMs: 10_000 };

/** Numbers the records as a history file would. */
const lines = (...records: HistoryRecord[]): Line[] => records.map((r, i) => ({ ...r, line: i + 1 }));
const acquired = (w: string, recipe: Recipe, hold: string, token: number, t: number): HistoryRecord => ({ type: 'acquired', w, recipe, hold, token, session: `s-${hold}`, t });
const write = (w: string, recipe: Recipe, hold: string, token: number, tCheck: number, t = tCheck + 0.1): HistoryRecord => ({ type: 'write', w, recipe, hold, token, tCheck, t });
const released = (w: string, recipe: Recipe, hold: string, token: number, tCall: number): HistoryRecord => ({ type: 'released', w, recipe, hold, token, tCall, t: tCall + 5 });
const lost = (w: string, recipe: Recipe, hold: string, token: number, t: number, deadline = t): HistoryRecord => ({ type: 'lost', w, recipe, hold, token, t, deadline });
const store = (w: string, recipe: Recipe, hold: string, token: number, tCheck: number, t: number, accepted: boolean, highest: number): HistoryRecord => ({ type: 'store', w, recipe, hold, token, tCheck, t, accepted, highest });

const holdOf = (w: string, mode: Mode, hold: string, token: number, t: number): HistoryRecord => ({ type: 'acquired', w, recipe: 'rwlock', hold, token, session: `s-${hold}`, t, mode });
const access = (w: string, mode: Mode, hold: string, token: number, tCheck: number, t = tCheck + 0.1): HistoryRecord => ({ type: mode, w, recipe: 'rwlock', hold, token, tCheck, t });
const put = (w: string, payload: string, t: number): HistoryRecord => ({ type: 'put', w, payload, id: `id-${payload}`, t });
const taken = (w: string, delivery: string, payload: string, attempt: number, t: number): HistoryRecord => ({ type: 'taken', w, delivery, id: `id-${payload}`, payload, attempt, t });
const acked = (w: string, delivery: string, payload: string, tCall: number, t = tCall + 5): HistoryRecord => ({ type: 'acked', w, delivery, id: `id-${payload}`, payload, tCall, t });
const nacked = (w: string, delivery: string, payload: string, tCall: number): HistoryRecord => ({ type: 'nacked', w, delivery, id: `id-${payload}`, payload, tCall, t: tCall + 5 });
const msgLost = (w: string, delivery: string, payload: string, t: number): HistoryRecord => ({ type: 'msg-lost', w, delivery, id: `id-${payload}`, t });
const queueEnd = (remaining: string[], dead: string[] = [], claimedBy?: string): HistoryRecord => ({
  type: 'queue-end',
  remaining: remaining.map((p) => ({ id: `id-${p}`, payload: p, ...(claimedBy ? { session: claimedBy } : {}) })),
  dead: dead.map((p) => ({ id: `id-${p}`, payload: p })),
  t: 100_000,
});

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
      'progress: rwlock: no write within 10000 ms after partition on w1 healed',
      'progress: queue: no ack within 10000 ms after partition on w1 healed',
      'crash: w3 crashed: TypeError: boom',
      'crash: w4 (pid 4) exited by itself mid-trial: code 13, signal null',
    ]);
  });

  describe('the read-write lock', () => {
    it('accepts readers together, a writer alone after them, and a stale read the store refused', () => {
      const h = lines(
        holdOf('w1', 'read', 'r1', 10, 100),
        holdOf('w2', 'read', 'r2', 11, 101),
        access('w1', 'read', 'r1', 10, 110),
        access('w2', 'read', 'r2', 11, 111),
        // Readers' accesses need not follow token order among themselves.
        access('w1', 'read', 'r1', 10, 112),
        store('w1', 'rwlock', 'r1', 10, 112, 113, true, 11),
        released('w1', 'rwlock', 'r1', 10, 120),
        released('w2', 'rwlock', 'r2', 11, 121),
        holdOf('w3', 'write', 'x', 12, 130),
        access('w3', 'write', 'x', 12, 140),
        store('w3', 'rwlock', 'x', 12, 140, 141, true, 12),
        released('w3', 'rwlock', 'x', 12, 150),
        // A reader checked at 160, was paused past its deadline; a writer wrote; its read arrives late.
        holdOf('w4', 'read', 'r4', 13, 155),
        access('w4', 'read', 'r4', 13, 160),
        holdOf('w5', 'write', 'y', 14, 3000),
        access('w5', 'write', 'y', 14, 3010),
        store('w5', 'rwlock', 'y', 14, 3010, 3011, true, 14),
        lost('w4', 'rwlock', 'r4', 13, 4000, 1160),
        { type: 'store', w: 'w4', recipe: 'rwlock', hold: 'r4', token: 13, tCheck: 160, t: 4001, accepted: false, highest: 14, mode: 'read' },
        released('w5', 'rwlock', 'y', 14, 3100),
      );
      const r = checkHistory(h, CONFIG);
      expect(r.violations).toEqual([]);
      expect(r.stats).toMatchObject({ rwlockHolds: { read: 3, write: 2 }, staleRefused: 1, pauseHazards: 1 });
    });

    it('rejects a writer with a reader, a reader with a writer, and two writers', () => {
      const writerOverReader = lines(holdOf('w1', 'read', 'r', 10, 100), holdOf('w2', 'write', 'x', 11, 110), access('w2', 'write', 'x', 11, 120));
      const readerOverWriter = lines(holdOf('w1', 'write', 'x', 10, 100), holdOf('w2', 'read', 'r', 11, 110), access('w2', 'read', 'r', 11, 120));
      const twoWriters = lines(holdOf('w1', 'write', 'x', 10, 100), holdOf('w2', 'write', 'y', 11, 110), access('w1', 'write', 'x', 10, 120));
      expect(checkHistory(writerOverReader, CONFIG).violations.map((v) => v.message)).toEqual(["rwlock: w2 wrote under a write hold while w1's read hold was valid"]);
      expect(checkHistory(readerOverWriter, CONFIG).violations.map((v) => v.message)).toEqual(["rwlock: w2 read under a read hold while w1's write hold was valid"]);
      expect(properties(checkHistory(twoWriters, CONFIG).violations)).toEqual(['concurrency']);
    });

    it("rejects a writer accessing before a lost reader learnt of its loss, and a read after the reader's own loss", () => {
      // The reader's hold ended at its deadline 500, noticed at 600; the writer wrote at 550.
      const early = lines(holdOf('w1', 'read', 'r', 10, 100), access('w1', 'read', 'r', 10, 110), holdOf('w2', 'write', 'x', 11, 520), access('w2', 'write', 'x', 11, 550), lost('w1', 'rwlock', 'r', 10, 600, 700));
      expect(properties(checkHistory(early, CONFIG).violations)).toEqual(['concurrency', 'lost-first']);
      const late = lines(holdOf('w1', 'read', 'r', 10, 100), lost('w1', 'rwlock', 'r', 10, 200), access('w1', 'read', 'r', 10, 150));
      expect(checkHistory(late, CONFIG).violations.map((v) => v.message)).toEqual(['w1 read under r (token 10) after losing it']);
    });

    it('rejects a read below a newer write without a pause, a store that accepted a stale read, and a writer token below a reader before it', () => {
      const back = lines(
        holdOf('w1', 'write', 'x', 20, 100),
        access('w1', 'write', 'x', 20, 110),
        released('w1', 'rwlock', 'x', 20, 120),
        holdOf('w2', 'read', 'r', 10, 130),
        access('w2', 'read', 'r', 10, 140),
        released('w2', 'rwlock', 'r', 10, 150),
      );
      expect(properties(checkHistory(back, CONFIG).violations)).toEqual(['fencing', 'order']);
      const stale = lines(
        { type: 'store', w: 'w1', recipe: 'rwlock', hold: 'x', token: 20, tCheck: 100, t: 110, accepted: true, highest: 20 },
        { type: 'store', w: 'w2', recipe: 'rwlock', hold: 'r', token: 10, tCheck: 50, t: 3000, accepted: true, highest: 20, mode: 'read' },
      );
      expect(checkHistory(stale, CONFIG).violations.map((v) => v.message)).toEqual(['rwlock: the store accepted stale token 10 after 20', 'rwlock: the store accepted a read with token 10 with 20 seen']);
    });
  });

  describe('the queue', () => {
    it('accepts re-deliveries after a loss and a nack, messages left in the queue or dead, and a refused late ack', () => {
      const h = lines(
        put('w1', 'a', 10),
        put('w1', 'b', 11),
        put('w1', 'c', 12),
        put('w1', 'd', 13),
        taken('w2', 'w2/2/1', 'a', 1, 100),
        msgLost('w2', 'w2/2/1', 'a', 1100),
        taken('w3', 'w3/3/1', 'a', 2, 3600),
        { type: 'settle-refused', w: 'w2', delivery: 'w2/2/1', id: 'id-a', how: 'ack', code: 'ERR_CLAIM_LOST', tCall: 4000, t: 4001 },
        acked('w3', 'w3/3/1', 'a', 3700),
        taken('w4', 'w4/4/1', 'b', 1, 200),
        nacked('w4', 'w4/4/1', 'b', 300),
        taken('w5', 'w5/5/1', 'b', 2, 310),
        acked('w5', 'w5/5/1', 'b', 400),
        // w1 took c and was killed: the drain takes it after w1's session ended.
        taken('w1', 'w1/1/2', 'c', 1, 500),
        { type: 'gone', w: 'w1', pid: 1, code: null, signal: 'SIGKILL', expected: true, t: 600 },
        taken('drain', 'drain/0/1', 'c', 2, 5000),
        acked('drain', 'drain/0/1', 'c', 5001),
        queueEnd([], ['d']),
      );
      const r = checkHistory(h, CONFIG);
      expect(r.violations).toEqual([]);
      expect(r.stats.queue).toMatchObject({ put: 4, delivered: 6, redelivered: 3, acked: 3, nacked: 1, settleRefused: 1, lost: 1, drained: 1, deadLetters: 1, remaining: 0 });
    });

    it('rejects a lost message, a double ack, an acked message still queued, a phantom, another ID, and a claim left at the end', () => {
      const q = (...records: HistoryRecord[]): string[] => checkHistory(lines(...records), CONFIG).violations.map((v) => `${v.property}: ${v.message}`);
      expect(q(put('w1', 'a', 10), put('w1', 'b', 11), taken('w2', 'd1', 'a', 1, 100), acked('w2', 'd1', 'a', 110), queueEnd([]))).toEqual(['queue-lost: message b was never delivered and is not in the queue']);
      expect(q(put('w1', 'a', 10), taken('w2', 'd1', 'a', 1, 100), queueEnd([]))).toEqual(['queue-lost: message a was acked 0 times and is neither in the queue nor a dead letter']);
      expect(q(put('w1', 'a', 10), taken('w2', 'd1', 'a', 1, 100), acked('w2', 'd1', 'a', 110), acked('w2', 'd1', 'a', 120), queueEnd([]))).toEqual(['queue-lost: message a was acked 2 times']);
      expect(q(put('w1', 'a', 10), taken('w2', 'd1', 'a', 1, 100), acked('w2', 'd1', 'a', 110), queueEnd(['a']))).toEqual(['queue-lost: message a was acked and is still in the queue']);
      expect(q(taken('w2', 'd1', 'x', 1, 100), acked('w2', 'd1', 'x', 110), queueEnd([]))).toEqual(['queue-lost: delivered x, which nobody put', 'queue-lost: acked x, which nobody put']);
      expect(q(put('w1', 'a', 10), { type: 'taken', w: 'w2', delivery: 'd1', id: 'other', payload: 'a', attempt: 1, t: 100 }, queueEnd(['a']))).toEqual(['queue-lost: delivered a under ID other, put as id-a']);
      expect(q(put('w1', 'a', 10), queueEnd(['a'], [], 'session-1'))).toEqual(['queue-claimed: message a (id-a) is still claimed by session session-1 at the end']);
    });

    it("rejects an ack that succeeded after its msg.signal aborted, or after the message was delivered again, and a delivery after an ack", () => {
      const q = (...records: HistoryRecord[]): string[] => checkHistory(lines(...records), CONFIG).violations.map((v) => `${v.property}: ${v.message}`);
      expect(q(put('w1', 'a', 10), taken('w2', 'd1', 'a', 1, 100), msgLost('w2', 'd1', 'a', 1100), acked('w2', 'd1', 'a', 1200), queueEnd([]))).toEqual([
        'queue-late-ack: w2 acked id-a after its msg.signal aborted, and the ack succeeded',
      ]);
      // w2 was cut off and lost its claim; w3 took and acked; w2's late ack "succeeded" too.
      expect(q(put('w1', 'a', 10), taken('w2', 'd1', 'a', 1, 100), msgLost('w2', 'd1', 'a', 1100), taken('w3', 'd2', 'a', 2, 3600), acked('w3', 'd2', 'a', 3700), acked('w2', 'd1', 'a', 900, 4000), queueEnd([]))).toEqual([
        'queue-lost: message a was acked 2 times',
        "queue-late-ack: w2's ack of id-a succeeded although w3 took it again before the ack resolved",
      ]);
      expect(q(put('w1', 'a', 10), taken('w2', 'd1', 'a', 1, 100), acked('w2', 'd1', 'a', 110), taken('w3', 'd2', 'a', 2, 200), queueEnd([]))).toEqual([
        'queue-redelivery: id-a was delivered again to w3 after w2\'s ack succeeded',
      ]);
    });

    it('rejects a re-delivery while the previous consumer had not learnt of its loss, unless it was SIGSTOPped', () => {
      const records = (paused: boolean): Line[] =>
        lines(
          put('w1', 'a', 10),
          taken('w2', 'w2/2/1', 'a', 1, 100),
          ...(paused
            ? [{ type: 'nemesis', id: 1, fault: 'pause', target: 'w2', detail: '', phase: 'start', t: 150 } as const, { type: 'nemesis', id: 1, fault: 'pause', target: 'w2', detail: '', phase: 'heal', t: 5000 } as const]
            : []),
          taken('w3', 'w3/3/1', 'a', 2, 3600),
          acked('w3', 'w3/3/1', 'a', 3700),
          msgLost('w2', 'w2/2/1', 'a', 5001),
          queueEnd([]),
        );
      expect(checkHistory(records(false), CONFIG).violations.map((v) => `${v.property}: ${v.message}`)).toEqual([
        'queue-redelivery: id-a was delivered to w3 while w2 still held it (no ack, nack, loss or exit recorded before)',
      ]);
      const paused = checkHistory(records(true), { ...CONFIG, progressUntil: 0 }); // the heal is not judged for progress here
      expect(paused.violations).toEqual([]);
      expect(paused.stats.queue.pauseHazards).toBe(1);
    });
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
