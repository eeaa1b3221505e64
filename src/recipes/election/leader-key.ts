/**
 * The leader key as pure functions (tested without a server): what a read of it means, the
 * transactions that create, re-write and delete it, what a refused transaction says, and how an
 * observer turns successive reads into a sequence of leader changes.
 *
 * One term = one creation of the key. A campaigner takes the key only when it is absent (or
 * present without a session: a leftover, deleted in the same transaction), so the key's
 * CreateIndex is the index of the write that started the term: strictly greater than every
 * earlier term's, unchanged by `proclaim()` (which only bumps ModifyIndex), and visible to anyone
 * who reads the key. That CreateIndex is the fencing token.
 */
import { TextDecoder } from 'node:util';
import { ConfigError } from '../../errors.js';
import { describe } from '../../internal/duration.js';
import type { KVPair, TxnKVOp } from '../../transport/index.js';
import { resolveDecoder, type Decoder } from '../config/config-snapshot.js';

/** What a campaigner sees in a read of the leader key. */
export type KeyObservation =
  /** No key: create it. */
  | { readonly kind: 'free' }
  /** A key nobody holds (left by a plain PUT or a `release`-behaviour session): replace it. */
  | { readonly kind: 'stale'; readonly modifyIndex: number }
  /** Held by our own session already (a create whose answer was lost did land). */
  | { readonly kind: 'ours'; readonly pair: KVPair }
  /** Another session leads: wait for the key to change. */
  | { readonly kind: 'held'; readonly holder: string };

export function observeLeaderKey(pair: KVPair | null, sessionId: string): KeyObservation {
  if (pair === null) return { kind: 'free' };
  if (pair.session === undefined) return { kind: 'stale', modifyIndex: pair.modifyIndex };
  if (pair.session === sessionId) return { kind: 'ours', pair };
  return { kind: 'held', holder: pair.session };
}

/**
 * Why a term is over according to a read of the key, or undefined while it is ours. Only the
 * session matters: `proclaim()` rewrites the value and keeps it.
 */
export function termLossReason(pair: KVPair | null, sessionId: string): string | undefined {
  if (pair === null) return 'the leader key was deleted';
  if (pair.session === sessionId) return undefined;
  if (pair.session === undefined) return 'the leader key lost its session (invalidated, or released by another client)';
  return `the leader key was taken by session ${pair.session}`;
}

/**
 * The transaction that starts a term: create the key locked by our session, atomically with the
 * proof that no term is running (`check-not-exists`), or with the deletion of the leftover we
 * saw (`delete-cas` on its ModifyIndex), so the `lock` always creates a fresh key.
 */
export function campaignOps(key: string, value: Buffer | null, sessionId: string, seen: KeyObservation): TxnKVOp[] {
  const lock: TxnKVOp = { verb: 'lock', key, value, session: sessionId };
  if (seen.kind === 'stale') return [{ verb: 'delete-cas', key, index: seen.modifyIndex }, lock];
  return [{ verb: 'check-not-exists', key }, lock];
}

/** `proclaim()`: re-write the value only while the key carries our session (`set` keeps it). */
export function proclaimOps(key: string, value: Buffer | null, sessionId: string): TxnKVOp[] {
  return [
    { verb: 'check-session', key, session: sessionId },
    { verb: 'set', key, value },
  ];
}

/**
 * Resigning: delete the key only if it still carries our session. A delete sets no lock-delay
 * (only a session's invalidation or destruction does), so the next campaigner is elected at once.
 */
export function resignOps(key: string, sessionId: string): TxnKVOp[] {
  return [
    { verb: 'check-session', key, session: sessionId },
    { verb: 'delete', key },
  ];
}

export { classifyRefusal, lockedEntry, type Refusal } from '../hold/txn-outcome.js';

// -------------------------------------------------------------------------------------------------
// Observing

/** The leader as read from the key, before the value is decoded. */
export interface LeaderRecord {
  readonly sessionId: string;
  /** The key's CreateIndex: the term. */
  readonly fencingToken: number;
  /** The advertised value as stored (null when empty). */
  readonly raw: Buffer | null;
}

/** The leader a read shows, or null: no key, or a key without a session, means no leader. */
export function leaderRecord(pair: KVPair | null): LeaderRecord | null {
  if (pair === null || pair.session === undefined) return null;
  return { sessionId: pair.session, fencingToken: pair.createIndex, raw: pair.value };
}

function sameTerm(a: LeaderRecord, b: LeaderRecord): boolean {
  return a.fencingToken === b.fencingToken && a.sessionId === b.sessionId;
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b || (a?.length ?? 0) + (b?.length ?? 0) === 0;
  return a.equals(b);
}

/**
 * What an observer reports when its view moves from `previous` (undefined before the first read)
 * to `next`: nothing when nothing it reports changed, the new leader (or null), or — when one
 * term directly follows another between two reads — `null` first, then the new leader. That
 * `null` is not invented: every term creates the key, so the key was absent in between. A term
 * that began and ended between two reads cannot be recovered; the order is always kept.
 */
export function leaderChanges(previous: LeaderRecord | null | undefined, next: LeaderRecord | null): Array<LeaderRecord | null> {
  if (previous === undefined) return [next];
  if (previous === null) return next === null ? [] : [next];
  if (next === null) return [null];
  if (!sameTerm(previous, next)) return [null, next];
  return sameBytes(previous.raw, next.raw) ? [] : [next];
}

// -------------------------------------------------------------------------------------------------
// Values

/** How the advertised value is decoded for `leader()`, `observe()` and `leader` events. */
export type LeaderDecodeOption<T> = 'auto' | 'json' | 'string' | 'buffer' | Decoder<T>;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The default decoder, mirroring how values are encoded (objects as JSON, strings and Buffers as
 * they are): JSON when the bytes parse as JSON, else the UTF-8 text, else the bytes; an empty
 * value is null. An election value is a label for humans and tools, so an undecodable one must
 * not hide who leads.
 */
export function decodeAuto(raw: Buffer): unknown {
  if (raw.length === 0) return null;
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return Buffer.from(raw);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Turns the `decode` option into a function; throws {@link ConfigError} for anything else. */
export function resolveLeaderDecoder<T>(decode: LeaderDecodeOption<T> | undefined): Decoder<T> {
  if (decode === undefined || decode === 'auto') return decodeAuto as Decoder<T>;
  if (typeof decode !== 'function' && !['json', 'string', 'buffer'].includes(decode as string)) {
    throw new ConfigError(`option "decode" must be 'auto', 'json', 'string', 'buffer' or a function, got ${describe(decode)}`, 'decode');
  }
  return resolveDecoder<T>(decode);
}
