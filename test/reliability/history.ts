/**
 * The shared append-only history of a nemesis trial: one JSON object per line, appended by the
 * workers (their holds and writes), the fenced store (what reached it) and the nemesis (faults).
 *
 * Every time is CLOCK_MONOTONIC in milliseconds (`process.hrtime`), one clock for every process on
 * the machine, so lines written by different processes can be ordered by their times.
 */
import { appendFileSync, closeSync, openSync, readSync } from 'node:fs';

/** The recipes held by a worker: each hold has `acquired`, accesses, then `lost` or `released`. */
export type HoldRecipe = 'lock' | 'semaphore' | 'election' | 'rwlock';
export const HOLD_RECIPES: readonly HoldRecipe[] = ['lock', 'semaphore', 'election', 'rwlock'];
/** Every recipe the workers exercise: the holds and the work queue. */
export type Recipe = HoldRecipe | 'queue';
export const RECIPES: readonly Recipe[] = [...HOLD_RECIPES, 'queue'];

/** Deliveries before a dead letter: the workers' queues and the harness's drain share it. */
export const QUEUE_MAX_ATTEMPTS = 3;

/** A read-write lock hold is a reader or a writer; every other hold counts as a writer. */
export type Mode = 'read' | 'write';

/**
 * Conflicting holds allowed at once per recipe. Two holds conflict unless both are readers, so
 * the rwlock's 1 lets readers overlap and a writer only alone.
 */
export const LIMITS: Readonly<Record<HoldRecipe, number>> = { lock: 1, semaphore: 2, election: 1, rwlock: 1 };

export type FaultKind = 'partition' | 'pause' | 'kill' | 'destroy-session' | 'leaderless' | 'latency' | 'restart';

export type HistoryRecord =
  | { type: 'start'; w: string; pid: number; t: number }
  /**
   * A hold began: acquire()/campaign() resolved at `t`. `hold` is unique in the trial. `mode`:
   * only on rwlock holds (absent means a writer).
   */
  | { type: 'acquired'; w: string; recipe: HoldRecipe; hold: string; token: number; session: string; t: number; mode?: Mode }
  /**
   * A write under a hold. `tCheck` was read just before the synchronous check of the hold
   * (`signal.aborted`) said "still held"; `t` when the line was appended, right after.
   */
  | { type: 'write'; w: string; recipe: HoldRecipe; hold: string; token: number; tCheck: number; t: number }
  /** A read under an rwlock reader's hold, recorded as a write is. */
  | { type: 'read'; w: string; recipe: HoldRecipe; hold: string; token: number; tCheck: number; t: number }
  /**
   * The hold's signal aborted with a loss at `t` (when the worker ran the listener). `deadline` is
   * the session's local deadline: the moment from which the signal counted as aborted.
   */
  | { type: 'lost'; w: string; recipe: HoldRecipe; hold: string; token: number; t: number; deadline: number }
  /** The worker called release()/resign() at `tCall`; it resolved at `t`. */
  | { type: 'released'; w: string; recipe: HoldRecipe; hold: string; token: number; tCall: number; t: number }
  /** acquire()/campaign()/take() ended without a hold or a message (timeout, abort, error). */
  | { type: 'gave-up'; w: string; recipe: Recipe; reason: string; t: number }
  /** Queue: `put(payload)` resolved with `id` at `t`. Payloads are unique in the trial. */
  | { type: 'put'; w: string; payload: string; id: string; t: number }
  /** Queue: `put(payload)` rejected: the message may or may not be in the queue. */
  | { type: 'put-failed'; w: string; payload: string; reason: string; t: number }
  /** Queue: `take()` resolved with delivery `delivery` (unique in the trial) of message `id`. */
  | { type: 'taken'; w: string; delivery: string; id: string; payload: string; attempt: number; t: number }
  /** Queue: the delivery's `msg.signal` aborted with `ClaimLostError` at `t`. */
  | { type: 'msg-lost'; w: string; delivery: string; id: string; t: number }
  /** Queue: `ack()` / `nack()` was called at `tCall` and resolved at `t`. */
  | { type: 'acked'; w: string; delivery: string; id: string; payload: string; tCall: number; t: number }
  | { type: 'nacked'; w: string; delivery: string; id: string; payload: string; tCall: number; t: number }
  /** Queue: `ack()` / `nack()` called at `tCall` rejected at `t` with a typed error `code`. */
  | { type: 'settle-refused'; w: string; delivery: string; id: string; how: 'ack' | 'nack'; code: string; tCall: number; t: number }
  /**
   * Queue, appended by the harness once every worker stopped and every session ended: the
   * messages still in the queue (`session` set when still claimed) and the dead letters.
   */
  | { type: 'queue-end'; remaining: Array<{ id: string; payload: string; session?: string }>; dead: Array<{ id: string; payload: string }>; t: number }
  /** The worker crashed on an unhandled rejection or uncaught exception. */
  | { type: 'crash'; w: string; message: string; t: number }
  | { type: 'exit'; w: string; t: number }
  /**
   * Appended by the harness when a worker process ended: `expected` when the nemesis killed it or
   * the trial was stopping; otherwise it died by itself (a crash, or an event loop left empty).
   */
  | { type: 'gone'; w: string; pid: number; code: number | null; signal: string | null; expected: boolean; t: number }
  /** A write that reached the fenced store at `t`; refused when its token is below the highest seen. */
  | { type: 'store'; w: string; recipe: HoldRecipe; hold: string; token: number; tCheck: number; t: number; accepted: boolean; highest: number; mode?: Mode }
  /** A fault began (`phase: 'start'`) or healed. `id` ties the two; `pair` groups two faults. */
  | { type: 'nemesis'; id: number; fault: FaultKind; target: string; detail: string; phase: 'start' | 'heal'; t: number };

