/** The LeaderElection lifecycle, with its one table of allowed moves. */

export type ElectionState = 'idle' | 'campaigning' | 'leader' | 'resigning' | 'closed';

/** Why a term ended, as `deposed` reports it. */
export type DeposedReason =
  /** `resign()` (or the shutdown helper) gave leadership up: the key was deleted. */
  | 'resigned'
  /** The session can no longer prove it is alive (local deadline, invalidation, destroy). */
  | 'session-lost'
  /** The key was deleted or taken while the session lived (an operator, `consul kv delete`, …). */
  | 'key-lost'
  /** `close()` (the election's or its Coordinator's) ended the term. */
  | 'closed';

/**
 * Allowed moves. The election's state follows the shared hold engine's (`acquiring → held →
 * releasing → idle`, `held → lost`), projected onto the names of the contract:
 *
 * - `leader → resigning` when a resign or close starts: the term's signal is aborted and `deposed`
 *   fires right then, before the key is deleted, so nobody else can be elected while this
 *   instance still believes it leads;
 * - `leader → idle` when the term is lost (the engine's `lost`): again signal first, then `deposed`;
 * - `closed` only from `idle`: `close()` first lets a campaign unwind and a term resign.
 */
export const ELECTION_TRANSITIONS: Readonly<Record<ElectionState, readonly ElectionState[]>> = Object.freeze({
  idle: ['campaigning', 'closed'],
  campaigning: ['leader', 'idle'],
  leader: ['resigning', 'idle'],
  resigning: ['idle'],
  closed: [],
});

export function canTransition(from: ElectionState, to: ElectionState): boolean {
  return ELECTION_TRANSITIONS[from].includes(to);
}
