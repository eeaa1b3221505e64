/**
 * The read-write lock's safety rule, checked over a recorded history (no timing thresholds): each
 * holder records `enter` after its acquire resolved and `exit` before it releases, so the recorded
 * interval lies inside the real hold. A writer's interval must overlap nobody else's; readers may
 * overlap each other. Events are recorded in one process, so their order is exact.
 */
export interface HistoryEvent {
  readonly who: string;
  readonly mode: 'read' | 'write';
  readonly kind: 'enter' | 'exit';
  readonly token: number;
}

/** Throws on the first moment a writer held together with anyone; returns the write tokens in order. */
export function checkReadWriteHistory(events: readonly HistoryEvent[]): number[] {
  const readers = new Set<string>();
  let writer: string | undefined;
  const writes: number[] = [];
  for (const [i, e] of events.entries()) {
    if (e.kind === 'exit') {
      if (e.mode === 'write') {
        if (writer !== e.who) throw new Error(`#${i}: ${e.who} exits a write it did not hold`);
        writer = undefined;
      } else if (!readers.delete(e.who)) throw new Error(`#${i}: ${e.who} exits a read it did not hold`);
      continue;
    }
    if (writer !== undefined) throw new Error(`#${i}: ${e.who} entered (${e.mode}) while ${writer} held the write lock`);
    if (e.mode === 'write') {
      if (readers.size > 0) throw new Error(`#${i}: writer ${e.who} entered while ${[...readers].join(', ')} read`);
      writer = e.who;
      if (writes.length > 0 && !(e.token > (writes[writes.length - 1] as number))) throw new Error(`#${i}: write token ${e.token} does not increase`);
      writes.push(e.token);
    } else {
      readers.add(e.who);
    }
  }
  return writes;
}
