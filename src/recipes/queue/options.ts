/** Options of the work queue: documented once here, resolved once (durations parsed) by `resolveQueueOptions`. */
import { ConfigError } from '../../errors.js';
import { describe, toMs } from '../../internal/duration.js';
import { validateKey } from '../../internal/keys.js';
import { checkOptions, checkLocalOptions } from '../../internal/options.js';
import { resolveSessionOptions, type ResolvedSessionOptions } from '../../session/session.js';
import { defaultHolderChecks } from '../hold/options.js';
import { normalizePrefix } from '../hold/keys.js';
import { MAX_PRIORITY } from './record.js';
import { optionalSignal } from '../../internal/abort.js';

export { resolveWaitOptions, type WaitOptions } from '../../internal/wait.js';

/** Defaults, each with its reason. */
export const QUEUE_DEFAULTS = Object.freeze({
  /** As a lock's: rides out a leader election; a crashed consumer's messages return after 2×ttl (+ lock-delay). */
  ttlMs: 15_000,
  /**
   * Consul's default. After a consumer's session is invalidated, its messages cannot be claimed
   * for this long: time for a consumer that was cut off to notice (its `msg.signal` aborts at its
   * local deadline) before the message goes to somebody else.
   */
  lockDelayMs: 15_000,
  sessionName: 'consul-recipes queue',
  /** Deliveries before a message goes to the dead-letter prefix: a poison message stops costing work. */
  maxAttempts: 5,
  /** Blocking wait of the first consumer in line. Cancelling never waits for it (requests are aborted). */
  waitTimeMs: 15_000,
  /** Messages put without a priority. */
  priority: 0,
  /** Messages put without a delay are due at once. */
  delayMs: 0,
  /** Unsettled messages a `consume()` loop holds at once. */
  concurrency: 1,
});

/** Options of `coord.queue(prefix, options)` / `new Queue(coord, prefix, options)`. */
export interface QueueOptions {
  /** TTL of the consumer session claims are made under (renewed every ttl/2). @default '15s' */
  ttl?: string | number;
  /** Lock-delay of that session: how long its messages stay unclaimable after it is invalidated. @default '15s' */
  lockDelay?: string | number;
  /** Binds the consumer session to a heartbeated agent TTL check (a crashed consumer's messages return sooner). @default none */
  healthCheckTtl?: string | number;
  /**
   * Node checks the consumer session is bound to, besides the heartbeat check; only safe when
   * lockDelay ≥ ttl (the holder must learn first, see the lock guide).
   * @default ['serfHealth'] when lockDelay ≥ ttl (the defaults), otherwise []
   */
  checks?: readonly string[];
  /** Name of the consumer session. @default 'consul-recipes queue' */
  sessionName?: string;
  /** Blocking wait per read of the consumer first in line. @default '15s' */
  waitTime?: string | number;
  /** Deliveries of one message before it is moved to `deadLetter` instead. @default 5 */
  maxAttempts?: number;
  /** KV prefix dead letters are moved to (`<deadLetter>/<id>`). @default '<prefix>/dead' */
  deadLetter?: string;
}

export const QUEUE_OPTION_NAMES = Object.freeze([
  'ttl',
  'lockDelay',
  'healthCheckTtl',
  'checks',
  'sessionName',
  'waitTime',
  'maxAttempts',
  'deadLetter',
] as const);

export interface ResolvedQueueOptions {
  readonly prefix: string;
  readonly sessionOptions: ResolvedSessionOptions;
  readonly waitTimeMs: number;
  readonly maxAttempts: number;
  readonly deadLetter: string;
}

