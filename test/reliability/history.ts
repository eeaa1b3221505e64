/**
 * The shared append-only history of a nemesis trial: one JSON object per line, appended by the
 * workers (their holds and writes), the fenced store (what reached it) and the nemesis (faults).
 *
 * Every time is CLOCK_MONOTONIC in milliseconds (`process.hrtime`), one clock for every process on
 * the machine, so lines written by different processes can be ordered by their times.
 */
import { appendFileSync, closeSync, openSync, readSync } from 'node:fs';

export type Recipe = 'lock' | 'semaphore' | 'election';
export const RECIPES: readonly Recipe[] = ['lock', 'semaphore', 'election'];

/** Holders allowed at once per recipe. */
export const LIMITS: Readonly<Record<Recipe, number>> = { lock: 1, semaphore: 2, election: 1 };

export type FaultKind = 'partition' | 'pause' | 'kill' | 'destroy-session' | 'leaderless' | 'latency' | 'restart';

export type HistoryRecord =
  | { type: 'start'; w: string; pid: number; t: number }
  /** A hold began: acquire()/campaign() resolved at `t`. `hold` is unique in the trial. */
  | { type: 'acquired'; w: string; recipe: Recipe; hold: string; token: number; session: string; t: number }
  /**
   * A write under a hold. `tCheck` was read just before the synchronous check of the hold
   * (`signal.aborted`) said "still held"; `t` when the line was appended, right after.
   */
  | { type: 'write'; w: string; recipe: Recipe; hold: string; token: number; tCheck: number; t: number }
  /**
   * The hold's signal aborted with a loss at `t` (when the worker ran the listener). `deadline` is
   * the session's local deadline: the moment from which the signal counted as aborted.
   */
  | { type: 'lost'; w: string; recipe: Recipe; hold: string; token: number; t: number; deadline: number }
  /** The worker called release()/resign() at `tCall`; it resolved at `t`. */
  | { type: 'released'; w: string; recipe: Recipe; hold: string; token: number; tCall: number; t: number }
  /** acquire()/campaign() ended without a hold (timeout, abort, error). */
  | { type: 'gave-up'; w: string; recipe: Recipe; reason: string; t: number }
  /** The worker crashed on an unhandled rejection or uncaught exception. */
  | { type: 'crash'; w: string; message: string; t: number }
  | { type: 'exit'; w: string; t: number }
  /**
   * Appended by the harness when a worker process ended: `expected` when the nemesis killed it or
   * the trial was stopping; otherwise it died by itself (a crash, or an event loop left empty).
   */
  | { type: 'gone'; w: string; pid: number; code: number | null; signal: string | null; expected: boolean; t: number }
  /** A write that reached the fenced store at `t`; refused when its token is below the highest seen. */
  | { type: 'store'; w: string; recipe: Recipe; hold: string; token: number; tCheck: number; t: number; accepted: boolean; highest: number }
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
