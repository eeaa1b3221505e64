/**
 * The queue's delivery guarantees, checked from reports alone: every message put was delivered at
 * least once, acked exactly once, and never acked under an ID or payload nobody put.
 */
export interface Delivery {
  readonly payload: string;
  readonly messageId: string;
}

/** Throws on the first violation; returns how many deliveries were re-deliveries. */
export function checkAtLeastOnce(puts: readonly Delivery[], taken: readonly Delivery[], acked: readonly Delivery[]): number {
  const put = new Map(puts.map((p) => [p.payload, p.messageId]));
  if (put.size !== puts.length) throw new Error('a payload was put twice: the checker needs unique payloads');
  const takenSet = new Set(taken.map((t) => t.payload));
  for (const [payload] of put) if (!takenSet.has(payload)) throw new Error(`message ${payload} was never delivered`);
  const ackCount = new Map<string, number>();
  for (const a of acked) {
    if (!put.has(a.payload)) throw new Error(`acked ${a.payload}, which nobody put`);
    if (put.get(a.payload) !== a.messageId) throw new Error(`acked ${a.payload} under ID ${a.messageId}, put as ${put.get(a.payload)}`);
    ackCount.set(a.payload, (ackCount.get(a.payload) ?? 0) + 1);
  }
  for (const [payload] of put) {
    const n = ackCount.get(payload) ?? 0;
    if (n !== 1) throw new Error(`message ${payload} was acked ${n} times`);
  }
  for (const t of taken) if (!put.has(t.payload)) throw new Error(`delivered ${t.payload}, which nobody put`);
  return taken.length - put.size;
}
