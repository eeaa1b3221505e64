/**
 * `/v1/session/*`: agent/session_endpoint.go (HTTP defaults and fix-ups) over
 * agent/consul/session_endpoint.go (validation, TTL timers) and the sessions table.
 */
import { randomUUID } from 'node:crypto';
import type { Authorizer } from '../http/acl.js';
import { blockingQuery } from '../http/blocking.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError, RpcError } from '../http/errors.js';
import { DecodeError, type StructSpec, decodeStruct, parseJsonBody } from '../http/json.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';
import { SESSION_TTL_MAX_NS, formatGoDuration } from '../options.js';
import { nodeSessions, sessionCreate, sessionGet, sessionList, sessionsIndex } from '../state/sessions.js';
import type { ServiceCheckRef, SessionBehavior, SessionRow } from '../state/types.js';
import { SERF_CHECK_ID } from '../core.js';
import { parseGoDurationNs } from '../../../internal/duration.js';
import { sessionJson } from './shapes.js';

export function registerSessionRoutes(router: Router): void {
  addRoutes(router, '/v1/session/', {
    PUT: { create, 'destroy/': destroy, 'renew/': renew },
    GET: { 'info/': info, 'node/': forNode, list },
  });
}

/** session_endpoint.go lockDelayMinThreshold: numbers below 1000 (ns) are read as seconds. */
const LOCK_DELAY_MIN_THRESHOLD = 1000;

/**
 * structs.Session as decoded by its own UnmarshalJSON (plain json.Unmarshal underneath, so
 * unknown fields are tolerated). LockDelay is handled separately.
 */
const SESSION_SPEC: StructSpec = {
  name: 'structs.Session',
  strict: false,
  fields: {
    ID: 'string',
    Name: 'string',
    Node: 'string',
    Behavior: 'string',
    TTL: 'string',
    Checks: 'stringArray',
    NodeChecks: 'stringArray',
    ServiceChecks: 'any',
    Namespace: 'string',
    Partition: 'string',
    CreateIndex: 'int',
    ModifyIndex: 'int',
  },
};

/** Session.UnmarshalJSON's LockDelay rule: a Go duration string or nanoseconds; < 1000 ns ×1 s. */
function decodeLockDelay(raw: Record<string, unknown>): number | undefined {
  const key = Object.keys(raw).find((k) => k.toLowerCase() === 'lockdelay');
  if (key === undefined) return undefined;
  const value = raw[key];
  let ns: number;
  if (typeof value === 'string') {
    const parsed = parseGoDurationNs(value);
    if (parsed === undefined) throw new DecodeError(`time: invalid duration ${JSON.stringify(value)}`);
    ns = parsed;
  } else if (typeof value === 'number') {
    ns = Math.trunc(value);
  } else if (value === null) {
    return undefined;
  } else {
    throw new DecodeError(`json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into Go struct field .LockDelay of type time.Duration`);
  }
  return ns < LOCK_DELAY_MIN_THRESHOLD ? ns * 1e9 : ns;
}

function decodeServiceChecks(value: unknown): ServiceCheckRef[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value)) throw new DecodeError('json: cannot unmarshal into Go struct field Session.ServiceChecks of type []structs.ServiceCheck');
  return value.map((item) => {
    const f = decodeStruct(item, { name: 'structs.ServiceCheck', strict: false, fields: { ID: 'string', Namespace: 'string' } });
    return { ID: (f.ID as string | undefined) ?? '', Namespace: (f.Namespace as string | undefined) ?? '' };
  });
}

