/**
 * `/v1/status/leader` and `/v1/status/peers` (agent/status_endpoint.go): no ACL check; the
 * leader is this server's Raft address, or "" while leaderless.
 */
import type { Reply, RequestContext } from '../http/context.js';
import { RpcError } from '../http/errors.js';
import type { Router } from '../http/router.js';

/** The Raft address a dev agent advertises (server port 8300). */
export function raftAddress(ctx: RequestContext): string {
  const host = ctx.core.options.host;
  const address = host === '0.0.0.0' || host === '::' || host === 'localhost' ? '127.0.0.1' : host;
  return address.includes(':') ? `[${address}]:8300` : `${address}:8300`;
}

function checkDc(ctx: RequestContext): void {
  const dc = ctx.query.get('dc');
  if (dc !== '' && dc !== ctx.core.options.datacenter) throw new RpcError('No path to datacenter');
}

export function registerStatusRoutes(router: Router): void {
  router
    .add('/v1/status/leader', ['GET'], (ctx): Reply => {
      checkDc(ctx);
      return ctx.json(ctx.core.isLeader ? raftAddress(ctx) : '');
    })
    .add('/v1/status/peers', ['GET'], (ctx): Reply => {
      checkDc(ctx);
      return ctx.json([raftAddress(ctx)]);
    });
}