/** Validates and converts queue options synchronously; throws {@link ConfigError}. */
export function resolveQueueOptions(prefix: unknown, options: QueueOptions = {}): ResolvedQueueOptions {
  validateKey('prefix', prefix);
  checkLocalOptions(options, QUEUE_OPTION_NAMES, 'queue()');
  const normalized = normalizePrefix(prefix as string);
  if (normalized === '') throw new ConfigError(`prefix must name a folder, got ${describe(prefix)}`, 'prefix');
  const parsed = resolveSessionOptions({
    name: options.sessionName ?? QUEUE_DEFAULTS.sessionName,
    ttl: options.ttl ?? QUEUE_DEFAULTS.ttlMs,
    lockDelay: options.lockDelay ?? QUEUE_DEFAULTS.lockDelayMs,
    // The message key stays when a consumer dies: unlocked, it is back in the queue.
    behavior: 'release',
    ...(options.healthCheckTtl !== undefined ? { healthCheckTtl: options.healthCheckTtl } : {}),
    ...(options.checks !== undefined ? { checks: options.checks } : {}),
  });
  const sessionOptions: ResolvedSessionOptions = Object.freeze({
    ...parsed,
    checks: options.checks === undefined ? defaultHolderChecks(true, parsed.ttlMs, parsed.lockDelayMs) : parsed.checks,
  });
  const maxAttempts = options.maxAttempts ?? QUEUE_DEFAULTS.maxAttempts;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw new ConfigError(`option "maxAttempts" must be a positive integer, got ${describe(maxAttempts)}`, 'maxAttempts');
  }
  const deadLetter = options.deadLetter === undefined ? `${normalized}/dead` : normalizePrefix(validateKey('deadLetter', options.deadLetter));
  if (deadLetter === '' || `${deadLetter}/`.startsWith(`${normalized}/msg/`)) {
    throw new ConfigError(`option "deadLetter" must be a prefix outside the queue's messages, got ${describe(options.deadLetter)}`, 'deadLetter');
  }
  return {
    prefix: normalized,
    sessionOptions,
    waitTimeMs: options.waitTime === undefined ? QUEUE_DEFAULTS.waitTimeMs : toMs('waitTime', options.waitTime, { min: 1, max: 10 * 60_000 }),
    maxAttempts,
    deadLetter,
  };
}

/** Options of `queue.put(payload, options)`. */
export interface PutOptions {
  /** Higher is delivered first (0–9999); within a priority, enqueue order. @default 0 */
  priority?: number;
  /** Not delivered before this long from now (duration string or ms). @default 0 */
  delay?: string | number;
  /** Cancels the put. A put whose answer was lost is settled by reading back, so it never enqueues twice. */
  signal?: AbortSignal;
}

export function resolvePutOptions(options: PutOptions | undefined): { priority: number; delayMs: number; signal: AbortSignal | undefined } {
  checkOptions(options, ['priority', 'delay', 'signal'], 'put()');
  const priority = options?.priority ?? QUEUE_DEFAULTS.priority;
  if (!Number.isSafeInteger(priority) || priority < 0 || priority > MAX_PRIORITY) {
    throw new ConfigError(`option "priority" must be an integer from 0 to ${MAX_PRIORITY}, got ${describe(priority)}`, 'priority');
  }
  return {
    priority,
    delayMs: options?.delay === undefined ? QUEUE_DEFAULTS.delayMs : toMs('delay', options.delay),
    signal: optionalSignal(options?.signal),
  };
}

/** Options of `msg.nack(options)`. */
export interface NackOptions {
  /** Not delivered again before this long from now. @default 0 */
  delay?: string | number;
}

/** Options of `queue.consume(options)`. */
export interface ConsumeOptions {
  /** Unsettled messages the loop holds at once: it takes the next one only when fewer are out. @default 1 */
  concurrency?: number;
  /** Ends the loop (it finishes; messages already yielded stay yours to settle). */
  signal?: AbortSignal;
}

export function resolveConsumeOptions(options: ConsumeOptions | undefined): { concurrency: number; signal: AbortSignal | undefined } {
  checkOptions(options, ['concurrency', 'signal'], 'consume()');
  const concurrency = options?.concurrency ?? QUEUE_DEFAULTS.concurrency;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new ConfigError(`option "concurrency" must be a positive integer, got ${describe(concurrency)}`, 'concurrency');
  }
  return { concurrency, signal: optionalSignal(options?.signal) };
}
