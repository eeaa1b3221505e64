/**
 * The read-write lock's safety rule over a history recorded in one process: each holder records
 * `enter` after its acquire resolved and `exit` before it releases, so the recorded interval lies
 * inside the real hold. A writer's interval must overlap nobody else's; readers may overlap each
 * other; write tokens grow. The rules are the nemesis suite's checker (`test/reliability/checker.ts`):
 * the events become its history records (an `enter` is an acquire and an access at once, an `exit`
 * a release), their order standing for time.
 */
import { checkHistory } from '../reliability/checker.js';
import type { HistoryRecord, Line } from '../reliability/history.js';

export interface HistoryEvent {
  readonly who: string;
  readonly mode: 'read' | 'write';
  readonly kind: 'enter' | 'exit';
  readonly token: number;
}

/** Throws on violations (every message, joined); returns the write tokens in order. */
export function checkReadWriteHistory(events: readonly HistoryEvent[]): number[] {
  const records: Line[] = [];
  const add = (r: HistoryRecord): void => void records.push({ ...r, line: records.length + 1 });
  const open = new Map<string, string>();
  events.forEach((e, i) => {
    const side = `${e.who}/${e.mode}`;
    if (e.kind === 'enter') {
      const hold = `${side}/${i}`;
      open.set(side, hold);
      add({ type: 'acquired', w: e.who, recipe: 'rwlock', hold, token: e.token, session: e.who, t: i, mode: e.mode });
      add({ type: e.mode, w: e.who, recipe: 'rwlock', hold, token: e.token, tCheck: i + 0.5, t: i + 0.5 });
    } else {
      const hold = open.get(side) ?? `${side}/not-held`;
      open.delete(side);
      add({ type: 'released', w: e.who, recipe: 'rwlock', hold, token: e.token, tCall: i, t: i });
    }
  });
  const { violations } = checkHistory(records, { pauseMs: Infinity, progressBoundMs: Infinity, recipes: ['rwlock'] });
  if (violations.length > 0) throw new Error(violations.map((v) => v.message).join('; '));
  return events.filter((e) => e.kind === 'enter' && e.mode === 'write').map((e) => e.token);
}
