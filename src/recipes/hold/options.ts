/**
 * The options every hold recipe (Lock, Semaphore, LeaderElection) shares: the session it holds
 * with and the monitor that proves the hold. Documented here once; a recipe re-declares an option
 * only where its default differs (its `@default` then names the recipe's own value).
 *
 * Resolution happens once, at the boundary (the recipe's constructor): durations become `…Ms`
 * numbers and the session options become a {@link ResolvedSessionOptions} that every acquisition
 * uses as is.
 */
import { ConfigError } from '../../errors.js';
import { describe, toMs } from '../../internal/duration.js';
import { Session, resolveSessionOptions, type ResolvedSessionOptions } from '../../session/session.js';
import { checkLocalOptions } from '../../internal/options.js';
import { optionalSignal } from '../../internal/abort.js';
import { validateKey } from '../../internal/keys.js';
import { encodeLockValue, type LockValue } from './keys.js';

/** Options shared by Lock, Semaphore and LeaderElection: the session and the monitor. */
export interface HolderOptions {
  /**
   * A session to hold with. It is used as is and never destroyed by the recipe; its loss is a
   * loss of the hold. When omitted, one session is created per acquisition (with `ttl`,
   * `lockDelay`, `healthCheckTtl`, `checks`, `sessionName`) and destroyed when the hold ends.
   * @default a new session per acquisition
   */
  session?: Session;
  /** TTL of the session we create (renewed every ttl/2). @default '15s' */
  ttl?: string | number;
  /** Lock-delay of the session we create; `0` really sends 0 (no delay after a loss). */
  lockDelay?: string | number;
  /** Binds the session we create to a heartbeated agent TTL check (fast crash detection). @default none */
  healthCheckTtl?: string | number;
  /**
   * Node checks the session we create is bound to, besides the heartbeat check. Consul
   * invalidates the session as soon as one goes critical — without the holder hearing of it —
   * so a check is only safe when lock-delay covers the holder's deadline (see
   * `defaultHolderChecks`).
   */
  checks?: readonly string[];
  /** Name of the session we create (shown by `consul operator` and the UI). */
  sessionName?: string;
  /** Consecutive failed monitor reads tolerated before the hold counts as lost. @default 3 */
  monitorRetries?: number;
  /** Blocking wait per read while waiting and monitoring. Cancelling does not depend on it. @default '15s' */
  waitTime?: string | number;
}

/** The names of {@link HolderOptions}, for the unknown-option check. */
export const HOLDER_OPTION_NAMES = Object.freeze([
  'session',
  'ttl',
  'lockDelay',
  'healthCheckTtl',
  'checks',
  'sessionName',
  'monitorRetries',
  'waitTime',
] as const);

/** {@link HolderOptions}, resolved: parsed once, used as is by every acquisition. */
export interface ResolvedHolderOptions {
  /** A caller-provided session: used as is, never destroyed. */
  readonly session: Session | undefined;
  /** Options of the sessions we create when `session` is not given (durations parsed). */
  readonly sessionOptions: ResolvedSessionOptions;
  readonly monitorRetries: number;
  readonly waitTimeMs: number;
}

/** A recipe's defaults for {@link HolderOptions}, and the facts about its holds they depend on. */
export interface HolderDefaults {
  readonly ttlMs: number;
  readonly lockDelayMs: number;
  readonly monitorRetries: number;
  readonly waitTimeMs: number;
  readonly sessionName: string;
  readonly behavior: 'release' | 'delete';
  /** Whether Consul's lock-delay keeps others off the hold after an invalidation. */
  readonly lockDelayGuards: boolean;
}

/**
 * The node checks a recipe binds its own sessions to, unless told otherwise.
 *
 * Consul invalidates a session the moment a bound check goes critical (serfHealth: the node
 * left the cluster's gossip, say in a partition). The holder cannot hear of that — its renewals
 * simply start failing — so it only counts itself lost at its local deadline, last renewal + ttl.
 * The invalidation came after that renewal, and nobody can acquire the key for lockDelay after
 * the invalidation; so the holder still learns first iff lock-delay guards the hold (locks and
 * elections: yes; semaphore slots: no) and lockDelay ≥ ttl. Bind to serfHealth only then; without
 * it the session ends by TTL (Consul waits 2×ttl, a full ttl after our deadline) or by the
 * heartbeat check (whose deadline we track), both of which the holder sees first.
 */
export function defaultHolderChecks(lockDelayGuards: boolean, ttlMs: number, lockDelayMs: number): readonly string[] {
  return lockDelayGuards && lockDelayMs >= ttlMs ? ['serfHealth'] : [];
}

