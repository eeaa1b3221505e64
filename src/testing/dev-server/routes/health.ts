/**
 * Minimal catalog health reads (agent/health_endpoint.go): `/v1/health/node/:node` and
 * `/v1/health/state/:state`, blocking on the checks table. Service-level health arrives with
 * agent services.
 */
import type { Authorizer } from '../http/acl.js';
import { blockingQuery } from '../http/blocking.js';
import type { QueryOptions, Reply, RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { checksIndex, checksInState, nodeChecks } from '../state/catalog.js';
import type { CheckRow } from '../state/types.js';
import { checkJson } from './shapes.js';

export function registerHealthRoutes(router: Router): void {
  router.add('/v1/health/node/', ['GET'], node).add('/v1/health/state/', ['GET'], state);
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
  const opts = ctx.queryOptions();
  const authz = await ctx.rpcRead(opts);
  const snap = await blockingQuery(ctx, opts, () => ({
    index: checksIndex(ctx.core.store.read()),
    value: readable(authz, select()),
    watch: (c) => c.table === 'checks',
  }));
  ctx.setMeta(snap.index);
  setConsistency(ctx, opts);
  return ctx.json(snap.value.map(checkJson));
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
