/**
 * `/v1/status/leader` and `/v1/status/peers` (agent/status_endpoint.go): no ACL check; the
 * leader is the leading server's Raft address, or "" while leaderless; the peers are the Raft
 * configuration's servers (every server member that has not left).
 */
import type { Reply } from '../http/context.js';
import type { Router } from '../http/router.js';

export function registerStatusRoutes(router: Router): void {
  router
    .add('/v1/status/leader', ['GET'], (ctx): Reply => {
      ctx.forward();
      return ctx.json(ctx.core.dc.leaderAddress());
    })
    .add('/v1/status/peers', ['GET'], (ctx): Reply => {
      ctx.forward();
      return ctx.json(ctx.core.dc.peers());
    });
}
