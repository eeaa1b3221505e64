/**
 * Health endpoints: `/v1/health/service/:name` (instances with their checks, blocking) — the read
 * service discovery is built on. It reads the catalog, not the local agent.
 */
import type { HealthCheckFields } from '../internal/health-check.js';
import type { ConsulTransport, QueryMeta } from './client.js';
import { readRequest, type ReadOptions } from './kv.js';

/** A health check as the health endpoints return it (fields this library reads). */
export interface HealthCheck extends HealthCheckFields {
  Node: string;
}

/** One `CheckServiceNode`: an instance, its node, and the node's plus the instance's checks. */
export interface HealthServiceEntry {
  Node: {
    ID?: string;
    Node: string;
    Address: string;
    Datacenter?: string;
    Meta?: Record<string, string> | null;
  };
  Service: {
    ID: string;
    Service: string;
    Tags: string[];
    Address: string;
    Meta: Record<string, string> | null;
    Port: number;
    Weights?: { Passing: number; Warning: number };
    CreateIndex?: number;
    ModifyIndex?: number;
  };
  Checks: HealthCheck[];
}

export interface HealthServiceOptions extends ReadOptions {
  /** Only instances whose every check is passing (`?passing`; warning counts as failing). */
  passing?: boolean | undefined;
  /** Tags that must all be present (case-insensitive on the server; `?tag` repeated). */
  tags?: readonly string[] | undefined;
}

/** Fills the nulls some Consul versions send where the shape promises arrays and objects. */
export function normalizeHealthEntries(raw: unknown): HealthServiceEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((e: HealthServiceEntry) => ({
    Node: e.Node,
    Service: { ...e.Service, Tags: e.Service.Tags ?? [], Meta: e.Service.Meta ?? {} },
    Checks: (e.Checks ?? []).map((c) => ({ ...c, ServiceTags: c.ServiceTags ?? [] })),
  }));
}

export class Health {
  constructor(
    private readonly t: ConsulTransport,
    private readonly baseTimeoutMs: number,
  ) {}

  /** Instances of a service with their checks; blocks when `index` and `waitMs` are given. */
  async service(name: string, opts: HealthServiceOptions = {}): Promise<{ entries: HealthServiceEntry[]; meta: QueryMeta }> {
    const extra = { passing: opts.passing || undefined, tag: opts.tags && opts.tags.length > 0 ? opts.tags : undefined };
    const res = await this.t.request(readRequest(`/v1/health/service/${encodeURIComponent(name)}`, opts, this.baseTimeoutMs, extra));
    return { entries: normalizeHealthEntries(JSON.parse(res.body.toString('utf8'))), meta: res.meta };
  }

  /** Every check bound to services with that name (node-level checks excluded). */
  async checks(name: string, opts: ReadOptions = {}): Promise<{ checks: HealthCheck[]; meta: QueryMeta }> {
    const res = await this.t.request(readRequest(`/v1/health/checks/${encodeURIComponent(name)}`, opts, this.baseTimeoutMs));
    const checks = (JSON.parse(res.body.toString('utf8')) as HealthCheck[] | null) ?? [];
    return { checks, meta: res.meta };
  }
}
