/**
 * The queue's delivery guarantees, checked from the process test's reports alone: every message
 * put was delivered at least once, acked exactly once, and never delivered or acked under an ID or
 * payload nobody put. The rules are the nemesis suite's queue checker
 * (`test/reliability/checker.ts`, `checkQueue`), run on the reports turned into history records,
 * with the queue empty at the end and without its timing rules (the reports carry no times).
 */
import { checkQueue, type Violation } from '../reliability/checker.js';
import type { HistoryRecord, Line } from '../reliability/history.js';

export interface Delivery {
  readonly payload: string;
  readonly messageId: string;
}

/** Throws on violations (every message, joined); returns how many deliveries were re-deliveries. */
export function checkAtLeastOnce(puts: readonly Delivery[], taken: readonly Delivery[], acked: readonly Delivery[]): number {
  const records: Line[] = [];
  const add = (r: HistoryRecord): void => void records.push({ ...r, line: records.length + 1 });
  for (const p of puts) add({ type: 'put', w: 'producer', payload: p.payload, id: p.messageId, t: records.length });
  taken.forEach((d, i) => add({ type: 'taken', w: 'consumer', delivery: `taken-${i}`, id: d.messageId, payload: d.payload, attempt: 1, t: records.length }));
  acked.forEach((d, i) => add({ type: 'acked', w: 'consumer', delivery: `acked-${i}`, id: d.messageId, payload: d.payload, tCall: records.length, t: records.length }));
  add({ type: 'queue-end', remaining: [], dead: [], t: records.length });
  const violations: Violation[] = [];
  const stats = checkQueue(records, violations, { timing: false });
  if (violations.length > 0) throw new Error(violations.map((v) => v.message).join('; '));
  return stats.redelivered;
}
