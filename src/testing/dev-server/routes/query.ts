/**
 * Prepared queries over HTTP (agent/prepared_query_endpoint.go over
 * agent/consul/prepared_query_endpoint.go): `POST/GET /v1/query`, `GET/PUT/DELETE /v1/query/:id`,
 * `GET /v1/query/:idOrName/execute` and `/explain`. Execution runs in the datacenter that holds
 * the query; when it finds no healthy instance it fails over (`queryFailover`) to the NearestN
 * nearest datacenters and then the listed ones, in that order, over the dev cluster's WAN
 * federation, counting each attempt in `Failovers`. The state rules live in
 * state/prepared-queries.ts.
 */
import type { Core } from '../core.js';
import { type Authorizer, resolveAuthorizer } from '../http/acl.js';
import { blockingQuery } from '../http/blocking.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError, MethodNotAllowedError, NO_LEADER, RpcError } from '../http/errors.js';
import { DecodeError, parseJsonBody } from '../http/json.js';
import type { Router } from '../http/router.js';
import {
  QUERY_NOT_FOUND,
  REDACTED_TOKEN,
  executeLocal,
  failoverTargets,
  newQueryId,
  type PreparedQueryInput,
  queryResolve,
  querySet,
  type QueryInstance,
  shuffle,
  toQueryRow,
  validateQuery,
} from '../state/prepared-queries.js';
import { type Change, type PreparedQueryRow, StateError } from '../state/types.js';
import { checkJson, nodeJson, nodeServiceJson } from './shapes.js';

export function registerQueryRoutes(router: Router): void {
  router.add('/v1/query', ['GET', 'POST'], general).add('/v1/query/', ['GET', 'PUT', 'DELETE'], specific);
}

const queriesWatch = (c: Change): boolean => c.table === 'queries';

/** PreparedQueryGeneral: POST creates, GET lists. */
function general(ctx: RequestContext): Promise<Reply> {
  return ctx.method === 'POST' ? create(ctx) : list(ctx);
}

/** PreparedQuerySpecific: `/execute` and `/explain` are GET only; otherwise GET, PUT, DELETE. */
function specific(ctx: RequestContext): Promise<Reply> {
  const rest = ctx.path.slice('/v1/query/'.length);
  for (const suffix of ['/execute', '/explain'] as const) {
    if (!rest.endsWith(suffix)) continue;
    if (ctx.method !== 'GET') throw new MethodNotAllowedError(ctx.method, ['GET']);
    const id = rest.slice(0, -suffix.length);
    return suffix === '/execute' ? execute(ctx, id) : explain(ctx, id);
  }
  if (ctx.method === 'GET') return get(ctx, rest);
  if (ctx.method === 'PUT') return update(ctx, rest);
  return remove(ctx, rest);
}

// ---- body and ACLs --------------------------------------------------------------------------

async function readQueryBody(ctx: RequestContext, required: boolean): Promise<PreparedQueryInput> {
  if (!required && ctx.contentLength() <= 0) return {};
  const body = await ctx.readBody(ctx.core.options.maxOtherBodyBytes, 'Request body too large');
  try {
    const raw = parseJsonBody(body.toString('utf8'));
    if (raw === null) return {};
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new DecodeError(`json: cannot unmarshal ${Array.isArray(raw) ? 'array' : typeof raw} into Go value of type structs.PreparedQuery`);
    }
    return raw as PreparedQueryInput;
  } catch (err) {
    if (err instanceof DecodeError) throw new HttpError(400, `Request decode failed: ${err.message}`);
    throw err;
  }
}

/** structs.PreparedQuery.GetACLPrefix: a named query or any template is covered by `query` rules. */
function aclPrefix(q: Pick<PreparedQueryRow, 'Name' | 'Template'>): string | undefined {
  return q.Name !== '' || q.Template.Type !== '' ? q.Name : undefined;
}

/** A token that may manage ACLs sees query tokens; anyone else sees `<hidden>` (redactPreparedQueryTokens). */
function visibleQuery(authz: Authorizer, q: PreparedQueryRow): PreparedQueryRow | undefined {
  const prefix = aclPrefix(q);
  if (prefix !== undefined && !authz.allowed('query', 'read', prefix)) return undefined;
  if (q.Token !== '' && !authz.allowed('acl', 'write', '')) return { ...q, Token: REDACTED_TOKEN };
  return q;
}

