/**
 * The history checker of the nemesis suite. It judges a trial from its recorded history alone
 * (see history.ts); no timing threshold is involved except the two stated in {@link CheckerConfig}.
 *
 * Properties, per resource (the lock key, the semaphore prefix, the election key, the read-write
 * lock prefix). An access is a `write`, or a `read` under a read-write lock's reader; two holds
 * conflict unless both are readers (every hold of the other recipes is a writer):
 * 1. **concurrency** — at the `tCheck` of every access, at most `limit` conflicting holds are
 *    valid, counting the accessor's own (rwlock: a writer alone, readers together). A hold is valid from its `acquired` time to its end: the `lost` moment
 *    (the earlier of the loss being noticed and the session's local deadline), the moment
 *    `release()` was called, or — for a worker killed without a word — its last write (its
 *    release may have landed unrecorded just before the kill); a hold that never ended in a
 *    process still running is valid to the end of the history.
 * 2. **order** — for the lock, the election and the rwlock, accesses never go backwards in token
 *    order against a conflicting access (by the time they happen; the store's arrivals likewise:
 *    a read is compared with writes only) unless the writer stalled between its check
 *    and its write for at least `pauseMs` (a whole TTL: only a pause does that). Those are the
 *    **pause hazard**, counted apart; every one that reached the fenced store must be refused.
 * 3. **lost first** — every lost hold's loss is recorded (its `lost` moment, as in 1) before any
 *    later conflicting holder's first access on that resource (lock, election, rwlock).
 * 4. **no write after lost** — no access of a hold after its own `lost` line or past its deadline.
 * 5. **fencing** — tokens of successive conflicting holds of the lock, election and rwlock
 *    increase strictly; the store's accepted tokens never decrease (a read: never below a
 *    write's); it refused exactly the stale arrivals.
 * 6. **progress** — after every healed fault each recipe accesses (queue: acks) again within
 *    `progressBoundMs`.
 * 7. **no crash** — no worker recorded an unhandled rejection or uncaught exception, and none
 *    exited by itself (its event loop emptied while a call was still pending).
 *
 * The work queue (see {@link checkQueue}), per message (payloads are unique):
 * 8. **none lost** — every message put was acked exactly once, or is still in the queue or the
 *    dead letters at the end (`queue-end`); nothing delivered or acked that nobody put, or under
 *    another ID.
 * 9. **no late ack** — no ack succeeded that was called after its delivery's `msg.signal` aborted,
 *    or after the message was delivered again; no delivery after a successful ack.
 * 10. **consumer learns first** — a message is delivered again only after its previous delivery
 *    ended: acked, nacked, its `msg.signal` aborted, or its process gone; a consumer SIGSTOPped
 *    meanwhile is the pause hazard, counted apart.
 * 11. **nothing left claimed** — at the end no message is still claimed by a session.
 */
import { HOLD_RECIPES, LIMITS, RECIPES, progressOf, type FaultKind, type HistoryRecord, type HoldRecipe, type Line, type Mode, type Recipe } from './history.js';

export interface CheckerConfig {
  /** A check→write gap at least this long counts as a pause (the hold's TTL). */
  pauseMs: number;
  /** Every recipe must write again within this long after each heal. */
  progressBoundMs: number;
  /** Heals after this time are not judged for progress (the trial was ending). */
  progressUntil?: number;
  /** The recipes the trial exercised, judged for progress. @default RECIPES */
  recipes?: readonly Recipe[];
}

export interface Violation {
  property:
    | 'concurrency'
    | 'order'
    | 'lost-first'
    | 'write-after-lost'
    | 'fencing'
    | 'progress'
    | 'crash'
    | 'queue-lost'
    | 'queue-late-ack'
    | 'queue-redelivery'
    | 'queue-claimed';
  message: string;
  lines: Line[];
}

export interface CheckResult {
  violations: Violation[];
  stats: {
    acquisitions: Record<HoldRecipe, number>;
    /** Read-write lock holds by side. */
    rwlockHolds: Record<Mode, number>;
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
    queue: QueueStats;
  };
}

export interface QueueStats {
  put: number;
  putFailed: number;
  /** Deliveries (`taken`), and how many of them were a message's second or later. */
  delivered: number;
  redelivered: number;
  acked: number;
  nacked: number;
  /** Acks and nacks refused with a typed error (the claim was gone). */
  settleRefused: number;
  /** Deliveries whose `msg.signal` aborted with a loss. */
  lost: number;
  /** Deliveries taken by the harness's drain after the workers stopped. */
  drained: number;
  deadLetters: number;
  /** Messages still in the queue at the end. */
  remaining: number;
  /** Re-deliveries while the previous consumer was SIGSTOPped and had not yet run its listener. */
  pauseHazards: number;
}

