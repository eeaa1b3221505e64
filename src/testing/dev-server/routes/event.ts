/**
 * User events (agent/event_endpoint.go): `PUT /v1/event/fire/:name` and `GET /v1/event/list`.
 * The list's index is not a Raft index but the XOR of the two halves of the newest listed event's
 * UUID (an exact uint64, kept as a bigint); a blocking list waits only while that value equals the
 * requested index.
 */
import { UserEventError, uuidToUint64, validateUserEvent } from '../agent/events.js';
import type { Reply, RequestContext } from '../http/context.js';
import { AclError, HttpError, RpcError } from '../http/errors.js';
import { waitForWake } from '../http/blocking.js';
import type { Router } from '../http/router.js';
import { userEventJson } from './shapes.js';

export function registerEventRoutes(router: Router): void {
  router.add('/v1/event/fire/', ['PUT'], fire).add('/v1/event/list', ['GET'], list);
}

/**
 * EventFire: validation errors are 500 with their text; a token without `event:write` gets 403
 * with exactly `Permission denied`. Any other RPC error (an unknown token's `ACL not found`, the
 * gossip size limit) is a 500: the handler writes that status before returning the error.
 */
async function fire(ctx: RequestContext): Promise<Reply> {
  const name = ctx.path.slice('/v1/event/fire/'.length);
  if (name === '') throw new HttpError(400, 'Missing name');
  const params = {
    Name: name,
    NodeFilter: ctx.query.get('node'),
    ServiceFilter: ctx.query.get('service'),
    TagFilter: ctx.query.get('tag'),
  };
  // The payload is read only when Content-Length is positive.
  const payload = ctx.contentLength() > 0 ? await ctx.readBody(ctx.core.options.maxOtherBodyBytes, 'Request body too large') : null;
  try {
    validateUserEvent(params);
    // Fired with ?dc=: a server of that datacenter gossips it to its own agents (UserEvent RPC).
    ctx.forward();
    let allowed: boolean;
    try {
      allowed = ctx.authorizer().allowed('event', 'write', name);
    } catch (err) {
      if (err instanceof AclError) throw new RpcError(err.message);
      throw err;
    }
    if (!allowed) throw new HttpError(403, 'Permission denied');
    const event = ctx.core.fireEvent({ ...params, Payload: payload !== null && payload.length > 0 ? payload : null });
    return ctx.json(userEventJson(event));
  } catch (err) {
    if (err instanceof UserEventError) throw new RpcError(err.message);
    throw err;
  }
}

/** structs.maxQueryTime: an index without a wait blocks up to this. */
const MAX_QUERY_TIME_MS = 600_000;


/**
 * EventList: the buffer oldest first, narrowed by exact `?name`, then by `event:read`. With
 * `?index` it blocks (up to `wait`, capped at 10 min; 10 min without a wait) only while the
 * computed index equals the requested one; every new event wakes it to check again.
 */
async function list(ctx: RequestContext): Promise<Reply> {
  const { index: minIndex, waitMs } = ctx.parseWait();
  const token = ctx.token();
  const authz = ctx.authorizer();
  const name = ctx.query.get('name');
  const run = (): { index: bigint; events: ReturnType<typeof userEventJson>[]; removed: boolean } => {
    let events = ctx.core.events.list();
    if (name !== '') events = events.filter((e) => e.Name === name);
    const readable = authz.enforcing ? events.filter((e) => authz.allowed('event', 'read', e.Name)) : events;
    const last = readable[readable.length - 1];
    return { index: last ? uuidToUint64(last.ID) : 1n, events: readable.map(userEventJson), removed: readable.length < events.length };
  };
  let result = run();
  if (minIndex > 0n && result.index === minIndex) {
    const timeout = waitMs > 0 ? Math.min(waitMs, MAX_QUERY_TIME_MS) : MAX_QUERY_TIME_MS;
    const deadline = Date.now() + timeout;
    while (result.index === minIndex) {
      const woke = await waitForEvent(ctx, deadline - Date.now());
      result = run();
      if (woke === 'timeout') break;
    }
  }
  if (token !== '' && result.removed) ctx.headers['X-Consul-Results-Filtered-By-ACLs'] = 'true';
  ctx.headers['X-Consul-Index'] = result.index.toString();
  return ctx.json(result.events);
}

function waitForEvent(ctx: RequestContext, ms: number): Promise<'event' | 'timeout'> {
  return waitForWake(ctx, ms, (wake) => ctx.core.events.subscribe(wake)).then((woke) => (woke === 'change' ? 'event' : 'timeout'));
}
