/**
 * Service discovery: a live list of a service's instances (`ServiceWatcher`) and a one-shot lookup
 * (`resolve`).
 *
 * Algorithm. One blocking read of `/v1/health/service/<name>` (with `?passing` and `?tag` as
 * asked), driven by the shared blocking-query loop. Entries become {@link ServiceInstance}s sorted
 * by node and ID; an unchanged list is skipped by the loop, so `change` fires only when an
 * instance came, went, or changed address, port, tags, meta or health. With `dc` the read goes to
 * that datacenter (`?dc=`). With `failover` (or a `{ query }` target) the answer is a prepared
 * query's execution (src/recipes/discovery/failover.ts): executions cannot block, so the watcher
 * blocks on the local health of the service and re-executes when it wakes, at most every
 * `pollInterval` while another datacenter answers.
 *
 * Guarantee. Every list published is one datacenter's answer at one moment (the catalog's at one
 * index for plain reads). `pick()` rotates over the instances whose aggregated status is `passing`.
 *
 * Hazards. The catalog lags reality: a crashed instance stays listed until its check turns
 * critical (a TTL expiring, an HTTP probe failing), and a watcher lags the catalog by a round
 * trip — or longer while Consul is unreachable, when the last list stays and `error` fires.
 * Callers must still handle a connection to a picked instance failing.
 */
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import { ConfigError, TimeoutError } from '../../errors.js';
import { linkSignals, optionalSignal, sleep } from '../../internal/abort.js';
import { describe, toMs } from '../../internal/duration.js';
import { DEFAULT_WAIT_MS, type BlockingReadArgs, type BlockingResult } from '../../loop/blocking-query.js';
import type { QueryMeta } from '../../transport/client.js';
import { healthyInstances, RoundRobin, sameInstances, toInstances, type ServiceInstance } from '../watch/instances.js';
import { resolveWaitMs, Watcher, type WatcherEvents, type WatcherOptions } from '../watch/watcher.js';
import { checkOptions, resolveDatacenter } from '../../internal/options.js';
import type { PreparedQueryAnswer } from '../../transport/queries.js';
import { FAILOVER_DEFAULTS, FailoverQuery, resolveFailover, type FailoverOptions, type ResolvedFailover } from './failover.js';

export { FAILOVER_DEFAULTS, type FailoverOptions } from './failover.js';

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
  /**
   * Read the instances of another datacenter (`?dc=`); the answer is that datacenter's catalog.
   * Cannot be combined with `failover` (failover starts from the agent's own datacenter).
   * @default the Coordinator's datacenter (the agent's own unless `datacenter` was given)
   */
  dc?: string;
  /**
   * When the agent's datacenter has no healthy instance, answer with those of another one:
   * the `nearest` N datacenters by round-trip time, then the listed `datacenters`. Runs through a
   * prepared query the library creates (bound to a session of its own) and deletes on close; each
   * instance's `datacenter` says where it lives. @default no failover
   */
  failover?: FailoverOptions;
}

/** Run an existing prepared query (by ID or name, templates by name) instead of naming a service. */
export interface QueryTarget {
  /** The prepared query's ID or name. */
  readonly query: string;
}

export interface ServiceWatcherOptions extends ServiceQueryOptions, WatcherOptions {
  /** Blocking wait per request (duration string or ms). @default '5m' */
  wait?: string | number;
  /**
   * How often the answer of a prepared query (a `failover` answered by another datacenter, or a
   * `{ query }` target) is asked again: a query's execution cannot block. @default '1s'
   */
  pollInterval?: string | number;
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
  /** The service name; for a `{ query }` target, the query's ID or name. */
  name: string;
  passingOnly: boolean;
  tags: string[];
  dc: string | undefined;
  failover: ResolvedFailover | undefined;
  /** True for a `{ query }` target: `name` is a prepared query, executed as it is. */
  isQuery: boolean;
}

