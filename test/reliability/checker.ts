/**
 * The history checker of the nemesis suite. It judges a trial from its recorded history alone
 * (see history.ts); no timing threshold is involved except the two stated in {@link CheckerConfig}.
 *
 * Properties, per resource (the lock key, the semaphore prefix, the election key):
 * 1. **concurrency** — at the `tCheck` of every write, at most `limit` holds are valid, counting
 *    the writer's own. A hold is valid from its `acquired` time to its end: the `lost` moment
 *    (the earlier of the loss being noticed and the session's local deadline), the moment
 *    `release()` was called, or — for a worker killed without a word — its last write (its
 *    release may have landed unrecorded just before the kill); a hold that never ended in a
 *    process still running is valid to the end of the history.
 * 2. **order** — for the lock and the election, writes never go backwards in token order (by the
 *    time they happen; the store's arrivals likewise) unless the writer stalled between its check
 *    and its write for at least `pauseMs` (a whole TTL: only a pause does that). Those are the
 *    **pause hazard**, counted apart; every one that reached the fenced store must be refused.
 * 3. **lost first** — every lost hold's loss is recorded (its `lost` moment, as in 1) before any
 *    later holder's first write on that resource (lock and election).
 * 4. **no write after lost** — no write of a hold after its own `lost` line or past its deadline.
 * 5. **fencing** — tokens of successive holds of the lock and election increase strictly; the
 *    store's accepted tokens never decrease; it refused exactly the stale arrivals.
 * 6. **progress** — after every healed fault each recipe writes again within `progressBoundMs`.
 * 7. **no crash** — no worker recorded an unhandled rejection or uncaught exception, and none
 *    exited by itself (its event loop emptied while a call was still pending).
 */
import { LIMITS, RECIPES, type FaultKind, type HistoryRecord, type Line, type Recipe } from './history.js';

export interface CheckerConfig {
  /** A check→write gap at least this long counts as a pause (the hold's TTL). */
  pauseMs: number;
  /** Every recipe must write again within this long after each heal. */
  progressBoundMs: number;
  /** Heals after this time are not judged for progress (the trial was ending). */
  progressUntil?: number;
}

export interface Violation {
  property: 'concurrency' | 'order' | 'lost-first' | 'write-after-lost' | 'fencing' | 'progress' | 'crash';
  message: string;
  lines: Line[];
}

export interface CheckResult {
  violations: Violation[];
  stats: {
    acquisitions: Record<Recipe, number>;
    losses: number;
    writesChecked: number;
    storeWrites: number;
    staleRefused: number;
    pauseHazards: number;
    /** Pause hazards whose writer was SIGSTOPped by the nemesis between check and write. */
    pauseHazardsDuringSigstop: number;
    faults: Partial<Record<FaultKind, number>>;
    /** Slowest recovery after a heal, ms (max over recipes of the first write after it). */
    maxRecoveryMs: number;
  };
}

type Acquired = Extract<HistoryRecord, { type: 'acquired' }> & { line: number };
type Write = Extract<HistoryRecord, { type: 'write' }> & { line: number };
type Lost = Extract<HistoryRecord, { type: 'lost' }> & { line: number };
type Released = Extract<HistoryRecord, { type: 'released' }> & { line: number };
type Store = Extract<HistoryRecord, { type: 'store' }> & { line: number };
type Nemesis = Extract<HistoryRecord, { type: 'nemesis' }> & { line: number };

interface Hold {
  acquired: Acquired;
  writes: Write[];
  lost?: Lost;
  released?: Released;
  /** When the hold stopped counting as valid. */
  end: number;
  /** The line that fixes `end`. */
  endLine: Line;
}

const is =
  <T extends HistoryRecord['type']>(type: T) =>
  (r: Line): r is Extract<HistoryRecord, { type: T }> & { line: number } =>
    r.type === type;

