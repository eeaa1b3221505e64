/**
 * `/v1/status/leader` and `/v1/status/peers` (agent/status_endpoint.go): no ACL check; the
 * leader is the leading server's Raft address, or "" while leaderless; the peers are the Raft
 * configuration's servers (every server member that has not left).
 */
import type { Reply, RequestContext } from '../http/context.js';
import { RpcError } from '../http/errors.js';
import type { Router } from '../http/router.js';

function checkDc(ctx: RequestContext): void {
  const dc = ctx.query.get('dc');
  if (dc !== '' && dc !== ctx.core.options.datacenter) throw new RpcError('No path to datacenter');
}

export function registerStatusRoutes(router: Router): void {
  router
    .add('/v1/status/leader', ['GET'], (ctx): Reply => {
      checkDc(ctx);
      return ctx.json(ctx.core.dc.leaderAddress());
    })
    .add('/v1/status/peers', ['GET'], (ctx): Reply => {
      checkDc(ctx);
      return ctx.json(ctx.core.dc.peers());
    });
}
