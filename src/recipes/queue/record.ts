/**
 * The queue's key layout and message record, as pure functions (tested without a server).
 *
 * Layout under a queue prefix `P` (no trailing slash):
 * - `P/seq` — the enqueue sequence: a decimal counter, only ever changed by check-and-set in the
 *   same transaction that writes the message it numbers;
 * - `P/msg/<priority>-<sequence>` — one key per message. `<priority>` is `9999 - priority`, four
 *   digits, and `<sequence>` is sixteen digits, so Consul's sorted listing is the delivery order:
 *   higher priority first, then enqueue order. A claimed message is locked (`acquire`) by its
 *   consumer's session, which uses `Behavior: release`: when that session ends, the key stays and
 *   is unlocked, so the message is back in the queue;
 * - `P/takers/<session>` — the line of idle consumers (one key per Queue instance with waiting
 *   takers, locked by its session); only the first in line watches the messages;
 * - `<deadLetter>/<id>` — messages that failed `maxAttempts` times (default `P/dead`).
 */
import { DecodeError } from '../../errors.js';
import type { KVPair } from '../../transport/index.js';

export const MAX_PRIORITY = 9999;
const SEQUENCE_DIGITS = 16;

export const queueKeys = (prefix: string) =>
  Object.freeze({
    sequence: `${prefix}/seq`,
    messages: `${prefix}/msg/`,
    message: (id: string) => `${prefix}/msg/${id}`,
    takers: `${prefix}/takers/`,
    taker: (sessionId: string) => `${prefix}/takers/${sessionId}`,
  });

/** The message ID: its key name under `P/msg/`, which sorts in delivery order. */
export function messageId(priority: number, sequence: bigint): string {
  return `${String(MAX_PRIORITY - priority).padStart(4, '0')}-${sequence.toString().padStart(SEQUENCE_DIGITS, '0')}`;
}

/** The priority and sequence an ID encodes, or undefined for a key that is not a message ID. */
export function parseMessageId(id: string): { priority: number; sequence: bigint } | undefined {
  const m = /^(\d{4})-(\d{16,})$/.exec(id);
  if (!m) return undefined;
  return { priority: MAX_PRIORITY - Number(m[1]), sequence: BigInt(m[2] as string) };
}

/** What is stored in a message key. */
export interface MessageRecord {
  /** The payload: JSON as is; bytes as base64 with `bytes: true`. */
  readonly payload: unknown;
  readonly bytes?: true;
  /** Wall-clock ms of the put. */
  readonly enqueuedAt: number;
  /** Deliveries so far (incremented by each claim). */
  readonly attempt: number;
  /** Wall-clock ms before which the message is not delivered (put delay, nack delay). */
  readonly notBefore?: number;
  /** Random tag of the put that wrote it: settles a put whose answer was lost. */
  readonly nonce: string;
  /** Set on dead letters: why the message left the queue. */
  readonly deadLetter?: { readonly at: number; readonly reason: string };
}

export function encodeRecord(record: MessageRecord): Buffer {
  return Buffer.from(JSON.stringify(record), 'utf8');
}

export function decodeRecord(pair: KVPair): MessageRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(pair.value?.toString('utf8') ?? '');
  } catch (err) {
    throw new DecodeError(pair.key, 'the message is not JSON', { cause: err });
  }
  const r = parsed as Partial<MessageRecord> | null;
  if (r === null || typeof r !== 'object' || typeof r.attempt !== 'number' || typeof r.enqueuedAt !== 'number' || typeof r.nonce !== 'string') {
    throw new DecodeError(pair.key, 'the message record lacks attempt, enqueuedAt or nonce');
  }
  return r as MessageRecord;
}

/** Encodes a payload for the record: Buffers and Uint8Arrays as base64 bytes, anything else as JSON. */
export function encodePayload(payload: unknown): { payload: unknown; bytes?: true } {
  if (Buffer.isBuffer(payload) || payload instanceof Uint8Array) return { payload: Buffer.from(payload).toString('base64'), bytes: true };
  return { payload };
}

export function decodePayload(record: MessageRecord): unknown {
  return record.bytes ? Buffer.from(String(record.payload), 'base64') : record.payload;
}

/** A message key as the first in line sees it. */
export interface Candidate {
  readonly id: string;
  readonly pair: KVPair;
  readonly record: MessageRecord;
}

/**
 * What the first in line should do with a listing of `P/msg/` (sorted by key: delivery order):
 * the first message nobody holds that is due and not refused (lock-delay) until later, and the
 * time at which the next not-yet-due message becomes due (to bound the next blocking wait).
 * Undecodable keys are returned apart so the caller can report them once.
 */
export function nextCandidate(
  pairs: readonly KVPair[],
  prefix: string,
  now: number,
  refusedUntil: ReadonlyMap<string, number>,
): { candidate: Candidate | undefined; wakeAt: number | undefined; broken: KVPair[] } {
  let wakeAt: number | undefined;
  const broken: KVPair[] = [];
  const soonest = (t: number): void => {
    wakeAt = wakeAt === undefined ? t : Math.min(wakeAt, t);
  };
  for (const pair of pairs) {
    if (pair.session !== undefined) continue;
    const id = pair.key.slice(prefix.length);
    if (parseMessageId(id) === undefined) continue;
    let record: MessageRecord;
    try {
      record = decodeRecord(pair);
    } catch {
      broken.push(pair);
      continue;
    }
    if (record.notBefore !== undefined && record.notBefore > now) {
      soonest(record.notBefore);
      continue;
    }
    const refused = refusedUntil.get(id);
    if (refused !== undefined && refused > now) {
      soonest(refused);
      continue;
    }
    return { candidate: { id, pair, record }, wakeAt, broken };
  }
  return { candidate: undefined, wakeAt, broken };
}

/** The live taker keys of the line, first come first: those still locked, by CreateIndex. */
export function lineOrder(pairs: readonly KVPair[]): KVPair[] {
  return pairs.filter((p) => p.session !== undefined).sort((a, b) => a.createIndex - b.createIndex);
}