export function checkHistory(records: readonly Line[], config: CheckerConfig): CheckResult {
  const violations: Violation[] = [];
  const holds = new Map<string, Hold>();
  for (const a of records.filter(is('acquired'))) {
    holds.set(a.hold, { acquired: a, writes: [], end: a.t, endLine: a });
  }
  const orphan = (r: Line, what: string): void => {
    violations.push({ property: 'crash', message: `${what} of unknown hold`, lines: [r] });
  };
  for (const w of records.filter(is('write'))) {
    const h = holds.get(w.hold);
    if (h) h.writes.push(w);
    else orphan(w, 'write');
  }
  for (const l of records.filter(is('lost'))) {
    const h = holds.get(l.hold);
    if (h) h.lost = l;
    else orphan(l, 'lost');
  }
  for (const r of records.filter(is('released'))) {
    const h = holds.get(r.hold);
    if (h) h.released = r;
    else orphan(r, 'released');
  }
  const goneRecords = records.filter(is('gone'));
  for (const h of holds.values()) {
    const ends: Array<[number, Line]> = [];
    if (h.lost) ends.push([Math.min(h.lost.t, h.lost.deadline), h.lost]);
    if (h.released) ends.push([h.released.tCall, h.released]);
    if (ends.length === 0) {
      // Never ended. Killed: it wrote nothing after its last write, and its release may have
      // landed just before the kill, unrecorded. Otherwise valid to the end of the history.
      const gone = goneRecords.find((g) => h.acquired.hold.startsWith(`${g.w}/${g.pid}/`));
      const last = h.writes.at(-1);
      ends.push(gone ? (last ? [last.tCheck, last] : [h.acquired.t, h.acquired]) : [Infinity, last ?? h.acquired]);
    }
    const [end, endLine] = ends.reduce((a, b) => (b[0] < a[0] ? b : a));
    h.end = end;
    h.endLine = endLine;
  }

  const byRecipe = (recipe: Recipe): Hold[] => [...holds.values()].filter((h) => h.acquired.recipe === recipe).sort((a, b) => a.acquired.t - b.acquired.t);
  const sigstops = records.filter(is('nemesis')).filter((n) => n.fault === 'pause');
  const pausedBetween = (w: string, from: number, to: number): boolean => {
    for (const start of sigstops.filter((n) => n.phase === 'start' && n.target === w)) {
      const heal = sigstops.find((n) => n.phase === 'heal' && n.id === start.id);
      const healT = heal?.t ?? Infinity;
      if (start.t < to && healT > from) return true;
    }
    return false;
  };

  let writesChecked = 0;
  let pauseHazards = 0;
  let pauseHazardsDuringSigstop = 0;
  const acquisitions = { lock: 0, semaphore: 0, election: 0 } as Record<Recipe, number>;

  for (const recipe of RECIPES) {
    const list = byRecipe(recipe);
    acquisitions[recipe] = list.length;
    const limit = LIMITS[recipe];

    // 4. no write after its own lost; 1. concurrency at every write's check.
    for (const h of list) {
      for (const w of h.writes) {
        writesChecked += 1;
        if (h.lost && (w.line > h.lost.line || w.tCheck >= Math.min(h.lost.t, h.lost.deadline))) {
          violations.push({ property: 'write-after-lost', message: `${w.w} wrote under ${h.acquired.hold} (token ${w.token}) after losing it`, lines: [h.acquired, h.lost, w] });
          continue;
        }
        const valid = list.filter((o) => o !== h && o.acquired.t <= w.tCheck && w.tCheck <= o.end);
        if (valid.length + 1 > limit) {
          violations.push({
            property: 'concurrency',
            message: `${recipe}: ${valid.length + 1} holds valid at ${w.w}'s write (limit ${limit})`,
            lines: [w, h.acquired, ...valid.flatMap((o) => [o.acquired, o.endLine])],
          });
        }
      }
    }
    if (recipe === 'semaphore') continue;

    // 5. tokens of successive holds increase strictly.
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const cur = list[i]!;
      if (!(cur.acquired.token > prev.acquired.token)) {
        violations.push({ property: 'fencing', message: `${recipe}: token ${cur.acquired.token} does not exceed the previous hold's ${prev.acquired.token}`, lines: [prev.acquired, cur.acquired] });
      }
    }

    // 3. a lost hold's loss comes before any later holder's first write.
    for (const h of list) {
      if (!h.lost) continue;
      const lostAt = Math.min(h.lost.t, h.lost.deadline);
      for (const o of list) {
        if (o === h || o.acquired.token <= h.acquired.token) continue;
        const first = o.writes[0];
        if (first && first.tCheck <= lostAt) {
          violations.push({ property: 'lost-first', message: `${recipe}: ${o.acquired.w} wrote under token ${o.acquired.token} before ${h.acquired.w} learnt it lost token ${h.acquired.token}`, lines: [h.acquired, first, h.lost] });
        }
      }
    }

    // 2. writes in time order never go backwards, except a pause between check and write.
    const judgeOrder = (events: Array<Write | Store>, where: string): void => {
      let highest: Write | Store | undefined;
      for (const e of [...events].sort((a, b) => a.t - b.t)) {
        if (highest && e.token < highest.token) {
          const gap = e.t - e.tCheck;
          if (gap >= config.pauseMs) {
            pauseHazards += 1;
            if (pausedBetween(e.w, e.tCheck, e.t)) pauseHazardsDuringSigstop += 1;
            if (e.type === 'store' && e.accepted) {
              violations.push({ property: 'fencing', message: `${recipe}: the store accepted stale token ${e.token} after ${highest.token}`, lines: [highest, e] });
            }
          } else {
            violations.push({ property: 'order', message: `${recipe}: ${where} went back from token ${highest.token} to ${e.token} with only ${gap.toFixed(0)} ms between check and write`, lines: [highest, e] });
          }
          continue;
        }
        if (!highest || e.token > highest.token) highest = e;
      }
    };
    judgeOrder(list.flatMap((h) => h.writes), 'the history');
    judgeOrder(records.filter(is('store')).filter((s) => s.recipe === recipe), 'the store');
  }

  // 5. the store: accepted tokens never decrease; it refused exactly what was stale.
  const store = records.filter(is('store'));
  let staleRefused = 0;
  for (const recipe of RECIPES) {
    let highest = 0;
    for (const s of store.filter((x) => x.recipe === recipe).sort((a, b) => a.t - b.t)) {
      const stale = s.token < highest;
      if (s.accepted === stale) {
        violations.push({ property: 'fencing', message: `${recipe}: the store ${s.accepted ? 'accepted' : 'refused'} token ${s.token} with ${highest} seen`, lines: [s] });
      }
      if (stale && !s.accepted) staleRefused += 1;
      if (s.accepted) highest = Math.max(highest, s.token);
    }
  }

  // 6. progress after each heal.
  const nemesis = records.filter(is('nemesis'));
  const faults: Partial<Record<FaultKind, number>> = {};
  for (const n of nemesis.filter((x) => x.phase === 'start')) faults[n.fault] = (faults[n.fault] ?? 0) + 1;
  let maxRecoveryMs = 0;
  const allWrites = records.filter(is('write'));
  for (const heal of nemesis.filter((x) => x.phase === 'heal')) {
    if (config.progressUntil !== undefined && heal.t > config.progressUntil) continue;
    for (const recipe of RECIPES) {
      const next = allWrites.filter((w) => w.recipe === recipe && w.tCheck > heal.t).reduce<Write | undefined>((a, b) => (a && a.tCheck <= b.tCheck ? a : b), undefined);
      const took = next ? next.tCheck - heal.t : Infinity;
      if (took > config.progressBoundMs) {
        violations.push({ property: 'progress', message: `${recipe}: no write within ${config.progressBoundMs} ms after ${heal.fault} on ${heal.target} healed`, lines: next ? [heal, next] : [heal] });
      } else {
        maxRecoveryMs = Math.max(maxRecoveryMs, took);
      }
    }
  }

  // 7. crashes.
  for (const c of records.filter(is('crash'))) violations.push({ property: 'crash', message: `${c.w} crashed: ${c.message}`, lines: [c] });
  for (const g of records.filter(is('gone'))) {
    if (!g.expected) violations.push({ property: 'crash', message: `${g.w} (pid ${g.pid}) exited by itself mid-trial: code ${g.code}, signal ${g.signal}`, lines: [g] });
  }

  return {
    violations,
    stats: {
      acquisitions,
      losses: [...holds.values()].filter((h) => h.lost).length,
      writesChecked,
      storeWrites: store.length,
      staleRefused,
      pauseHazards,
      pauseHazardsDuringSigstop,
      faults,
      maxRecoveryMs: Math.round(maxRecoveryMs),
    },
  };
}

/** A failure report: the seed, then each violation with its history lines. */
export function formatViolations(seed: number | string, violations: readonly Violation[], max = 20): string {
  const out = [`seed ${seed}: ${violations.length} violation(s)`];
  for (const v of violations.slice(0, max)) {
    out.push(`- [${v.property}] ${v.message}`);
    for (const l of v.lines) {
      const { line, ...rest } = l;
      out.push(`    line ${line}: ${JSON.stringify(rest)}`);
    }
  }
  if (violations.length > max) out.push(`… and ${violations.length - max} more`);
  return out.join('\n');
}
