/**
 * Typed errors. Every error the library throws extends {@link RecipeError} and carries a
 * stable `code` (part of the public API: codes never change meaning). No error ever contains
 * an ACL token: messages are built from Consul's reply text, which never echoes the secret,
 * and request URLs are logged without their query string.
 */

/** Stable error codes, one per failure the library reports. */
export const ErrorCodes = Object.freeze({
  CONFIG: 'ERR_CONFIG',
  CONSUL: 'ERR_CONSUL',
  TIMEOUT: 'ERR_TIMEOUT',
  LOCK_TIMEOUT: 'ERR_LOCK_TIMEOUT',
  LOCK_LOST: 'ERR_LOCK_LOST',
  LOCK_CONFLICT: 'ERR_LOCK_CONFLICT',
  LOCK_STATE: 'ERR_LOCK_STATE',
  SESSION_LOST: 'ERR_SESSION_LOST',
  NOT_LEADER: 'ERR_NOT_LEADER',
  CLOSED: 'ERR_CLOSED',
  DECODE: 'ERR_DECODE',
  RELEASED: 'ERR_RELEASED',
  CLAIM_LOST: 'ERR_CLAIM_LOST',
  CONTENTION: 'ERR_CONTENTION',
} as const);

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every error thrown by consul-recipes. */
export class RecipeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A bad option, key or argument, thrown synchronously at the call site before anything is sent
 * to Consul. Fix the call; retrying cannot help. `option` names the offending option.
 */
export class ConfigError extends RecipeError {
  readonly option: string | undefined;
  constructor(message: string, option?: string, options?: { cause?: unknown }) {
    super(ErrorCodes.CONFIG, message, options);
    this.option = option;
  }
}

/**
 * Consul answered with an error status, or could not be reached (`statusCode` 0). `message`
 * holds Consul's own reply text. `transient` says whether trying again later can help (the one
 * rule, {@link isTransient}); a transient failure was already retried as far as the request's
 * retry mode allows before it reaches you.
 */
export class ConsulError extends RecipeError {
  /** HTTP status, or 0 when no response arrived (connection refused, reset, timeout). */
  readonly statusCode: number;
  /** HTTP method and path (no query string, so never a token). */
  readonly endpoint: string;
  /** Consul's reply body (trimmed), when there was one. */
  readonly consulMessage: string;
  constructor(
    statusCode: number,
    endpoint: string,
    consulMessage: string,
    options?: { cause?: unknown },
  ) {
    const detail = consulMessage ? `: ${consulMessage}` : '';
    super(
      ErrorCodes.CONSUL,
      statusCode === 0
        ? `Consul request ${endpoint} failed${detail}`
        : `Consul answered ${statusCode} to ${endpoint}${detail}`,
      options,
    );
    this.statusCode = statusCode;
    this.endpoint = endpoint;
    this.consulMessage = consulMessage;
  }

  /** Alias of {@link statusCode}. */
  get status(): number {
    return this.statusCode;
  }

  /** True for failures that may pass by themselves; the one rule is {@link isTransient}. */
  get transient(): boolean {
    return isTransientStatus(this.statusCode, this.consulMessage);
  }
}

/**
 * 500 replies Consul gives for requests that can never succeed (bad input, unknown session or
 * check, ACL denial, limits); every other 500 (no leader, rpc errors, raft timeouts) may pass.
 */
const PERMANENT_500 =
  /invalid session|missing session|Invalid Session TTL|Session TTL .* invalid|Invalid Behavior|Missing check|Missing node|is in critical state|strconv\.|Request decode failed|Permission denied|ACL not found|does not have associated TTL|Cannot provide tag filter|Invalid (node|service|tag) filter|exceeds configured limit|Failed to create boolean expression evaluator/i;

function isTransientStatus(statusCode: number, consulMessage: string): boolean {
  if (statusCode === 0 || statusCode === 429 || statusCode === 502 || statusCode === 503 || statusCode === 504) return true;
  return statusCode === 500 && !PERMANENT_500.test(consulMessage);
}

/**
 * The one rule for "this failure may pass by itself, so trying again later can help", used by
 * the transport's retries, the blocking loop's `isFatal`, the monitors and the watchers alike:
 * a {@link ConsulError} with no response (refused, reset, timed out), a 429, a 502/503/504, or
 * a 500 other than Consul's permanent ones (see `PERMANENT_500`). Everything else — any other
 * 4xx, a permanent 500, a 501, and every non-Consul error — is permanent: retrying cannot help.
 */
export function isTransient(err: unknown): boolean {
  return err instanceof ConsulError && err.transient;
}

/**
 * A wait with a `timeout` ran out (`ready({ timeout })`, `resolve({ timeout })`, …). Nothing was
 * left half-done; call again with a longer timeout, or find out why Consul is slow.
 */
