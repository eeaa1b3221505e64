/**
 * Service discovery: a live list of a service's instances (`ServiceWatcher`) and a one-shot lookup
 * (`resolve`).
 *
 * Algorithm. One blocking read of `/v1/health/service/<name>` (with `?passing` and `?tag` as
 * asked), driven by the shared blocking-query loop. Entries become {@link ServiceInstance}s sorted
 * by node and ID; an unchanged list is skipped by the loop, so `change` fires only when an
 * instance came, went, or changed address, port, tags, meta or health.
 *
 * Guarantee. Every list published is the catalog's answer at one index. `pick()` rotates over
 * the instances whose aggregated status is `passing`.
 *
 * Hazards. The catalog lags reality: a crashed instance stays listed until its check turns
 * critical (a TTL expiring, an HTTP probe failing), and a watcher lags the catalog by a round
 * trip — or longer while Consul is unreachable, when the last list stays and `error` fires.
 * Callers must still handle a connection to a picked instance failing.
 */
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import { ConfigError, TimeoutError } from '../../errors.js';
import { linkSignals, optionalSignal } from '../../internal/abort.js';
import { describe, toMs } from '../../internal/duration.js';
import { DEFAULT_WAIT_MS, type BlockingReadArgs, type BlockingResult } from '../../loop/blocking-query.js';
import type { QueryMeta } from '../../transport/client.js';
import { healthyInstances, RoundRobin, sameInstances, toInstances, type ServiceInstance } from '../watch/instances.js';
import { resolveWaitMs, Watcher, type WatcherEvents, type WatcherOptions } from '../watch/watcher.js';
import { checkOptions } from '../../internal/options.js';

export type { ServiceInstance, HealthStatus } from '../watch/instances.js';

/** Defaults, each with its reason. */
export const DISCOVERY_DEFAULTS = Object.freeze({
  /** Discovery is for sending traffic: unhealthy instances are filtered out by the server. */
  passingOnly: true,
  /** Consul's default blocking wait; close() cancels at once, so nothing waits on it. */
  waitMs: DEFAULT_WAIT_MS,
});

export interface ServiceQueryOptions {
  /**
   * Only instances whose every check passes (`?passing`; `warning` counts as failing, as in
   * Consul). With `false`, unhealthy instances are listed too, with their `status`.
   * @default true
   */
  passingOnly?: boolean;
  /** Tag (or tags, all required; matched case-insensitively by Consul). @default none */
  tag?: string | readonly string[];
}

export interface ServiceWatcherOptions extends ServiceQueryOptions, WatcherOptions {
  /** Blocking wait per request (duration string or ms). @default '5m' */
  wait?: string | number;
  /** Closes the watcher when aborted. @default none */
  signal?: AbortSignal;
}

export interface ResolveOptions extends ServiceQueryOptions {
  signal?: AbortSignal;
  /**
   * Gives up after this long (duration string or ms) with a timeout error: an overall deadline
   * across the transport's retries. Without it each request is still bounded by the
   * Coordinator's `timeout`, but the retries of a failing one are not. @default no overall deadline
   */
  timeout?: string | number;
}

interface ResolvedQuery {
  name: string;
  passingOnly: boolean;
  tags: string[];
}

/** Validates the service name and query options synchronously; throws {@link ConfigError}. */
export function resolveServiceQuery(name: unknown, options: ServiceQueryOptions = {}): ResolvedQuery {
  if (typeof name !== 'string' || name.length === 0 || name.includes('/')) {
    throw new ConfigError(`service name must be a non-empty string without '/', got ${describe(name)}`, 'name');
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('service query options must be an object', 'options');
  }
  const passingOnly = options.passingOnly ?? DISCOVERY_DEFAULTS.passingOnly;
  if (typeof passingOnly !== 'boolean') {
    throw new ConfigError(`option "passingOnly" must be a boolean, got ${describe(passingOnly)}`, 'passingOnly');
  }
  const rawTags: unknown = options.tag;
  const tags = rawTags === undefined ? [] : typeof rawTags === 'string' ? [rawTags] : rawTags;
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t.length === 0)) {
    throw new ConfigError(`option "tag" must be a non-empty string or an array of them, got ${describe(rawTags)}`, 'tag');
  }
  return { name, passingOnly, tags: [...(tags as string[])] };
}