function queryJson(q: PreparedQueryRow): Record<string, unknown> {
  return {
    ID: q.ID,
    Name: q.Name,
    Session: q.Session,
    Token: q.Token,
    Template: q.Template,
    Service: q.Service,
    DNS: q.DNS,
    CreateIndex: q.CreateIndex,
    ModifyIndex: q.ModifyIndex,
  };
}

// ---- apply ----------------------------------------------------------------------------------

/** preparedQueryCreate → PreparedQuery.Apply(create): `{"ID": …}`. */
async function create(ctx: RequestContext): Promise<Reply> {
  const input = await readQueryBody(ctx, true);
  const authz = await ctx.rpcWrite();
  if (input.ID !== undefined && input.ID !== '') throw new StateError('ID must be empty when creating a new prepared query');
  const row = toQueryRow(newQueryId(ctx.core.store.read()), input);
  const prefix = aclPrefix(row);
  if (prefix !== undefined) authz.require('query', 'write', prefix);
  validateQuery(row);
  ctx.core.write((tx) => querySet(tx, row));
  return ctx.json({ ID: row.ID });
}

/** Apply(update / delete) on an existing query: write access to its old and new prefixes. */
function requireExisting(ctx: RequestContext, authz: Authorizer, id: string): PreparedQueryRow {
  const existing = ctx.core.store.read().get('queries', id);
  if (!existing) throw new StateError(`Cannot modify non-existent prepared query: '${id}'`);
  const prefix = aclPrefix(existing);
  if (prefix !== undefined) authz.require('query', 'write', prefix);
  return existing;
}

/** preparedQueryUpdate: the ID comes from the URL; the body replaces the definition. */
async function update(ctx: RequestContext, id: string): Promise<Reply> {
  const input = await readQueryBody(ctx, false);
  const authz = await ctx.rpcWrite();
  const row = toQueryRow(id, input);
  const prefix = aclPrefix(row);
  if (prefix !== undefined) authz.require('query', 'write', prefix);
  requireExisting(ctx, authz, id);
  validateQuery(row);
  ctx.core.write((tx) => querySet(tx, row));
  return ctx.empty();
}

/** preparedQueryDelete. */
async function remove(ctx: RequestContext, id: string): Promise<Reply> {
  const authz = await ctx.rpcWrite();
  requireExisting(ctx, authz, id);
  ctx.core.write((tx) => tx.delete('queries', id));
  return ctx.empty();
}

// ---- reads ----------------------------------------------------------------------------------

/** PreparedQuery.List: every query the token may read, tokens redacted; the table's index. */
async function list(ctx: RequestContext): Promise<Reply> {
  const opts = ctx.queryOptions();
  const authz = await ctx.rpcRead(opts);
  const snap = await blockingQuery(ctx, opts, () => {
    const tx = ctx.core.store.read();
    return { index: tx.tableIndex('queries'), value: tx.all('queries'), watch: queriesWatch };
  });
  ctx.setMeta(snap.index);
  const visible = snap.value.map((q) => visibleQuery(authz, q)).filter((q): q is PreparedQueryRow => q !== undefined);
  return ctx.json(visible.map(queryJson));
}

/** PreparedQuery.Get: by ID only; 404 `Query not found`; a hidden named query is a 403. */
async function get(ctx: RequestContext, id: string): Promise<Reply> {
  const opts = ctx.queryOptions();
  const authz = await ctx.rpcRead(opts);
  const snap = await blockingQuery(ctx, opts, () => {
    const tx = ctx.core.store.read();
    return { index: tx.tableIndex('queries'), value: tx.get('queries', id), watch: queriesWatch };
  });
  ctx.setMeta(snap.index);
  if (!snap.value) return ctx.text(404, QUERY_NOT_FOUND);
  const visible = visibleQuery(authz, snap.value);
  if (!visible) authz.require('query', 'read', snap.value.Name);
  return ctx.json([queryJson(visible ?? snap.value)]);
}

/** PreparedQuery.Explain: the query a name resolves to, templates rendered. */
async function explain(ctx: RequestContext, idOrName: string): Promise<Reply> {
  const opts = ctx.queryOptions();
  const authz = await ctx.rpcRead(opts);
  const tx = ctx.core.store.read();
  ctx.setMeta(tx.tableIndex('queries'));
  const query = queryResolve(tx, idOrName);
  if (!query) return ctx.text(404, QUERY_NOT_FOUND);
  const visible = visibleQuery(authz, query);
  if (!visible) authz.require('query', 'read', query.Name);
  return ctx.json({ Query: queryJson(visible ?? query) });
}

