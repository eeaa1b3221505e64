/**
 * Key layout, flags and value encoding shared with Consul's Go recipes (hashicorp/consul
 * `api/lock.go`, `api/semaphore.go`). These constants are the wire contract: a Go service, the
 * `consul lock` command and a Node service contend on the same keys only if every one of them
 * writes exactly these flags and paths.
 */
import { ConfigError } from '../../errors.js';
import { describe } from '../../internal/duration.js';

/** `api.LockFlagValue`: marks a key as a lock; anything else on the key is a conflict. */
export const LOCK_FLAG_VALUE = 0x2ddccbc058a50c18n;

/** `api.SemaphoreFlagValue`: marks the `.lock` record and contender keys of a semaphore. */
export const SEMAPHORE_FLAG_VALUE = 0xe0f69a2baa414de0n;

/** `api.DefaultSemaphoreKey`: the coordination record inside a semaphore prefix. */
export const SEMAPHORE_RECORD_NAME = '.lock';

/**
 * A value to store with a lock or contender key. Buffers and strings are stored as they are;
 * any other value is stored as JSON (so `{ id: 'worker-1' }` reads back as JSON).
 */
export type LockValue = Buffer | Uint8Array | string | number | boolean | object | null;

/** Encodes a lock value as the bytes Consul stores (null: an empty value, as Go's nil). */
export function encodeLockValue(option: string, value: LockValue | undefined): Buffer | null {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new ConfigError(`option "${option}" cannot be encoded as JSON: ${(err as Error).message}`, option, { cause: err });
  }
  if (json === undefined) {
    throw new ConfigError(`option "${option}" cannot be encoded as JSON, got ${describe(value)}`, option);
  }
  return Buffer.from(json, 'utf8');
}

/**
 * Go builds semaphore keys with `path.Join(prefix, name)`, which drops trailing slashes; we
 * normalise the prefix the same way so `'sem/db'` and `'sem/db/'` name one semaphore.
 */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/** `prefix/.lock` */
export function semaphoreRecordKey(prefix: string): string {
  return `${prefix}/${SEMAPHORE_RECORD_NAME}`;
}

/** `prefix/<session>`: one per contender, locked by its session (Go's `contenderEntry`). */
export function contenderKey(prefix: string, sessionId: string): string {
  return `${prefix}/${sessionId}`;
}

/**
 * `<key>.fair/`: the queue of a fair lock's waiters, beside the lock key (which stays exactly
 * Go's). Go's `api.Lock` never reads it, so Go contenders do not queue: they may barge.
 */
export function fairQueuePrefix(key: string): string {
  return `${key}.fair/`;
}

/**
 * The flags of a fair holder's queue entry once it handed the lock to the next waiter: the
 * transaction that handed it over unlocked the entry and wrote the new holder's session ID as its
 * value, with these flags (ASCII "fairhand"). Only this library writes or reads them.
 */
export const FAIR_HANDED_FLAG = 0x6661697268616e64n;

/** `<key>.fair/<session>`: one fair waiter (or holder), locked by its session. */
export function fairEntryKey(key: string, sessionId: string): string {
  return `${fairQueuePrefix(key)}${sessionId}`;
}