export class TimeoutError extends RecipeError {
  /** What was being waited for. */
  readonly what: string;
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super(ErrorCodes.TIMEOUT, `timed out after ${timeoutMs}ms waiting for ${what}`);
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/** `acquire({ timeout })` ran out before the lock (or permit, or leadership) was obtained. */
export class LockTimeoutError extends RecipeError {
  readonly key: string;
  readonly timeoutMs: number;
  /** Who held the key when the wait ended (session ID and name, never a token), when known. */
  readonly holder: { readonly sessionId: string; readonly sessionName?: string } | undefined;
  /**
   * True when the key was free but Consul refused our acquires: the previous holder's session was
   * invalidated and its lock-delay was still in force. False when we never saw that.
   */
  readonly lockDelay: boolean;
  constructor(
    key: string,
    timeoutMs: number,
    details: { holder?: { sessionId: string; sessionName?: string }; lockDelay?: boolean } = {},
  ) {
    super(ErrorCodes.LOCK_TIMEOUT, `timed out after ${timeoutMs}ms waiting for "${key}"${timeoutDetail(details)}`);
    this.key = key;
    this.timeoutMs = timeoutMs;
    this.holder = details.holder;
    this.lockDelay = details.lockDelay === true;
  }
}

function timeoutDetail(details: { holder?: { sessionId: string; sessionName?: string }; lockDelay?: boolean }): string {
  const parts: string[] = [];
  if (details.holder) {
    const name = details.holder.sessionName ? ` ("${details.holder.sessionName}")` : '';
    parts.push(`held by session ${details.holder.sessionId}${name}`);
  }
  if (details.lockDelay) parts.push("the key is free but the previous holder's lock-delay is in force (Consul refuses acquires until it passes)");
  return parts.length > 0 ? `; ${parts.join('; ')}` : '';
}

/**
 * A held lock was lost (session lost, key taken or deleted) while work was running. Work done
 * under it may have overlapped with another holder: check fencing tokens downstream.
 */
export class LockLostError extends RecipeError {
  readonly key: string;
  readonly reason: string;
  constructor(key: string, reason: string, options?: { cause?: unknown }) {
    super(ErrorCodes.LOCK_LOST, `lock on "${key}" was lost: ${reason}`, options);
    this.key = key;
    this.reason = reason;
  }
}

/**
 * The key holds something that is not this kind of lock: different flags, a semaphore with
 * another limit, or a value we cannot decode. Another tool is using the key; pick another key
 * or make the settings agree.
 */
export class LockConflictError extends RecipeError {
  readonly key: string;
  constructor(key: string, message: string) {
    super(ErrorCodes.LOCK_CONFLICT, `conflict on "${key}": ${message}`);
    this.key = key;
  }
}

/** A call that is not allowed in the object's current state (release when not held, …). */
export class IllegalStateError extends RecipeError {
  readonly state: string;
  constructor(message: string, state: string) {
    super(ErrorCodes.LOCK_STATE, `${message} (state: ${state})`);
    this.state = state;
  }
}

/** The session can no longer prove it is alive; everything held under it is gone. */
export class SessionLostError extends RecipeError {
  readonly sessionId: string;
  constructor(sessionId: string, reason: string, options?: { cause?: unknown }) {
    super(ErrorCodes.SESSION_LOST, `session ${sessionId} lost: ${reason}`, options);
    this.sessionId = sessionId;
  }
}

/** A leader-only call was made by an instance that is not (or no longer) the leader. */
export class NotLeaderError extends RecipeError {
  readonly key: string;
  constructor(key: string, message = 'not the leader') {
    super(ErrorCodes.NOT_LEADER, `${message} for "${key}"`);
    this.key = key;
  }
}

/** The object (or its Coordinator) was closed; create a new one. */
export class ClosedError extends RecipeError {
  constructor(what: string) {
    super(ErrorCodes.CLOSED, `${what} is closed`);
  }
}

/** A value read from Consul could not be decoded (config watcher, `.lock` record, …). */
export class DecodeError extends RecipeError {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.DECODE, `cannot decode "${key}": ${message}`, options);
    this.key = key;
  }
}

/**
 * The reason a hold's `signal` (lock handle, permit, leader term) carries after a normal
 * `release()` / `resign()` / `close()`: not a failure. Its `name` is `'AbortError'`, as for any
 * cancellation, so `err.name === 'AbortError'` checks keep treating it as one; `code` tells it
 * apart from a loss (`ERR_LOCK_LOST`).
 */
export class ReleasedError extends RecipeError {
  readonly key: string;
  constructor(what: string, key: string) {
    super(ErrorCodes.RELEASED, `${what} was released`);
    this.name = 'AbortError';
    this.key = key;
  }
}

/**
 * A queue message's claim no longer holds: the consumer's session ended (the message went back to
 * the queue and may already be with another consumer), or the message was settled or deleted
 * meanwhile. Thrown by `ack()` / `nack()` (a late ack of a re-delivered message is refused) and
 * carried by `msg.signal`. The message is not lost: whoever holds it now settles it. Make the
 * work idempotent (delivery is at-least-once) and move on.
 */
export class ClaimLostError extends RecipeError {
  /** The queue prefix. */
  readonly queue: string;
  /** The message ID. */
  readonly messageId: string;
  readonly reason: string;
  constructor(queue: string, messageId: string, reason: string, options?: { cause?: unknown }) {
    super(ErrorCodes.CLAIM_LOST, `claim of message ${messageId} on queue "${queue}" was lost: ${reason}`, options);
    this.queue = queue;
    this.messageId = messageId;
    this.reason = reason;
  }
}

/**
 * A counter `add` lost its compare-and-set race `attempts` times in a row: the key is written
 * faster than this caller keeps up. Nothing was applied by this call. Retry later, or raise
 * `maxRetries`.
 */
export class CounterContentionError extends RecipeError {
  readonly key: string;
  readonly attempts: number;
  constructor(key: string, attempts: number) {
    super(ErrorCodes.CONTENTION, `counter "${key}": ${attempts} compare-and-set attempts in a row lost to other writers`);
    this.key = key;
    this.attempts = attempts;
  }
}

/** The error an AbortSignal carries when aborted without a reason: a DOMException 'AbortError'. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
