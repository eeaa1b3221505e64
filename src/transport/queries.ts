/**
 * Prepared query endpoints (`/v1/query`): create, read, delete and execute. Execution is not a
 * blocking read (Consul's PreparedQuery.Execute ignores `?index`); watchers poll it.
 */
import type { ConsulTransport, QueryMeta } from './client.js';
import { normalizeHealthEntries, type HealthServiceEntry } from './health.js';

/** The fields of `structs.PreparedQuery` this library writes (see Consul's prepared query docs). */
export interface PreparedQueryDefinition {
  Name?: string;
  /** A query without a name must be bound to a session; it is deleted with the session. */
  Session?: string;
  Service: {
    Service: string;
    Failover?: { NearestN?: number; Datacenters?: string[] };
    OnlyPassing?: boolean;
    Tags?: string[];
    NodeMeta?: Record<string, string>;
  };
}

/** A prepared query's answer: the instances and the datacenter that gave them. */
export interface PreparedQueryAnswer {
  service: string;
  entries: HealthServiceEntry[];
  /** The datacenter whose instances these are (another one after a failover). */
  datacenter: string;
  /** How many other datacenters were tried (0: answered locally). */
  failovers: number;
  meta: QueryMeta;
}

export class PreparedQueries {
  constructor(private readonly t: ConsulTransport) {}

  /**
   * Creates a query and resolves with its ID. Not retried after failures that may have landed
   * (a second create would be a second query).
   */
  async create(definition: PreparedQueryDefinition, opts: { dc?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<string> {
    const res = await this.t.request({
      method: 'POST',
      path: '/v1/query',
      query: { dc: opts.dc },
      body: definition,
      signal: opts.signal,
      retry: 'if-not-applied',
    });
    return (JSON.parse(res.body.toString('utf8')) as { ID: string }).ID;
  }

  /** Deletes a query by ID (a 500 "Cannot modify non-existent prepared query" when it is gone). */
  async delete(id: string, opts: { dc?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<void> {
    await this.t.request({
      method: 'DELETE',
      path: `/v1/query/${encodeURIComponent(id)}`,
      query: { dc: opts.dc },
      signal: opts.signal,
      retry: 'transient',
    });
  }

  /** Runs a query by ID or name (templates by name), with its failover. */
  async execute(
    idOrName: string,
    opts: { dc?: string | undefined; signal?: AbortSignal | undefined; retry?: 'transient' | 'none' } = {},
  ): Promise<PreparedQueryAnswer> {
    const res = await this.t.request({
      method: 'GET',
      path: `/v1/query/${encodeURIComponent(idOrName)}/execute`,
      query: { dc: opts.dc },
      signal: opts.signal,
      retry: opts.retry ?? 'transient',
    });
    const raw = JSON.parse(res.body.toString('utf8')) as { Service: string; Nodes: unknown; Datacenter: string; Failovers: number };
    return {
      service: raw.Service,
      entries: normalizeHealthEntries(raw.Nodes),
      datacenter: raw.Datacenter,
      failovers: raw.Failovers ?? 0,
      meta: res.meta,
    };
  }
}
