/** The hold lifecycle of Lock and Semaphore (LeaderElection projects it onto its own states), with its one table of allowed moves. */

export type HoldState = 'idle' | 'acquiring' | 'held' | 'releasing' | 'lost' | 'closed';

/**
 * Allowed moves. `closed` is reached only from a resting state: `close()` first lets a running
 * acquire unwind to `idle` and releases a held lock (`held → releasing → idle`), so every
 * `released` event and every cleanup happens before the object is closed. `lost` is a resting
 * state that remembers the last outcome; a new `acquire()` leaves it.
 */
export const HOLD_TRANSITIONS: Readonly<Record<HoldState, readonly HoldState[]>> = Object.freeze({
  idle: ['acquiring', 'closed'],
  acquiring: ['held', 'idle'],
  held: ['releasing', 'lost'],
  releasing: ['idle'],
  lost: ['acquiring', 'closed'],
  closed: [],
});

export function canTransition(from: HoldState, to: HoldState): boolean {
  return HOLD_TRANSITIONS[from].includes(to);
}