/**
 * PreparedQuery.Execute: resolve (ID, name, or template by longest prefix), run in this
 * datacenter, filter the nodes with the query's token (or the request's), shuffle, apply
 * `?limit`; with no node left, fail over. `Datacenter` names who answered; `Failovers` counts the
 * datacenters tried.
 */
async function execute(ctx: RequestContext, idOrName: string): Promise<Reply> {
  const opts = ctx.queryOptions();
  const limitText = ctx.query.get('limit');
  const limit = limitText === '' ? 0 : Number(limitText);
  if (!Number.isInteger(limit)) throw new StateError(`Bad limit: strconv.Atoi: parsing ${JSON.stringify(limitText)}: invalid syntax`);
  await ctx.rpcRead(opts);
  const home = ctx.core;
  const tx = home.store.read();
  ctx.setMeta(tx.tableIndex('queries'));
  const query = queryResolve(tx, idOrName);
  if (!query) return ctx.text(404, QUERY_NOT_FOUND);
  // "If they supplied a token with the query, use that, otherwise use the token passed in."
  const token = query.Token !== '' ? query.Token : ctx.token();
  const run = (core: Core): QueryInstance[] => {
    const found = filterByAcl(core, token, executeLocal(core.store.read(), query));
    shuffle(found);
    return limit > 0 ? found.slice(0, limit) : found;
  };
  let datacenter = home.options.datacenter;
  let nodes = run(home);
  let failovers = 0;
  const federation = home.dc.federation;
  if (nodes.length === 0 && federation) {
    const others = federation.byDistance(datacenter).filter((dc) => dc !== datacenter);
    for (const dc of failoverTargets(query, others)) {
      failovers += 1;
      let remote: Core;
      try {
        // ExecuteRemote through forwardDC: an unreachable datacenter is skipped (logged).
        remote = federation.route(home.options.datacenter, dc);
        if (!remote.isLeader) throw new RpcError(NO_LEADER);
      } catch (err) {
        home.log('warn', 'Failed querying for service in datacenter', { service: query.Service.Service, datacenter: dc, error: (err as Error).message });
        continue;
      }
      nodes = run(remote);
      datacenter = dc;
      if (nodes.length > 0) break;
    }
  }
  return ctx.json({
    Service: query.Service.Service,
    Nodes: nodes.map((i) => ({ Node: nodeJson(i.node), Service: nodeServiceJson(i.service), Checks: i.checks.map(checkJson) })),
    DNS: query.DNS,
    Datacenter: datacenter,
    Failovers: failovers,
    Index: Number(ctx.headers['X-Consul-Index'] ?? 0),
    LastContact: 0,
    KnownLeader: ctx.headers['X-Consul-KnownLeader'] === 'true',
    ConsistencyLevel: opts.stale ? 'stale' : opts.consistent ? 'consistent' : 'leader',
  });
}

/**
 * filterACL on the nodes with the executing token: the dev server's management token sees every
 * node, the anonymous token none (default deny), and any other token (say, a deleted one the
 * query still names) is `ACL not found`.
 */
function filterByAcl(core: Core, token: string, nodes: QueryInstance[]): QueryInstance[] {
  // An unknown token throws AclError (403 `ACL not found`).
  const authz = resolveAuthorizer(core.options.aclToken, token);
  if (!authz.enforcing) return nodes;
  return nodes.filter((i) => authz.allowed('node', 'read', i.node.Node) && authz.allowed('service', 'read', i.service.ServiceName));
}

/**
 * The DNS form `<query>.query.consul` (agent/dns.go preparedQueryLookup): the same execution with
 * the agent's token (none), returning the instances and the datacenter that answered.
 */
export function executeForDns(core: Core, idOrName: string): { instances: QueryInstance[]; datacenter: string } | undefined {
  let query: PreparedQueryRow | undefined;
  try {
    query = queryResolve(core.store.read(), idOrName);
  } catch {
    // A template asked for by ID: nothing to answer (NXDOMAIN).
    return undefined;
  }
  if (!query) return undefined;
  let datacenter = core.options.datacenter;
  let instances = shuffle(executeLocal(core.store.read(), query));
  const federation = core.dc.federation;
  if (instances.length === 0 && federation) {
    const others = federation.byDistance(datacenter).filter((dc) => dc !== datacenter);
    for (const dc of failoverTargets(query, others)) {
      if (!federation.reachable(core.options.datacenter, dc)) continue;
      const remote = federation.route(core.options.datacenter, dc);
      instances = shuffle(executeLocal(remote.store.read(), query));
      datacenter = dc;
      if (instances.length > 0) break;
    }
  }
  return { instances, datacenter };
}