/** Validates the service name (or query target) and options synchronously; throws {@link ConfigError}. */
export function resolveServiceQuery(target: unknown, options: ServiceQueryOptions = {}): ResolvedQuery {
  const isQuery = target !== null && typeof target === 'object';
  if (isQuery) {
    checkOptions(target, ['query'], 'query target');
    const query = (target as QueryTarget).query;
    if (typeof query !== 'string' || query.length === 0 || query.includes('/')) {
      throw new ConfigError(`option "query" must be a prepared query ID or name, got ${describe(query)}`, 'query');
    }
    if (options && typeof options === 'object') {
      for (const name of ['passingOnly', 'tag', 'failover'] as const) {
        if (options[name] !== undefined) {
          throw new ConfigError(`option "${name}" cannot be used with { query }: the prepared query defines its own filters and failover`, name);
        }
      }
    }
  }
  const name = isQuery ? (target as QueryTarget).query : target;
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
  const dc = resolveDatacenter(options.dc);
  const failover = resolveFailover(options.failover);
  if (dc !== undefined && failover !== undefined) {
    throw new ConfigError('options "dc" and "failover" cannot be combined: failover starts from the agent\'s own datacenter', 'dc');
  }
  return { name, passingOnly, tags: [...(tags as string[])], dc, failover, isQuery };
}

/** Where a watcher's answer moved: `from` → `to` (datacenter names). */
export interface DatacenterMove {
  readonly from: string | undefined;
  readonly to: string;
  /** Datacenters Consul tried beyond the agent's own for this answer (0: answered locally). */
  readonly failovers: number;
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
  /**
   * With `failover` (or a `{ query }` target): the answer now comes from another datacenter than
   * the agent's own (the local instances are all unhealthy or gone). Fires before `change`.
   */
  failedOver: [move: DatacenterMove];
  /** The answer came back to the agent's own datacenter after a {@link failedOver}. Fires before `change`. */
  failedBack: [move: DatacenterMove];
  /** A read failed; the last list stays and the watcher retries with backoff. */
  error: [error: unknown];
}

/** One read's answer: the instances and, for a prepared query, who answered. */
interface Answer {
  readonly instances: ServiceInstance[];
  readonly datacenter: string | undefined;
  readonly failovers: number;
}

const sameAnswer = (a: Answer, b: Answer): boolean => a.datacenter === b.datacenter && a.failovers === b.failovers && sameInstances(a.instances, b.instances);

/** Watches the instances of one service. Starts at once; `ready()` waits for the first list. */
export class ServiceWatcher extends Watcher<Answer, readonly ServiceInstance[], ServiceWatcherEvents> {
  /** The service name, or for a `{ query }` target the query's ID or name. */
  readonly service: string;
  private readonly query: ResolvedQuery;
  private readonly rotation = new RoundRobin();
  private readonly pollMs: number;
  private readonly failoverQuery: FailoverQuery | undefined;
  private answer: Answer | undefined;
  /** Prepared-query mode: the local health index we block on, and the synthetic index we report. */
  private localIndex = 0n;
  private answerIndex = 0n;

  constructor(host: RecipeHost, target: string | QueryTarget, options: ServiceWatcherOptions = {}) {
    const query = resolveServiceQuery(target, options);
    checkOptions(options, ['passingOnly', 'tag', 'dc', 'failover', 'wait', 'pollInterval', 'signal'], 'serviceWatcher()');
    const waitMs = resolveWaitMs(options.wait, DISCOVERY_DEFAULTS.waitMs);
    const pollMs = options.pollInterval === undefined ? FAILOVER_DEFAULTS.pollIntervalMs : toMs('pollInterval', options.pollInterval, { min: 1 });
    super(host, query.isQuery ? `query "${query.name}"` : `service "${query.name}"`, { waitMs, signal: options.signal, equals: sameAnswer });
    this.service = query.name;
    this.query = query;
    this.pollMs = pollMs;
    this.failoverQuery = query.failover ? new FailoverQuery(this.ctx, failoverSpec(query)) : undefined;
    this.start();
  }

  /** The current instances (sorted by node, then ID); empty before the first read. */
  list(): readonly ServiceInstance[] {
    return this.current ?? [];
  }

  /**
   * The datacenter of the current answer: with `failover` or a `{ query }` target, the one Consul
   * says answered (another than the agent's after a failover); with `dc`, that one; otherwise
   * undefined (the agent's own).
   */
  get datacenter(): string | undefined {
    return this.answer?.datacenter ?? this.query.dc;
  }