/** A record with its 1-based line number in the file, for failure reports. */
export type Line = HistoryRecord & { line: number };

/** Monotonic ms, the clock of every record. */
export const mono = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Appends one record as one line (one write(2) with O_APPEND: lines never interleave). */
export function append(file: string, record: HistoryRecord): void {
  appendFileSync(file, `${JSON.stringify(record)}\n`);
}

/** Parses a whole history text; a torn last line (a process killed mid-write) is skipped. */
export function parseHistory(text: string): Line[] {
  const out: Line[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    try {
      out.push({ ...(JSON.parse(raw) as HistoryRecord), line: i + 1 });
    } catch {
      if (i < lines.length - 2) throw new Error(`history line ${i + 1} is not JSON: ${raw}`);
    }
  });
  return out;
}

/** Reads the records appended since the last call (for the nemesis, which follows the trial). */
export class HistoryTail {
  private offset = 0;
  private partial = '';
  private lineNo = 0;
  readonly records: Line[] = [];

  constructor(private readonly file: string) {}

  poll(): Line[] {
    const fd = openSync(this.file, 'r');
    const fresh: Line[] = [];
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        this.partial += buf.subarray(0, n).toString('utf8');
      }
    } finally {
      closeSync(fd);
    }
    const parts = this.partial.split('\n');
    this.partial = parts.pop() ?? '';
    for (const raw of parts) {
      this.lineNo += 1;
      if (raw.trim() === '') continue;
      const rec = { ...(JSON.parse(raw) as HistoryRecord), line: this.lineNo };
      fresh.push(rec);
      this.records.push(rec);
    }
    return fresh;
  }
}

/** The recipe a record shows progress of: an access under a hold, or an acked message. */
export function progressOf(r: HistoryRecord): Recipe | undefined {
  if (r.type === 'write' || r.type === 'read') return r.recipe;
  if (r.type === 'acked') return 'queue';
  return undefined;
}