/** SessionCreate → Session.Apply (create). */
async function create(ctx: RequestContext): Promise<Reply> {
  const { nodeName, sessionTtlMinNs, maxOtherBodyBytes } = ctx.core.options;
  // Defaults before the body is read: our node + serfHealth, 15 s lock-delay, release.
  let name = '';
  let node = nodeName;
  let lockDelay = 15e9;
  let behavior = 'release';
  let ttl = '';
  let checks: string[] | null = [SERF_CHECK_ID];
  let nodeChecks: string[] | null = [SERF_CHECK_ID];
  let serviceChecks: ServiceCheckRef[] | null = null;
  // The body is optional and read only with a positive Content-Length (a chunked body is ignored,
  // as Go's req.ContentLength is -1 then).
  if (ctx.contentLength() > 0) {
    const body = await ctx.readBody(maxOtherBodyBytes, 'Request body too large');
    try {
      const raw = parseJsonBody(body.toString('utf8'));
      const f = decodeStruct(raw, SESSION_SPEC);
      const delay = decodeLockDelay(raw as Record<string, unknown>);
      if (delay !== undefined) lockDelay = delay;
      if (f.Name !== undefined) name = f.Name as string;
      if (f.Node !== undefined) node = f.Node as string;
      if (f.Behavior !== undefined) behavior = f.Behavior as string;
      if (f.TTL !== undefined) ttl = f.TTL as string;
      if ('Checks' in f) checks = f.Checks as string[] | null;
      if ('NodeChecks' in f) nodeChecks = f.NodeChecks as string[] | null;
      if ('ServiceChecks' in f) serviceChecks = decodeServiceChecks(f.ServiceChecks);
    } catch (err) {
      if (err instanceof DecodeError) throw new HttpError(400, `Request decode failed: ${err.message}`);
      throw err;
    }
  }
  // fixupEmptySessionChecks (backwards compatibility with the pre-1.7 `Checks` field).
  if (checks === null || checks.length === 0) {
    nodeChecks = [];
  } else if (checks.length === 1 && checks[0] === SERF_CHECK_ID) {
    checks = null;
  } else if (nodeChecks === null || nodeChecks.length === 0) {
    checks = null;
  }

  const authz = await ctx.rpcWrite();
  if (node === '') throw new RpcError('Must provide Node');
  authz.require('session', 'write', node);
  if (behavior === '') behavior = 'release';
  if (behavior !== 'release' && behavior !== 'delete') throw new RpcError(`Invalid Behavior setting '${behavior}'`);
  if (ttl !== '') {
    const ns = parseGoDurationNs(ttl);
    if (ns === undefined) throw new RpcError(`Session TTL '${ttl}' invalid: time: invalid duration ${JSON.stringify(ttl)}`);
    if (ns !== 0 && (ns < sessionTtlMinNs || ns > SESSION_TTL_MAX_NS)) {
      throw new RpcError(`Invalid Session TTL '${ns}', must be between [${formatGoDuration(sessionTtlMinNs)}=${formatGoDuration(SESSION_TTL_MAX_NS)}]`);
    }
  }
  const id = randomUUID();
  const { result: session } = ctx.core.write((tx) =>
    sessionCreate(tx, {
      ID: id,
      Name: name,
      Node: node,
      LockDelay: lockDelay,
      Behavior: behavior as SessionBehavior,
      TTL: ttl,
      NodeChecks: nodeChecks,
      ServiceChecks: serviceChecks,
      Checks: checks,
    }),
  );
  if (session.TTL !== '') ctx.core.resetSessionTimer(session);
  return ctx.json({ ID: session.ID });
}

function suffix(ctx: RequestContext, prefix: string): string {
  return ctx.path.slice(prefix.length);
}

/** SessionDestroy → Session.Apply (destroy): unknown IDs succeed without touching Raft. */
async function destroy(ctx: RequestContext): Promise<Reply> {
  const id = suffix(ctx, '/v1/session/destroy/');
  if (id === '') throw new HttpError(400, 'Missing session');
  const authz = await ctx.rpcWrite();
  const existing = sessionGet(ctx.core.store.read(), id);
  if (existing) {
    authz.require('session', 'write', existing.Node);
    ctx.core.destroySession(id);
  }
  return ctx.json(true);
}

/** SessionRenew → Session.Renew: not a Raft write; resets the TTL × 2 timer. */
async function renew(ctx: RequestContext): Promise<Reply> {
  ctx.queryOptions();
  const id = suffix(ctx, '/v1/session/renew/');
  if (id === '') throw new HttpError(400, 'Missing session');
  const authz = await ctx.rpcWrite();
  const session = sessionGet(ctx.core.store.read(), id);
  if (!session) throw new HttpError(404, `Session id '${id}' not found`);
  authz.require('session', 'write', session.Node);
  ctx.core.resetSessionTimer(session);
  return ctx.json([sessionJson(session)]);
}

function readable(authz: Authorizer, sessions: SessionRow[]): SessionRow[] {
  return authz.enforcing ? sessions.filter((s) => authz.allowed('session', 'read', s.Node)) : sessions;
}

/** The three session reads: blocking on the sessions table index. */
async function sessionRead(ctx: RequestContext, select: () => SessionRow[]): Promise<Reply> {
  const opts = ctx.queryOptions();
  const authz = await ctx.rpcRead(opts);
  const snap = await blockingQuery(ctx, opts, () => ({
    index: sessionsIndex(ctx.core.store.read()),
    value: readable(authz, select()),
    watch: (c) => c.table === 'sessions',
  }));
  ctx.setMeta(snap.index);
  return ctx.json(snap.value.map(sessionJson));
}

async function info(ctx: RequestContext): Promise<Reply> {
  const id = suffix(ctx, '/v1/session/info/');
  if (id === '') {
    ctx.queryOptions();
    throw new HttpError(400, 'Missing session');
  }
  return sessionRead(ctx, () => {
    const s = sessionGet(ctx.core.store.read(), id);
    return s ? [s] : [];
  });
}

async function forNode(ctx: RequestContext): Promise<Reply> {
  const node = suffix(ctx, '/v1/session/node/');
  if (node === '') {
    ctx.queryOptions();
    throw new HttpError(400, 'Missing node name');
  }
  return sessionRead(ctx, () => nodeSessions(ctx.core.store.read(), node));
}

async function list(ctx: RequestContext): Promise<Reply> {
  return sessionRead(ctx, () => sessionList(ctx.core.store.read()));
}
