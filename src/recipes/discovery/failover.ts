/**
 * Failover across datacenters through a Consul prepared query.
 *
 * Algorithm. The library creates an unnamed prepared query for the service (Consul requires an
 * unnamed query to be bound to a session) with `Service.Failover` set from the caller's
 * `failover` option, `OnlyPassing` from `passingOnly` and `Tags` from `tag`, and executes it:
 * Consul answers with the healthy instances of the agent's own datacenter, or, when there are
 * none, with those of the first datacenter in the failover order that has some (the `NearestN`
 * nearest by round-trip time, then the listed `Datacenters`), and says which one answered
 * (`Datacenter`) and how many it tried (`Failovers`).
 *
 * Cleanup. The query lives as long as its session: `close()` destroys the session, which deletes
 * the query in the same write (state/session.go deleteSessionTxn); a process that dies leaves
 * both to the session TTL (invalidated after TTL × 2), so nothing outlives its owner for long.
 *
 * Hazards. The query is stored in the agent's own datacenter: while that datacenter has no
 * leader, executions fail (the last answer stays). A partitioned failover target is skipped by
 * Consul and the next one is tried. Executions run with the Coordinator's token (the query has no
 * token of its own): if that token is deleted every execution fails with 403 `ACL not found`.
 */
import { ClosedError, ConfigError, ConsulError } from '../../errors.js';
import { describe } from '../../internal/duration.js';
import { checkOptions } from '../../internal/options.js';
import type { PreparedQueryAnswer } from '../../transport/queries.js';
import type { RecipeContext } from '../context.js';
import { Session } from '../../session/session.js';

/** Defaults, each with its reason. */
export const FAILOVER_DEFAULTS = Object.freeze({
  /**
   * TTL of the query's session (renewed in the background while the owner lives): the shortest
   * Consul accepts by default (`session_ttl_min` 10 s), so a query whose owner died is gone
   * within 20 s.
   */
  sessionTtl: '10s',
  /**
   * How often a watcher re-executes its query while the answer comes from another datacenter
   * (or from an existing query): executions cannot block, and a change over there is seen only by
   * asking again. Local changes are seen at once through a blocking read.
   */
  pollIntervalMs: 1_000,
});

/**
 * Where to go when the agent's datacenter has no healthy instance: Consul's
 * `Service.Failover` of a prepared query.
 */
export interface FailoverOptions {
  /** Try the N nearest other datacenters, by round-trip time (`NearestN`). @default 0 */
  nearest?: number;
  /** Then these datacenters, in this order (`Datacenters`; unknown ones are skipped). @default [] */
  datacenters?: readonly string[];
}

export interface ResolvedFailover {
  readonly nearest: number;
  readonly datacenters: readonly string[];
}

/** Validates the `failover` option synchronously; throws {@link ConfigError}. */
export function resolveFailover(value: unknown): ResolvedFailover | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`option "failover" must be { nearest } and/or { datacenters }, got ${describe(value)}`, 'failover');
  }
  checkOptions(value, ['nearest', 'datacenters'], 'failover');
  const { nearest = 0, datacenters = [] } = value as FailoverOptions;
  if (!Number.isInteger(nearest) || nearest < 0) {
    throw new ConfigError(`option "failover.nearest" must be a non-negative integer, got ${describe(nearest)}`, 'failover.nearest');
  }
  if (!Array.isArray(datacenters) || datacenters.some((d) => typeof d !== 'string' || d === '')) {
    throw new ConfigError(`option "failover.datacenters" must be an array of datacenter names, got ${describe(datacenters)}`, 'failover.datacenters');
  }
  if (nearest === 0 && datacenters.length === 0) {
    throw new ConfigError('option "failover" needs "nearest" > 0 or at least one of "datacenters"', 'failover');
  }
  return { nearest, datacenters: [...(datacenters as string[])] };
}

/** What the failover query looks for. */
export interface FailoverQuerySpec {
  readonly service: string;
  readonly passingOnly: boolean;
  readonly tags: readonly string[];
  readonly failover: ResolvedFailover;
}

/**
 * One library-owned prepared query and its session. `execute()` creates both on first use (and
 * again if the session was lost and took the query with it); `close()` destroys the session.
 */
export class FailoverQuery {
  private opened: Promise<{ session: Session; query: string }> | undefined;
  private closed = false;

  constructor(
    private readonly ctx: RecipeContext,
    private readonly spec: FailoverQuerySpec,
  ) {}

  async execute(signal: AbortSignal | undefined, retry: 'transient' | 'none' = 'transient'): Promise<PreparedQueryAnswer> {
    const opened = await this.open(signal);
    try {
      return await this.ctx.api.queries.execute(opened.query, { signal, retry });
    } catch (err) {
      // The session was lost (a long partition from the servers) and took the query with it:
      // start again with a new pair on the next call.
      if (err instanceof ConsulError && err.statusCode === 404) this.forget(opened);
      throw err;
    }
  }

  /** Destroys the session (and with it the query). Idempotent; failures are logged, not thrown. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const opened = this.opened;
    this.opened = undefined;
    if (!opened) return;
    try {
      const { session } = await opened;
      await session.destroy();
    } catch (err) {
      // Creation failed (nothing to clean up) or the agent is unreachable: the session TTL
      // deletes the query within TTL × 2. Logged at debug, as the caller cannot act on it.
      this.ctx.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'failover query cleanup failed; its session TTL will remove it');
    }
  }

  private forget(opened: { session: Session }): void {
    this.opened = undefined;
    // The session is gone in Consul already; destroying it here only stops its renewal.
    void opened.session.destroy().catch((err: unknown) => {
      this.ctx.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'lost failover session: destroy failed');
    });
  }

  private open(signal: AbortSignal | undefined): Promise<{ session: Session; query: string }> {
    if (this.closed) return Promise.reject(new ClosedError('failover query'));
    if (this.opened) return this.opened;
    const pending = (async () => {
      const session = await Session.create(this.ctx, {
        name: `consul-recipes failover ${this.spec.service}`.slice(0, 256),
        ttl: FAILOVER_DEFAULTS.sessionTtl,
        lockDelay: 0,
        behavior: 'delete',
        ...(signal ? { signal } : {}),
      });
      try {
        const query = await this.ctx.api.queries.create(
          {
            Session: session.id,
            Service: {
              Service: this.spec.service,
              Failover: { NearestN: this.spec.failover.nearest, Datacenters: [...this.spec.failover.datacenters] },
              OnlyPassing: this.spec.passingOnly,
              ...(this.spec.tags.length > 0 ? { Tags: [...this.spec.tags] } : {}),
            },
          },
          { signal },
        );
        return { session, query };
      } catch (err) {
        await session.destroy().catch(() => undefined); // the create error is the one to report
        throw err;
      }
    })();
    this.opened = pending;
    // A failed creation is retried by the next call.
    pending.catch(() => {
      if (this.opened === pending) this.opened = undefined;
    });
    return pending;
  }
}