  /** Datacenters tried beyond the agent's own for the current answer (0 without failover). */
  get failovers(): number {
    return this.answer?.failovers ?? 0;
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

  override async close(): Promise<void> {
    await super.close();
    await this.failoverQuery?.close();
  }

  protected async read(args: BlockingReadArgs): Promise<{ value: Answer; meta: QueryMeta }> {
    if (!this.query.isQuery && !this.failoverQuery) {
      const { entries, meta } = await this.ctx.api.health.service(this.query.name, {
        index: args.index,
        waitMs: args.waitMs,
        signal: args.signal,
        passing: this.query.passingOnly,
        tags: this.query.tags,
        dc: this.query.dc,
      });
      return { value: { instances: toInstances(entries), datacenter: this.query.dc, failovers: 0 }, meta };
    }
    return this.readQuery(args);
  }

  /**
   * Prepared-query mode. An execution cannot block, so the watcher blocks on what it can: with
   * `failover`, the local health of the service (a local change wakes it at once), for at most
   * `pollInterval` while another datacenter answers; with a `{ query }` target, it waits
   * `pollInterval` between executions. The index the loop sees is the watcher's own count of
   * answers that differed, so an unchanged answer is skipped as an unchanged index would be.
   */
  private async readQuery({ index, waitMs, signal }: BlockingReadArgs): Promise<{ value: Answer; meta: QueryMeta }> {
    const first = this.answer === undefined || index === 0n;
    if (this.failoverQuery) {
      const away = (this.answer?.failovers ?? 0) > 0;
      const { meta } = await this.ctx.api.health.service(this.query.name, {
        index: first ? undefined : this.localIndex,
        waitMs: first ? undefined : away ? Math.min(waitMs, this.pollMs) : waitMs,
        signal,
        passing: this.query.passingOnly,
        tags: this.query.tags,
        retry: 'none',
      });
      this.localIndex = meta.index;
    } else if (!first) {
      await sleep(this.pollMs, signal);
    }
    const answer = await this.execute(signal);
    const value: Answer = { instances: toInstances(answer.entries), datacenter: answer.datacenter, failovers: answer.failovers };
    if (this.answer === undefined || !sameAnswer(this.answer, value) || this.answerIndex === 0n) this.answerIndex += 1n;
    return { value, meta: { ...answer.meta, index: this.answerIndex } };
  }

  private execute(signal: AbortSignal): Promise<PreparedQueryAnswer> {
    if (this.failoverQuery) return this.failoverQuery.execute(signal, 'none');
    return this.ctx.api.queries.execute(this.query.name, { signal, dc: this.query.dc, retry: 'none' });
  }

  protected handle({ value }: BlockingResult<Answer>): void {
    const previous = this.answer;
    this.answer = value;
    if (previous && previous.datacenter !== value.datacenter && value.datacenter !== undefined) {
      const move: DatacenterMove = { from: previous.datacenter, to: value.datacenter, failovers: value.failovers };
      if (value.failovers > 0) this.emit('failedOver', move);
      else this.emit('failedBack', move);
    }
    const listed = this.current;
    const changed = !sameInstances(listed ?? [], value.instances);
    if (listed && !changed) return;
    const list = Object.freeze(value.instances);
    this.publish(list);
    // The first list reaches iterations even when empty: they yield the current one first.
    this.pushToQueues(list);
    if (changed) this.emit('change', list);
  }
}

function failoverSpec(query: ResolvedQuery): ConstructorParameters<typeof FailoverQuery>[1] {
  return { service: query.name, passingOnly: query.passingOnly, tags: query.tags, failover: query.failover as ResolvedFailover };
}

/**
 * One-shot lookup: the service's instances now (healthy only unless `passingOnly: false`),
 * sorted by node then ID; each says its `datacenter`. With `dc`, another datacenter's; with
 * `failover`, the agent's own or, when it has no healthy instance, those of the first failover
 * datacenter that has some (through a prepared query created for the call and deleted after it);
 * with a `{ query }` target, the answer of that existing prepared query. Bad options throw
 * {@link ConfigError} synchronously; rejects with `ConsulError` when Consul cannot answer (after
 * the transport's retries), with the signal's reason, or with a timeout error after `timeout`.
 */
export function resolve(host: RecipeHost, target: string | QueryTarget, options: ResolveOptions = {}): Promise<ServiceInstance[]> {
  const query = resolveServiceQuery(target, options);
  checkOptions(options, ['passingOnly', 'tag', 'dc', 'failover', 'signal', 'timeout'], 'resolve()');
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
    if (query.failover) {
      const once = new FailoverQuery(ctx, failoverSpec(query));
      try {
        return toInstances((await once.execute(linked.signal)).entries);
      } finally {
        await once.close();
      }
    }
    if (query.isQuery) return toInstances((await ctx.api.queries.execute(query.name, { signal: linked.signal, dc: query.dc })).entries);
    const { entries } = await ctx.api.health.service(query.name, {
      passing: query.passingOnly,
      tags: query.tags,
      signal: linked.signal,
      dc: query.dc,
    });
    return toInstances(entries);
  } finally {
    linked.dispose();
  }
}
