/**
 * Catalog reads (agent/catalog_endpoint.go over agent/consul/state/catalog.go):
 * `/v1/catalog/services`, `/v1/catalog/service/:name`, `/v1/catalog/nodes`,
 * `/v1/catalog/node/:node` and `/v1/catalog/node-services/:node`, all blocking queries on the
 * catalog tables. Entries the token may not read are dropped (`node:read`, `service:read`), never
 * refused. `?filter` (bexpr) runs over the structs each endpoint returns: ServiceNode rows for
 * services and service, Node for nodes, NodeService for a node's services.
 */
import type { Authorizer } from '../http/acl.js';
import { blockingQuery } from '../http/blocking.js';
import type { QueryOptions, Reply, RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import { type FieldType, type Filter, NODE_SERVICE_TYPE, NODE_TYPE, SERVICE_NODE_TYPE } from '../filter/index.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';
import { catalogServices, nodeServices, serviceNodes } from '../state/catalog.js';
import type { Change, NodeRow, ServiceRow } from '../state/types.js';
import { registerCatalogWriteRoutes } from './catalog-register.js';
import { requestFilter } from './filtering.js';
import { nodeJson, nodeServiceJson, serviceNodeJson } from './shapes.js';

export function registerCatalogRoutes(router: Router): void {
  addRoutes(router, '/v1/catalog/', {
    GET: { services, 'service/': service, nodes, 'node/': node, 'node-services/': nodeServicesList },
  });
  registerCatalogWriteRoutes(router);
}

/** Every catalog read may change with any of the catalog tables. */
export const catalogWatch = (c: Change): boolean => c.table === 'nodes' || c.table === 'services' || c.table === 'checks';

/** `?node-meta=key:value` (repeatable): the node must carry every pair. */
export function nodeMetaFilter(ctx: RequestContext): (node: NodeRow | undefined) => boolean {
  const pairs = ctx.query.all('node-meta').map((raw) => {
    const i = raw.indexOf(':');
    return i < 0 ? [raw, ''] : [raw.slice(0, i), raw.slice(i + 1)];
  });
  // Without ?node-meta nothing is filtered (not even a row whose node is missing).
  if (pairs.length === 0) return () => true;
  return (n) => n !== undefined && pairs.every(([k, v]) => n.Meta?.[k ?? ''] === v);
}

/** `?tag` (repeatable): undefined when absent, so no tag filter applies. */
export function tagsParam(ctx: RequestContext): readonly string[] | undefined {
  return ctx.query.has('tag') ? ctx.query.all('tag') : undefined;
}

/** What a catalog or health read has parsed and checked before its query runs. */
export interface CatalogRead<A> {
  readonly opts: QueryOptions;
  /** The endpoint's own arguments. */
  readonly args: A;
  readonly filter: Filter | undefined;
  readonly authz: Authorizer;
  readonly metaOk: (node: NodeRow | undefined) => boolean;
}

/**
 * The start every catalog and health read shares, in Consul's order: the query options (400 when
 * malformed), the endpoint's own arguments (`args`, which may answer 400), `?filter` over
 * `filterType`, the read RPC (ACL, leader), then `?node-meta`.
 */
export async function startCatalogRead<A>(ctx: RequestContext, filterType: FieldType, args: () => A): Promise<CatalogRead<A>> {
  const opts = ctx.queryOptions();
  const parsed = args();
  const filter = requestFilter(ctx, filterType);
  const authz = await ctx.rpcRead(opts);
  return { opts, args: parsed, filter, authz, metaOk: nodeMetaFilter(ctx) };
}

/** A service read's arguments: `?tag` and the name after `prefix` (400 when empty). */
export function serviceArgs(ctx: RequestContext, prefix: string): { tags: readonly string[] | undefined; name: string } {
  const tags = tagsParam(ctx);
  const name = ctx.path.slice(prefix.length);
  if (name === '') throw new HttpError(400, 'Missing service name');
  return { tags, name };
}

function serviceVisible(authz: Authorizer, s: ServiceRow): boolean {
  return !authz.enforcing || (authz.allowed('node', 'read', s.Node) && authz.allowed('service', 'read', s.ServiceName));
}

/**
 * CatalogListServices: name → unique tags over all instances; the services table index. With
 * `?filter` the instances (as ServiceNode rows) are filtered first (Catalog.ListServices).
 */
async function services(ctx: RequestContext): Promise<Reply> {
  const { opts, filter, authz, metaOk } = await startCatalogRead(ctx, SERVICE_NODE_TYPE, () => undefined);
  const snap = await blockingQuery(ctx, opts, () => {
    const tx = ctx.core.store.read();
    const { index } = catalogServices(tx);
    const out = new Map<string, string[]>();
    for (const s of tx.all('services')) {
      if (!serviceVisible(authz, s)) continue;
      const n = tx.get('nodes', s.Node);
      if (!metaOk(n)) continue;
      if (filter && (!n || !filter.matches(serviceNodeJson(s, n)))) continue;
      const tags = out.get(s.ServiceName) ?? [];
      for (const t of s.ServiceTags) if (!tags.includes(t)) tags.push(t);
      out.set(s.ServiceName, tags);
    }
    return { index, value: out, watch: catalogWatch };
  });
  ctx.setMeta(snap.index);
  ctx.cacheMeta(snap.index);
  const body: Record<string, string[]> = {};
  for (const name of [...snap.value.keys()].sort()) body[name] = snap.value.get(name)!;
  return ctx.json(body);
}

/** CatalogServiceNodes: the instances of a service, `[]` when none; `?tag` matches case-insensitively. */
async function service(ctx: RequestContext): Promise<Reply> {
  const { opts, args: { tags, name }, filter, authz, metaOk } = await startCatalogRead(ctx, SERVICE_NODE_TYPE, () => serviceArgs(ctx, '/v1/catalog/service/'));
  const snap = await blockingQuery(ctx, opts, () => {
    const tx = ctx.core.store.read();
    const { index, services: rows } = serviceNodes(tx, name, tags, false);
    const value: Record<string, unknown>[] = [];
    for (const s of rows) {
      const n = tx.get('nodes', s.Node);
      if (!n || !serviceVisible(authz, s) || !metaOk(n)) continue;
      const row = serviceNodeJson(s, n);
      if (filter && !filter.matches(row)) continue;
      value.push(row);
    }
    return { index, value, watch: catalogWatch };
  });
  ctx.setMeta(snap.index);
  ctx.cacheMeta(snap.index);
  return ctx.json(snap.value);
}

/** CatalogNodes: every node (by name); the nodes table index. */
async function nodes(ctx: RequestContext): Promise<Reply> {
  const { opts, filter, authz, metaOk } = await startCatalogRead(ctx, NODE_TYPE, () => undefined);
  const snap = await blockingQuery(ctx, opts, () => {
    const tx = ctx.core.store.read();
    const value = tx
      .all('nodes')
      .filter((n) => (!authz.enforcing || authz.allowed('node', 'read', n.Node)) && metaOk(n))
      .map(nodeJson)
      .filter((n) => !filter || filter.matches(n));
    return { index: tx.tableIndex('nodes'), value, watch: (c: Change) => c.table === 'nodes' };
  });
  ctx.setMeta(snap.index);
  return ctx.json(snap.value);
}

/**
 * Catalog.NodeServices / NodeServiceList: the node and its readable services (filtered as
 * NodeService), shaped by `shape`; `null` for an unknown or unreadable node.
 */
async function nodeServicesRead(
  ctx: RequestContext,
  prefix: string,
  shape: (services: Array<{ id: string; json: Record<string, unknown> }>) => unknown,
): Promise<Reply> {
  const { opts, args: name, filter, authz } = await startCatalogRead(ctx, NODE_SERVICE_TYPE, () => {
    const node = ctx.path.slice(prefix.length);
    if (node === '') throw new HttpError(400, 'Missing node name');
    return node;
  });
  const snap = await blockingQuery(ctx, opts, () => {
    const tx = ctx.core.store.read();
    const found = nodeServices(tx, name);
    let value: Record<string, unknown> | null = null;
    if (found.node && (!authz.enforcing || authz.allowed('node', 'read', found.node.Node))) {
      const services = found.services
        .filter((s) => serviceVisible(authz, s))
        .map((s) => ({ id: s.ServiceID, json: nodeServiceJson(s) }))
        .filter((s) => !filter || filter.matches(s.json));
      value = { Node: nodeJson(found.node), Services: shape(services) };
    }
    return { index: found.index, value, watch: catalogWatch };
  });
  ctx.setMeta(snap.index);
  return ctx.json(snap.value);
}

/** CatalogNodeServices: `{Node, Services}` keyed by service ID, or `null` for an unknown node. */
function node(ctx: RequestContext): Promise<Reply> {
  return nodeServicesRead(ctx, '/v1/catalog/node/', (services) => Object.fromEntries(services.map((s) => [s.id, s.json])));
}

/**
 * CatalogNodeServiceList (`/v1/catalog/node-services/:node`): `{Node, Services: [NodeService]}`
 * with the services as a list; an unknown node is `null` here too (Catalog.NodeServiceList).
 */
function nodeServicesList(ctx: RequestContext): Promise<Reply> {
  return nodeServicesRead(ctx, '/v1/catalog/node-services/', (services) => services.map((s) => s.json));
}