/** Resolves {@link HolderOptions} for Lock, Semaphore and LeaderElection; throws {@link ConfigError}. */
export function resolveHolderOptions(options: HolderOptions, defaults: HolderDefaults): ResolvedHolderOptions {
  const { session } = options;
  if (session !== undefined) {
    if (!(session instanceof Session)) {
      throw new ConfigError(`option "session" must be a Session (from coord.session()), got ${describe(session)}`, 'session');
    }
    for (const name of ['ttl', 'lockDelay', 'healthCheckTtl', 'sessionName', 'checks'] as const) {
      if (options[name] !== undefined) {
        throw new ConfigError(`option "${name}" configures the session the recipe creates; it cannot be combined with "session"`, name);
      }
    }
  }
  const parsed = resolveSessionOptions({
    name: options.sessionName ?? defaults.sessionName,
    ttl: options.ttl ?? defaults.ttlMs,
    lockDelay: options.lockDelay ?? defaults.lockDelayMs,
    behavior: defaults.behavior,
    ...(options.healthCheckTtl !== undefined ? { healthCheckTtl: options.healthCheckTtl } : {}),
    ...(options.checks !== undefined ? { checks: options.checks } : {}),
  });
  // Spelled out rather than spread: a spread copy got a hidden class of its own per recipe.
  const sessionOptions: ResolvedSessionOptions = Object.freeze({
    name: parsed.name,
    ttlMs: parsed.ttlMs,
    lockDelayMs: parsed.lockDelayMs,
    behavior: parsed.behavior,
    checks: options.checks === undefined ? defaultHolderChecks(defaults.lockDelayGuards, parsed.ttlMs, parsed.lockDelayMs) : parsed.checks,
    healthCheckTtlMs: parsed.healthCheckTtlMs,
    signal: parsed.signal,
  });
  const monitorRetries = options.monitorRetries ?? defaults.monitorRetries;
  if (!Number.isSafeInteger(monitorRetries) || monitorRetries < 0) {
    throw new ConfigError(`option "monitorRetries" must be a non-negative integer, got ${describe(monitorRetries)}`, 'monitorRetries');
  }
  return {
    session,
    sessionOptions,
    monitorRetries,
    waitTimeMs: options.waitTime === undefined ? defaults.waitTimeMs : toMs('waitTime', options.waitTime, { min: 1 }),
  };
}

/** Per-call options of `acquire()` / `campaign()`. */
export interface AcquireOptions {
  /** Cancels the acquire; it rejects with the signal's reason. Nothing is left on the server. */
  signal?: AbortSignal;
  /** Gives up after this long with `LockTimeoutError` (duration string or ms). @default no timeout */
  timeout?: string | number;
}

export interface ResolvedAcquireOptions {
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

/** Validates `acquire()` options synchronously; throws {@link ConfigError}. */
export function resolveAcquireOptions(options: AcquireOptions | undefined, method = 'acquire()'): ResolvedAcquireOptions {
  if (options === undefined) return { signal: undefined, timeoutMs: undefined };
  checkLocalOptions(options, ['signal', 'timeout'], method);
  const { timeout } = options;
  return { signal: optionalSignal(options.signal), timeoutMs: timeout === undefined ? undefined : toMs('timeout', timeout) };
}

/** Validates the `fair` option of Lock and Semaphore; throws {@link ConfigError}. */
export function resolveFair(fair: unknown, fallback: boolean): boolean {
  if (fair === undefined) return fallback;
  if (typeof fair !== 'boolean') throw new ConfigError(`option "fair" must be a boolean, got ${describe(fair)}`, 'fair');
  return fair;
}

/** What Lock and LeaderElection (the holds of one key) resolve alike. */
export interface ResolvedSingleKeyOptions extends ResolvedHolderOptions {
  readonly key: string;
  /** The value written while holding (Go's `.lock` record has none: any bytes, or null). */
  readonly value: Buffer | null;
  readonly retryTimeMs: number;
}

/**
 * Resolves the options every single-key hold shares: the key, the refused `dc` and unknown names,
 * the holder options, `value` and `retryTime`. Throws {@link ConfigError}.
 */
export function resolveSingleKeyOptions(
  key: unknown,
  options: HolderOptions & { readonly value?: LockValue; readonly retryTime?: string | number },
  known: readonly string[],
  where: string,
  defaults: HolderDefaults & { readonly retryTimeMs: number },
): ResolvedSingleKeyOptions {
  validateKey('key', key);
  checkLocalOptions(options, known, where);
  return {
    key: key as string,
    value: encodeLockValue('value', options.value),
    ...resolveHolderOptions(options, defaults),
    retryTimeMs: options.retryTime === undefined ? defaults.retryTimeMs : toMs('retryTime', options.retryTime, { min: 1 }),
  };
}
