/**
 * Connect (service mesh) is not modelled: the dev server answers as a Consul agent whose
 * `connect.enabled` is false. The CA, leaf-certificate, intention and authorize endpoints fail in
 * the server RPC with ErrConnectNotEnabled, which the HTTP layer answers 500 with its text
 * (agent/consul/connect_ca_endpoint.go, intention_endpoint.go; agent/connect_ca_endpoint.go).
 */
import type { Reply, RequestContext } from '../http/context.js';
import { RpcError } from '../http/errors.js';
import type { Router } from '../http/router.js';

/** structs.ErrConnectNotEnabled's text. */
export const CONNECT_NOT_ENABLED = 'Connect must be enabled in order to use this endpoint';

export function registerConnectRoutes(router: Router): void {
  const disabled = (ctx: RequestContext): Reply => {
    // The token is still resolved first (an unknown one is `ACL not found`).
    ctx.authorizer();
    throw new RpcError(CONNECT_NOT_ENABLED);
  };
  router
    .add('/v1/connect/ca/roots', ['GET'], disabled)
    .add('/v1/connect/ca/configuration', ['GET', 'PUT'], disabled)
    .add('/v1/agent/connect/ca/roots', ['GET'], disabled)
    .add('/v1/agent/connect/ca/leaf/', ['GET'], disabled)
    .add('/v1/agent/connect/authorize', ['POST'], disabled)
    .add('/v1/connect/intentions', ['GET', 'POST'], disabled)
    .add('/v1/connect/intentions/', ['GET', 'PUT', 'DELETE'], disabled);
}
