/** Catalog endpoints: the service list and one service's rows (no health information). */
import type { ConsulTransport, QueryMeta } from './client.js';
import { readRequest, type ReadOptions } from './kv.js';

/** One catalog row of a service instance (`api/catalog.go:CatalogService`, fields we read). */
export interface CatalogServiceNode {
  ID?: string;
  Node: string;
  Address: string;
  Datacenter?: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  /** May be ''; clients then fall back to the node `Address`. */
  ServiceAddress: string;
  ServicePort: number;
  ServiceMeta: Record<string, string> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export class Catalog {
  constructor(
    private readonly t: ConsulTransport,
    private readonly baseTimeoutMs: number,
  ) {}

  /** Every service name with the union of its instances' tags. */
  async services(opts: ReadOptions = {}): Promise<{ services: Record<string, string[]>; meta: QueryMeta }> {
    const res = await this.t.request(readRequest('/v1/catalog/services', opts, this.baseTimeoutMs));
    const raw = (JSON.parse(res.body.toString('utf8')) as Record<string, string[] | null> | null) ?? {};
    const services: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    for (const [name, tags] of Object.entries(raw)) services[name] = tags ?? [];
    return { services, meta: res.meta };
  }

  /** The catalog rows of one service; `tags` must all match (case-insensitive on the server). */
  async service(
    name: string,
    opts: ReadOptions & { tags?: readonly string[] | undefined } = {},
  ): Promise<{ nodes: CatalogServiceNode[]; meta: QueryMeta }> {
    const tag = opts.tags && opts.tags.length > 0 ? opts.tags : undefined;
    const res = await this.t.request(readRequest(`/v1/catalog/service/${encodeURIComponent(name)}`, opts, this.baseTimeoutMs, { tag }));
    const raw = (JSON.parse(res.body.toString('utf8')) as CatalogServiceNode[] | null) ?? [];
    return { nodes: raw.map((n) => ({ ...n, ServiceTags: n.ServiceTags ?? [] })), meta: res.meta };
  }
}