type Acquired = Extract<HistoryRecord, { type: 'acquired' }> & { line: number };
type Write = (Extract<HistoryRecord, { type: 'write' }> | Extract<HistoryRecord, { type: 'read' }>) & { line: number };
type Lost = Extract<HistoryRecord, { type: 'lost' }> & { line: number };
type Released = Extract<HistoryRecord, { type: 'released' }> & { line: number };
type Store = Extract<HistoryRecord, { type: 'store' }> & { line: number };
type Nemesis = Extract<HistoryRecord, { type: 'nemesis' }> & { line: number };

interface Hold {
  acquired: Acquired;
  /** Writes and reads, in history order. */
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
  for (const w of records.filter((r): r is Write => r.type === 'write' || r.type === 'read')) {
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

  const byRecipe = (recipe: HoldRecipe): Hold[] => [...holds.values()].filter((h) => h.acquired.recipe === recipe).sort((a, b) => a.acquired.t - b.acquired.t);
  const pausedBetween = sigstopped(records);

  let writesChecked = 0;
  let pauseHazards = 0;
  let pauseHazardsDuringSigstop = 0;
  const acquisitions = { lock: 0, semaphore: 0, election: 0, rwlock: 0 } as Record<HoldRecipe, number>;
  const modeOf = (h: Hold): Mode => h.acquired.mode ?? 'write';
  /** Two holds conflict unless both read. */
  const conflict = (a: Hold, b: Hold): boolean => modeOf(a) === 'write' || modeOf(b) === 'write';
  const accessMode = (e: Write | Store): Mode => (e.type === 'read' || (e.type === 'store' && e.mode === 'read') ? 'read' : 'write');
  const did = (e: Write): string => (e.type === 'read' ? 'read' : 'wrote');

  for (const recipe of HOLD_RECIPES) {
    const list = byRecipe(recipe);
    acquisitions[recipe] = list.length;
    const limit = LIMITS[recipe];

    // 4. no access after its own lost; 1. concurrency at every access's check.
    for (const h of list) {
      for (const w of h.writes) {
        writesChecked += 1;
        if (h.lost && (w.line > h.lost.line || w.tCheck >= Math.min(h.lost.t, h.lost.deadline))) {
          violations.push({ property: 'write-after-lost', message: `${w.w} ${did(w)} under ${h.acquired.hold} (token ${w.token}) after losing it`, lines: [h.acquired, h.lost, w] });
          continue;
        }
        const valid = list.filter((o) => o !== h && conflict(h, o) && o.acquired.t <= w.tCheck && w.tCheck <= o.end);
        if (valid.length + 1 > limit) {
          violations.push({
            property: 'concurrency',
            message:
              recipe === 'rwlock'
                ? `rwlock: ${w.w} ${did(w)} under a ${modeOf(h)} hold while ${valid.map((o) => `${o.acquired.w}'s ${modeOf(o)} hold`).join(', ')} was valid`
                : `${recipe}: ${valid.length + 1} holds valid at ${w.w}'s write (limit ${limit})`,
            lines: [w, h.acquired, ...valid.flatMap((o) => [o.acquired, o.endLine])],
          });
        }
      }
    }
    if (recipe === 'semaphore') continue;

    // 5. tokens of successive conflicting holds increase strictly (for the rwlock: among holds
    // that accessed; two readers' tokens are not ordered).
    for (let i = 1; i < list.length; i++) {
      const cur = list[i]!;
      const prevs = recipe === 'rwlock' ? (cur.writes.length > 0 ? list.slice(0, i).filter((p) => conflict(p, cur) && p.writes.length > 0) : []) : [list[i - 1]!];
      for (const prev of prevs) {
        if (!(cur.acquired.token > prev.acquired.token)) {
          violations.push({ property: 'fencing', message: `${recipe}: token ${cur.acquired.token} does not exceed the previous hold's ${prev.acquired.token}`, lines: [prev.acquired, cur.acquired] });
        }
      }
    }

    // 3. a lost hold's loss comes before any later conflicting holder's first access.
    for (const h of list) {
      if (!h.lost) continue;
      const lostAt = Math.min(h.lost.t, h.lost.deadline);
      for (const o of list) {
        if (o === h || !conflict(h, o) || o.acquired.token <= h.acquired.token) continue;
        const first = o.writes[0];
        if (first && first.tCheck <= lostAt) {
          violations.push({ property: 'lost-first', message: `${recipe}: ${o.acquired.w} ${did(first)} under token ${o.acquired.token} before ${h.acquired.w} learnt it lost token ${h.acquired.token}`, lines: [h.acquired, first, h.lost] });
        }
      }
    }

    // 2. accesses in time order never go back below a conflicting one, except a pause between
    // check and access. A read is compared with writes only; a write with everything.
    const judgeOrder = (events: Array<Write | Store>, where: string): void => {
      let highest: Write | Store | undefined;
      let highestWrite: Write | Store | undefined;
      for (const e of [...events].sort((a, b) => a.t - b.t)) {
        const mode = accessMode(e);
        const bound = mode === 'write' ? highest : highestWrite;
        if (bound && e.token < bound.token) {
          const gap = e.t - e.tCheck;
          if (gap >= config.pauseMs) {
            pauseHazards += 1;
            if (pausedBetween(e.w, e.tCheck, e.t)) pauseHazardsDuringSigstop += 1;
            if (e.type === 'store' && e.accepted) {
              violations.push({ property: 'fencing', message: `${recipe}: the store accepted stale token ${e.token} after ${bound.token}`, lines: [bound, e] });
            }
          } else {
            violations.push({ property: 'order', message: `${recipe}: ${where} went back from token ${bound.token} to ${e.token} with only ${gap.toFixed(0)} ms between check and ${mode}`, lines: [bound, e] });
          }
          continue;
        }
        if (!highest || e.token > highest.token) highest = e;
        if (mode === 'write' && (!highestWrite || e.token > highestWrite.token)) highestWrite = e;
      }
    };
    judgeOrder(list.flatMap((h) => h.writes), 'the history');
    judgeOrder(records.filter(is('store')).filter((s) => s.recipe === recipe), 'the store');
  }

  // 5. the store: accepted tokens never decrease; it refused exactly what was stale.
  const store = records.filter(is('store'));
  let staleRefused = 0;
  for (const recipe of HOLD_RECIPES) {
    let highest = 0;
    let highestWrite = 0;
    for (const s of store.filter((x) => x.recipe === recipe).sort((a, b) => a.t - b.t)) {
      const read = s.mode === 'read';
      const stale = s.token < (read ? highestWrite : highest);
      if (s.accepted === stale) {
        violations.push({ property: 'fencing', message: `${recipe}: the store ${s.accepted ? 'accepted' : 'refused'} ${read ? 'a read with ' : ''}token ${s.token} with ${read ? highestWrite : highest} seen`, lines: [s] });
      }
      if (stale && !s.accepted) staleRefused += 1;
      if (s.accepted) {
        highest = Math.max(highest, s.token);
        if (!read) highestWrite = Math.max(highestWrite, s.token);
      }
    }
  }

  // 6. progress after each heal.
  const nemesis = records.filter(is('nemesis'));
  const faults: Partial<Record<FaultKind, number>> = {};
  for (const n of nemesis.filter((x) => x.phase === 'start')) faults[n.fault] = (faults[n.fault] ?? 0) + 1;
  let maxRecoveryMs = 0;
  /** When a progress record happened: an access's check, an ack's call. */
  const at = (r: Line): number => (r.type === 'write' || r.type === 'read' ? r.tCheck : r.type === 'acked' ? r.tCall : r.t);
  const progress = records.filter((r) => progressOf(r) !== undefined);
  for (const heal of nemesis.filter((x) => x.phase === 'heal')) {
    if (config.progressUntil !== undefined && heal.t > config.progressUntil) continue;
    for (const recipe of config.recipes ?? RECIPES) {
      const next = progress.filter((r) => progressOf(r) === recipe && at(r) > heal.t).reduce<Line | undefined>((a, b) => (a && at(a) <= at(b) ? a : b), undefined);
      const took = next ? at(next) - heal.t : Infinity;
      if (took > config.progressBoundMs) {
        violations.push({ property: 'progress', message: `${recipe}: no ${recipe === 'queue' ? 'ack' : 'write'} within ${config.progressBoundMs} ms after ${heal.fault} on ${heal.target} healed`, lines: next ? [heal, next] : [heal] });
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

  const queue = checkQueue(records, violations);

  return {
    violations,
    stats: {
      acquisitions,
      rwlockHolds: {
        read: [...holds.values()].filter((h) => h.acquired.recipe === 'rwlock' && h.acquired.mode === 'read').length,
        write: [...holds.values()].filter((h) => h.acquired.recipe === 'rwlock' && h.acquired.mode !== 'read').length,
      },
      losses: [...holds.values()].filter((h) => h.lost).length,
      writesChecked,
      storeWrites: store.length,
      staleRefused,
      pauseHazards,
      pauseHazardsDuringSigstop,
      faults,
      maxRecoveryMs: Math.round(maxRecoveryMs),
      queue,
    },
  };
}

/** Whether worker `w` was SIGSTOPped by the nemesis at some moment between `from` and `to`. */
function sigstopped(records: readonly Line[]): (w: string, from: number, to: number) => boolean {
  const sigstops = records.filter(is('nemesis')).filter((n) => n.fault === 'pause');
  return (w, from, to) => {
    for (const start of sigstops.filter((n) => n.phase === 'start' && n.target === w)) {
      const heal = sigstops.find((n) => n.phase === 'heal' && n.id === start.id);
      const healT = heal?.t ?? Infinity;
      if (start.t < to && healT > from) return true;
    }
    return false;
  };
}

type Put = Extract<HistoryRecord, { type: 'put' }> & { line: number };
type Taken = Extract<HistoryRecord, { type: 'taken' }> & { line: number };
type Acked = Extract<HistoryRecord, { type: 'acked' }> & { line: number };
type QueueDelivery = {
  taken: Taken;
  lost?: Extract<HistoryRecord, { type: 'msg-lost' }> & { line: number };
  acked?: Acked;
  nacked?: Extract<HistoryRecord, { type: 'nacked' }> & { line: number };
  refused?: Extract<HistoryRecord, { type: 'settle-refused' }> & { line: number };
};

export interface QueueCheckOptions {
  /**
   * Judge the timing properties (9 late acks, 10 consumer learns first), which need every
   * delivery's `taken` and settle records with their times. Off: only the accounting (8, 11).
   * @default true
   */
  timing?: boolean;
}

/**
 * The work queue's properties (8–11 in the header) over the queue records of a history. Pushes
 * what it finds to `violations` and returns the figures. Payloads must be unique. Without a
 * `queue-end` record the queue is taken to be empty at the end.
 */
export function checkQueue(records: readonly Line[], violations: Violation[] = [], options: QueueCheckOptions = {}): QueueStats {
  const timing = options.timing ?? true;
  const puts = new Map<string, Put>();
  for (const p of records.filter(is('put'))) {
    const before = puts.get(p.payload);
    if (before) violations.push({ property: 'queue-lost', message: `a payload was put twice: ${p.payload} (the checker needs unique payloads)`, lines: [before, p] });
    else puts.set(p.payload, p);
  }
  const failed = new Map(records.filter(is('put-failed')).map((p) => [p.payload, p]));
  const deliveries = new Map<string, QueueDelivery>();
  for (const t of records.filter(is('taken'))) deliveries.set(t.delivery, { taken: t });
  const settles = records.filter((r) => r.type === 'msg-lost' || r.type === 'acked' || r.type === 'nacked' || r.type === 'settle-refused');
  for (const r of settles) {
    const d = deliveries.get((r as { delivery: string }).delivery);
    if (!d) {
      if (timing) violations.push({ property: 'crash', message: `${r.type} of unknown delivery`, lines: [r] });
      continue;
    }
    if (r.type === 'msg-lost') d.lost = r;
    else if (r.type === 'acked') d.acked = r;
    else if (r.type === 'nacked') d.nacked = r;
    else if (r.type === 'settle-refused') d.refused = r;
  }
  const acks = records.filter(is('acked'));
  const end = records.filter(is('queue-end')).at(-1);
  const remaining = new Map((end?.remaining ?? []).map((m) => [m.payload, m]));
  const dead = new Map((end?.dead ?? []).map((m) => [m.payload, m]));

  // 8. nothing delivered or acked that nobody put, or under another ID.
  const origin = (payload: string, id: string, what: string, line: Line): void => {
    const p = puts.get(payload);
    if (!p && !failed.has(payload)) violations.push({ property: 'queue-lost', message: `${what} ${payload}, which nobody put`, lines: [line] });
    else if (p && p.id !== id) violations.push({ property: 'queue-lost', message: `${what} ${payload} under ID ${id}, put as ${p.id}`, lines: [p, line] });
  };
  for (const d of deliveries.values()) origin(d.taken.payload, d.taken.id, 'delivered', d.taken);
  for (const a of acks) origin(a.payload, a.id, 'acked', a);

  // 8. every message put (or delivered after a failed put) acked exactly once, or still there.
  const byPayload = new Map<string, QueueDelivery[]>();
  for (const d of [...deliveries.values()].sort((a, b) => a.taken.t - b.taken.t)) {
    byPayload.set(d.taken.payload, [...(byPayload.get(d.taken.payload) ?? []), d]);
  }
  const acksOf = new Map<string, Acked[]>();
  for (const a of acks) acksOf.set(a.payload, [...(acksOf.get(a.payload) ?? []), a]);
  const judged = new Set([...puts.keys(), ...[...failed.keys()].filter((p) => byPayload.has(p) || remaining.has(p) || dead.has(p))]);
  for (const payload of judged) {
    const n = acksOf.get(payload)?.length ?? 0;
    const where = remaining.has(payload) ? 'still in the queue' : dead.has(payload) ? 'a dead letter' : undefined;
    const lines: Line[] = [puts.get(payload) ?? failed.get(payload)!, ...(byPayload.get(payload) ?? []).map((d) => d.taken), ...(acksOf.get(payload) ?? [])];
    if (n > 1) violations.push({ property: 'queue-lost', message: `message ${payload} was acked ${n} times`, lines });
    else if (n === 1 && where) violations.push({ property: 'queue-lost', message: `message ${payload} was acked and is ${where}`, lines });
    else if (n === 0 && !where) {
      const message = byPayload.has(payload) ? `message ${payload} was acked 0 times and is neither in the queue nor a dead letter` : `message ${payload} was never delivered and is not in the queue`;
      violations.push({ property: 'queue-lost', message, lines });
    }
  }

  // 11. nothing left claimed.
  for (const m of end?.remaining ?? []) {
    if (m.session) violations.push({ property: 'queue-claimed', message: `message ${m.payload} (${m.id}) is still claimed by session ${m.session} at the end`, lines: [end!] });
  }

  let pauseHazards = 0;
  if (timing) {
    const gone = records.filter(is('gone'));
    const paused = sigstopped(records);
    const goneBefore = (delivery: string, t: number): boolean => gone.some((g) => delivery.startsWith(`${g.w}/${g.pid}/`) && g.t < t);
    for (const list of byPayload.values()) {
      list.forEach((d, i) => {
        // 9. a successful ack: called while the delivery's signal had not aborted, and before any
        // other delivery of the message; no delivery after it.
        const a = d.acked;
        if (a) {
          if (d.lost && d.lost.t < a.tCall) {
            violations.push({ property: 'queue-late-ack', message: `${a.w} acked ${a.id} after its msg.signal aborted, and the ack succeeded`, lines: [d.taken, d.lost, a] });
          }
          for (const o of list.slice(i + 1)) {
            if (o.taken.t < a.t) violations.push({ property: 'queue-late-ack', message: `${a.w}'s ack of ${a.id} succeeded although ${o.taken.w} took it again before the ack resolved`, lines: [d.taken, o.taken, a] });
            else violations.push({ property: 'queue-redelivery', message: `${a.id} was delivered again to ${o.taken.w} after ${a.w}'s ack succeeded`, lines: [d.taken, a, o.taken] });
          }
          return;
        }
        // 10. the next delivery comes after this one ended, as its consumer saw it.
        const next = list[i + 1];
        if (!next) return;
        const t = next.taken.t;
        const ended =
          (d.nacked !== undefined && d.nacked.tCall < t) ||
          (d.lost !== undefined && d.lost.t < t) ||
          (d.refused !== undefined && d.refused.tCall < t) ||
          goneBefore(d.taken.delivery, t);
        if (ended) return;
        if (paused(d.taken.w, d.taken.t, t)) {
          pauseHazards += 1;
          return;
        }
        violations.push({
          property: 'queue-redelivery',
          message: `${d.taken.id} was delivered to ${next.taken.w} while ${d.taken.w} still held it (no ack, nack, loss or exit recorded before)`,
          lines: [d.taken, next.taken, ...[d.lost, d.nacked, d.refused].filter((x): x is NonNullable<typeof x> => x !== undefined)],
        });
      });
    }
  }

  const delivered = new Set([...deliveries.values()].map((d) => d.taken.payload));
  return {
    put: puts.size,
    putFailed: failed.size,
    delivered: deliveries.size,
    redelivered: deliveries.size - delivered.size,
    acked: acks.length,
    nacked: records.filter(is('nacked')).length,
    settleRefused: records.filter(is('settle-refused')).length,
    lost: records.filter(is('msg-lost')).length,
    drained: [...deliveries.values()].filter((d) => d.taken.w === 'drain').length,
    deadLetters: dead.size,
    remaining: remaining.size,
    pauseHazards,
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
