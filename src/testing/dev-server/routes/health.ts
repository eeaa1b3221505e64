/**
 * Catalog health reads (agent/health_endpoint.go): `/v1/health/service/:name`,
 * `/v1/health/checks/:service`, `/v1/health/node/:node` and `/v1/health/state/:state`, blocking
 * on the catalog. Entries the token may not read are dropped, never refused. `?filter` (bexpr)
 * runs over HealthCheck rows, and over `{Node, Service, Checks}` entries for service health.
 */
import type { Authorizer } from '../http/acl.js';
import { blockingQuery } from '../http/blocking.js';
import type { QueryOptions, Reply, RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';
import { checksForInstance, checksIndex, checksInState, nodeChecks, serviceChecks, serviceNodes } from '../state/catalog.js';
import type { CheckRow } from '../state/types.js';
import { CHECK_SERVICE_NODE_TYPE, HEALTH_CHECK_TYPE } from '../filter/index.js';
import { catalogWatch, serviceArgs, startCatalogRead } from './catalog.js';
import { checkJson, nodeJson, nodeServiceJson } from './shapes.js';

export function registerHealthRoutes(router: Router): void {
  addRoutes(router, '/v1/health/', { GET: { 'service/': service, 'checks/': checks, 'node/': node, 'state/': state } });
}

function readable(authz: Authorizer, rows: CheckRow[]): CheckRow[] {
  if (!authz.enforcing) return rows;
  return rows.filter((c) => (c.ServiceID === '' ? authz.allowed('node', 'read', c.Node) : authz.allowed('service', 'read', c.ServiceName)));
}

/** Health reads report the consistency mode they were served with. */
function setConsistency(ctx: RequestContext, opts: QueryOptions): void {
  ctx.headers['X-Consul-Effective-Consistency'] = opts.stale ? 'stale' : opts.consistent ? 'consistent' : 'leader';
}

async function checksRead(ctx: RequestContext, select: () => CheckRow[]): Promise<Reply> {
  const { opts, filter, authz } = await startCatalogRead(ctx, HEALTH_CHECK_TYPE, () => undefined);
  const snap = await blockingQuery(ctx, opts, () => ({
    index: checksIndex(ctx.core.store.read()),
    value: readable(authz, select())
      .map(checkJson)
      .filter((c) => !filter || filter.matches(c)),
    watch: (c) => c.table === 'checks',
  }));
  ctx.setMeta(snap.index);
  setConsistency(ctx, opts);
  return ctx.json(snap.value);
}

function node(ctx: RequestContext): Promise<Reply> {
  const name = ctx.path.slice('/v1/health/node/'.length);
  if (name === '') throw new HttpError(400, 'Missing node name');
  return checksRead(ctx, () => nodeChecks(ctx.core.store.read(), name));
}

/** checksInStateTxn does not validate the state: an unknown one lists nothing. */
function state(ctx: RequestContext): Promise<Reply> {
  const wanted = ctx.path.slice('/v1/health/state/'.length);
  if (wanted === '') throw new HttpError(400, 'Missing check state');
  return checksRead(ctx, () => checksInState(ctx.core.store.read(), wanted));
}

/** HealthServiceChecks: checks bound to instances of the service name (no node-level ones). */
function checks(ctx: RequestContext): Promise<Reply> {
  const name = ctx.path.slice('/v1/health/checks/'.length);
  if (name === '') throw new HttpError(400, 'Missing service name');
  return checksRead(ctx, () => serviceChecks(ctx.core.store.read(), name));
}

/** getBoolQueryParam: absent → false, present without value → true, else strconv.ParseBool. */
function boolParam(ctx: RequestContext, key: string): boolean | undefined {
  if (!ctx.query.has(key)) return false;
  const raw = ctx.query.get(key);
  if (raw === '') return true;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

interface Entry {
  readonly node: Record<string, unknown>;
  readonly service: Record<string, unknown>;
  readonly checks: CheckRow[];
}

/**
 * filterNonPassing: drops entries with any check that is not passing (warning included). Like
 * Consul it removes an entry by swapping the last one into its place, so the order may change.
 */
function filterNonPassing(entries: Entry[]): Entry[] {
  const out = [...entries];
  let n = out.length;
  for (let i = 0; i < n; i++) {
    const entry = out[i]!;
    if (entry.checks.some((c) => c.Status !== 'passing')) {
      out[i] = out[n - 1]!;
      n -= 1;
      i -= 1;
    }
  }
  return out.slice(0, n);
}

/**
 * healthServiceNodes: `{Node, Service, Checks}` per instance; the index is the service's own
 * (the query blocks on it); `?passing` is applied to the answer afterwards, so its parse error
 * (400 `Invalid value for ?passing`) only comes once the query has run.
 */
async function service(ctx: RequestContext): Promise<Reply> {
  const { opts, args: { tags, name }, filter, authz, metaOk } = await startCatalogRead(ctx, CHECK_SERVICE_NODE_TYPE, () => serviceArgs(ctx, '/v1/health/service/'));
  const snap = await blockingQuery(ctx, opts, () => {
    const tx = ctx.core.store.read();
    const { index, services } = serviceNodes(tx, name, tags, true);
    const value: Entry[] = [];
    for (const s of services) {
      const n = tx.get('nodes', s.Node);
      if (!n || !metaOk(n)) continue;
      if (authz.enforcing && !(authz.allowed('node', 'read', n.Node) && authz.allowed('service', 'read', s.ServiceName))) continue;
      const entry = { node: nodeJson(n), service: nodeServiceJson(s), checks: readable(authz, checksForInstance(tx, s)) };
      if (filter && !filter.matches({ Node: entry.node, Service: entry.service, Checks: entry.checks.map(checkJson) })) continue;
      value.push(entry);
    }
    return { index, value, watch: catalogWatch };
  });
  ctx.setMeta(snap.index);
  ctx.cacheMeta(snap.index);
  setConsistency(ctx, opts);
  const passing = boolParam(ctx, 'passing');
  if (passing === undefined) throw new HttpError(400, 'Invalid value for ?passing');
  const entries = passing ? filterNonPassing(snap.value) : snap.value;
  return ctx.json(entries.map((e) => ({ Node: e.node, Service: e.service, Checks: e.checks.map(checkJson) })));
}