/** ServiceWatcher events. */
export interface ServiceWatcherEvents extends WatcherEvents {
  /** The first list is available (`ready()` resolves with it). Fires once. */
  ready: [instances: readonly ServiceInstance[]];
  /**
   * The list changed: an instance came or went, or changed address, port, tags, meta or health.
   * The first list counts as a change from the empty list (so an empty first list is silent).
   */
  change: [instances: readonly ServiceInstance[]];
  /** A read failed; the last list stays and the watcher retries with backoff. */
  error: [error: unknown];
}

/** Watches the instances of one service. Starts at once; `ready()` waits for the first list. */
export class ServiceWatcher extends Watcher<ServiceInstance[], readonly ServiceInstance[], ServiceWatcherEvents> {
  readonly service: string;
  private readonly query: ResolvedQuery;
  private readonly rotation = new RoundRobin();

  constructor(host: RecipeHost, name: string, options: ServiceWatcherOptions = {}) {
    const query = resolveServiceQuery(name, options);
    checkOptions(options, ['passingOnly', 'tag', 'wait', 'signal'], 'serviceWatcher()');
    const waitMs = resolveWaitMs(options.wait, DISCOVERY_DEFAULTS.waitMs);
    super(host, `service "${query.name}"`, { waitMs, signal: options.signal, equals: sameInstances });
    this.service = query.name;
    this.query = query;
    this.start();
  }

  /** The current instances (sorted by node, then ID); empty before the first read. */
  list(): readonly ServiceInstance[] {
    return this.current ?? [];
  }

  /** The next healthy (`passing`) instance in round-robin order, or undefined when there is none. */
  pick(): ServiceInstance | undefined {
    return this.rotation.next(healthyInstances(this.list()));
  }

  /**
   * Iterates lists: the current one first (once ready), then each change. A slow consumer gets
   * the newest list. Leaving the loop does not close the watcher; `close()` ends the iteration.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<readonly ServiceInstance[]> {
    const queue = this.openQueue<readonly ServiceInstance[]>('latest');
    const current = this.current;
    if (current) queue.push(current);
    return queue;
  }

  protected async read({ index, waitMs, signal }: BlockingReadArgs): Promise<{ value: ServiceInstance[]; meta: QueryMeta }> {
    const { entries, meta } = await this.ctx.api.health.service(this.query.name, {
      index,
      waitMs,
      signal,
      passing: this.query.passingOnly,
      tags: this.query.tags,
    });
    return { value: toInstances(entries), meta };
  }

  protected handle({ value }: BlockingResult<ServiceInstance[]>): void {
    const previous = this.current;
    const changed = !sameInstances(previous ?? [], value);
    if (previous && !changed) return;
    const list = Object.freeze(value);
    this.publish(list);
    // The first list reaches iterations even when empty: they yield the current one first.
    this.pushToQueues(list);
    if (changed) this.emit('change', list);
  }
}

/**
 * One-shot lookup: the service's instances now (healthy only unless `passingOnly: false`),
 * sorted by node then ID. Bad options throw {@link ConfigError} synchronously; rejects with
 * `ConsulError` when Consul cannot answer (after the transport's retries), with the signal's
 * reason, or with a timeout error after `timeout`.
 */
export function resolve(host: RecipeHost, name: string, options: ResolveOptions = {}): Promise<ServiceInstance[]> {
  const query = resolveServiceQuery(name, options);
  checkOptions(options, ['passingOnly', 'tag', 'signal', 'timeout'], 'resolve()');
  const timeoutMs = options.timeout === undefined ? undefined : toMs('timeout', options.timeout, { min: 1 });
  const ctx = contextOf(host);
  ctx.lifetime.assertOpen();
  return lookup(ctx, query, options.signal, timeoutMs);
}

async function lookup(ctx: RecipeContext, query: ResolvedQuery, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<ServiceInstance[]> {
  optionalSignal(signal)?.throwIfAborted();
  const linked = linkSignals(
    [signal],
    timeoutMs === undefined ? undefined : { ms: timeoutMs, reason: () => new TimeoutError(`service "${query.name}"`, timeoutMs) },
  );
  try {
    const { entries } = await ctx.api.health.service(query.name, {
      passing: query.passingOnly,
      tags: query.tags,
      signal: linked.signal,
    });
    return toInstances(entries);
  } finally {
    linked.dispose();
  }
}
