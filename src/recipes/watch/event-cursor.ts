/**
 * Pure delivery rule of event watching: which events of a fresh `/v1/event/list` reply are new.
 *
 * The reply is always the agent's whole buffer (oldest first, at most 256 events), so a watcher
 * remembers the ID of the last event it handled and delivers only what follows it — the rule of
 * Consul's own event watch (`api/watch/funcs.go:eventWatch`). The buffer evicts oldest first, so
 * when that ID is no longer listed every listed event arrived after it: all are delivered, and the
 * reply is flagged `truncated` because events between may have been evicted unseen (more than
 * 256 arrived between two reads) or the agent restarted and lost its buffer.
 */
import type { UserEventRecord } from '../../transport/events.js';

/** Where a watcher stands in the event stream. */
export interface EventCursor {
  /** False until the first reply set the baseline. */
  readonly started: boolean;
  /** ID of the last event handled (or skipped as history); undefined while none was ever seen. */
  readonly lastId: string | undefined;
}

export const INITIAL_EVENT_CURSOR: EventCursor = Object.freeze({ started: false, lastId: undefined });

export interface CursorStep<E> {
  /** Events to deliver, in order. */
  deliver: E[];
  cursor: EventCursor;
  /** The last handled event had left the buffer: some events may have been missed. */
  truncated: boolean;
}

/**
 * Advances the cursor over one reply. On the first reply, the events already buffered are history:
 * delivered only with `history: true`.
 */
export function advanceEventCursor<E extends Pick<UserEventRecord, 'id'>>(
  cursor: EventCursor,
  events: readonly E[],
  { history = false }: { history?: boolean } = {},
): CursorStep<E> {
  let deliver: E[];
  let truncated = false;
  if (!cursor.started) {
    deliver = history ? [...events] : [];
  } else if (cursor.lastId === undefined) {
    deliver = [...events];
  } else {
    const at = events.findIndex((e) => e.id === cursor.lastId);
    if (at >= 0) {
      deliver = events.slice(at + 1);
    } else {
      deliver = [...events];
      truncated = events.length > 0;
    }
  }
  // An empty reply (agent restarted) keeps the old position, so the next reply is known to follow it.
  const lastId = events.length > 0 ? (events[events.length - 1] as E).id : cursor.lastId;
  return { deliver, cursor: Object.freeze({ started: true, lastId }), truncated };
}

/** Two replies end with the same event: nothing new can be in the second (the loop's `equals`). */
export function sameLastEvent<E extends Pick<UserEventRecord, 'id'>>(a: readonly E[], b: readonly E[]): boolean {
  return a[a.length - 1]?.id === b[b.length - 1]?.id;
}
