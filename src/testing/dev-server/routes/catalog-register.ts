/**
 * Catalog writes and the datacenter list (agent/catalog_endpoint.go CatalogRegister,
 * CatalogDeregister, CatalogDatacenters; agent/consul/catalog_endpoint.go Register, Deregister):
 * external nodes, their services and checks, written straight into the catalog in one Raft write
 * each. Validation errors come back from the server RPC and are answered 500 with their text, as
 * Consul's HTTP layer does for every RPC error; a body that does not decode is a 400.
 */
import type { Authorizer } from '../http/acl.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError, RpcError } from '../http/errors.js';
import { type StructSpec, decodeStruct, parseJsonBody } from '../http/json.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';
import { deleteCheck, deleteNode, deleteService, ensureRegistration, type RegistrationInput } from '../state/catalog.js';
import type { CheckRow, CheckStatus, Weights } from '../state/types.js';
import { checkKey, serviceKey } from '../state/types.js';
import { decodeError } from './agent.js';
import { SERVICE_FIELDS, decodeLocality, decodeTaggedAddresses, decodeWeights, isAnyAddress } from './service-fields.js';

export function registerCatalogWriteRoutes(router: Router): void {
  addRoutes(router, '/v1/catalog/', { PUT: { register, deregister }, GET: { datacenters } });
}

/** structs.RegisterRequest (decoded leniently: lib.DecodeJSON does not refuse unknown fields). */
const REGISTER_SPEC: StructSpec = {
  name: 'structs.RegisterRequest',
  strict: false,
  fields: {
    Datacenter: 'string',
    ID: 'string',
    Node: 'string',
    Address: 'string',
    TaggedAddresses: 'stringMap',
    NodeMeta: 'stringMap',
    Service: 'any',
    Check: 'any',
    Checks: 'any',
    SkipNodeUpdate: 'bool',
    Locality: 'any',
    Token: 'string',
  },
};

/** structs.NodeService. */
const NODE_SERVICE_SPEC: StructSpec = {
  name: 'structs.NodeService',
  strict: false,
  fields: { ...SERVICE_FIELDS, Service: 'string' },
};

/** structs.HealthCheck. */
const HEALTH_CHECK_SPEC: StructSpec = {
  name: 'structs.HealthCheck',
  strict: false,
  fields: {
    Node: 'string',
    CheckID: 'string',
    Name: 'string',
    Status: 'string',
    Notes: 'string',
    Output: 'string',
    ServiceID: 'string',
    ServiceName: 'string',
    ServiceTags: 'stringArray',
    Type: 'string',
    Definition: 'any',
    Interval: 'string',
    Timeout: 'string',
  },
};


/** structs.DeregisterRequest. */
const DEREGISTER_SPEC: StructSpec = {
  name: 'structs.DeregisterRequest',
  strict: false,
  fields: { Datacenter: 'string', Node: 'string', ServiceID: 'string', CheckID: 'string', Token: 'string' },
};

const str = (d: Record<string, unknown>, k: string): string => (typeof d[k] === 'string' ? (d[k] as string) : '');

async function decodeBody(ctx: RequestContext, spec: StructSpec): Promise<Record<string, unknown>> {
  const body = await ctx.readBody(ctx.core.options.maxOtherBodyBytes, 'Request body too large');
  try {
    return decodeStruct(parseJsonBody(body.toString('utf8')), spec);
  } catch (err) {
    return decodeError(err);
  }
}

/** go-uuid ParseUUID: 36 characters, dashes at 8/13/18/23, hex elsewhere. */
function uuidProblem(id: string): string | undefined {
  if (id.length !== 36) return 'uuid string is wrong length';
  if (id[8] !== '-' || id[13] !== '-' || id[18] !== '-' || id[23] !== '-') return 'uuid is improperly formatted';
  const hex = id.replace(/-/g, '');
  const bad = /[^0-9a-fA-F]/.exec(hex);
  if (bad) return `encoding/hex: invalid byte: U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} '${bad[0]}'`;
  return undefined;
}

/** NodeService.ToServiceNode: default weights {1,1}, also when the given ones are invalid. */
function weightsOf(raw: unknown): Weights {
  const w = decodeWeights(raw, 'NodeService.Weights');
  const valid = w !== undefined && w.Passing >= 1 && w.Warning >= 0 && w.Passing <= 65535 && w.Warning <= 65535;
  return valid ? w : { Passing: 1, Warning: 1 };
}

interface DecodedRegistration {
  readonly req: RegistrationInput;
  readonly nodeChecks: boolean;
}

/**
 * Catalog.Register's checks, in its order: node, address (unless SkipNodeUpdate), node ID, then
 * servicePreApply (ID defaults to the name, a name is needed with an ID, no "any" address), then
 * checkPreApply for each check (CheckID defaults to the Name, Status to critical; `Check` is
 * appended to `Checks`; a check's Node defaults to the request's).
 */
function buildRegistration(ctx: RequestContext, d: Record<string, unknown>): DecodedRegistration {
  const node = str(d, 'Node');
  if (node === '') throw new RpcError('Must provide node');
  const skipNodeUpdate = d.SkipNodeUpdate === true;
  if (str(d, 'Address') === '' && !skipNodeUpdate) throw new RpcError('Must provide address if SkipNodeUpdate is not set');
  const id = str(d, 'ID');
  if (id !== '') {
    const problem = uuidProblem(id);
    if (problem !== undefined) throw new RpcError(`Bad node ID: ${problem}`);
  }
  let service: RegistrationInput['service'];
  if (d.Service !== undefined && d.Service !== null) {
    const s = decodeStruct(d.Service, NODE_SERVICE_SPEC, 'RegisterRequest.Service');
    const name = str(s, 'Service');
    const serviceId = str(s, 'ID') || name;
    if (serviceId !== '' && name === '') throw new RpcError('Must provide service name with ID');
    if (isAnyAddress(str(s, 'Address'))) throw new RpcError('Invalid service address');
    service = {
      Node: node,
      ServiceKind: str(s, 'Kind'),
      ServiceID: serviceId,
      ServiceName: name,
      ServiceTags: (s.Tags as string[] | null | undefined) ?? [],
      ServiceAddress: str(s, 'Address'),
      ServiceTaggedAddresses: decodeTaggedAddresses(s.TaggedAddresses, 'NodeService.Service.TaggedAddresses', 'NodeService.TaggedAddresses'),
      ServiceWeights: weightsOf(s.Weights),
      ServiceMeta: (s.Meta as Record<string, string> | null | undefined) ?? null,
      ServicePort: typeof s.Port === 'number' ? s.Port : 0,
      ServiceEnableTagOverride: s.EnableTagOverride === true,
      ServiceSocketPath: str(s, 'SocketPath'),
      ServiceLocality: decodeLocality(s.Locality, 'NodeService.Locality'),
    };
  }
  const rawChecks: unknown[] = [];
  if (d.Checks !== undefined && d.Checks !== null) {
    if (!Array.isArray(d.Checks)) {
      throw new HttpError(400, 'Request decode failed: json: cannot unmarshal object into Go struct field RegisterRequest.Checks of type structs.HealthChecks');
    }
    rawChecks.push(...d.Checks);
  }
  if (d.Check !== undefined && d.Check !== null) rawChecks.push(d.Check);
  const checks: Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'>[] = rawChecks
    .filter((c) => c !== null)
    .map((raw) => {
      const c = decodeStruct(raw, HEALTH_CHECK_SPEC, 'RegisterRequest.Checks');
      const definition = (c.Definition as Record<string, unknown> | null | undefined) ?? {};
      return {
        Node: str(c, 'Node') || node,
        CheckID: str(c, 'CheckID') || str(c, 'Name'),
        Name: str(c, 'Name'),
        Status: (str(c, 'Status') || 'critical') as CheckStatus,
        Notes: str(c, 'Notes'),
        Output: str(c, 'Output'),
        ServiceID: str(c, 'ServiceID'),
        ServiceName: str(c, 'ServiceName'),
        ServiceTags: (c.ServiceTags as string[] | null | undefined) ?? [],
        Type: str(c, 'Type') || definitionType(definition),
        Interval: str(c, 'Interval'),
        Timeout: str(c, 'Timeout'),
        ExposedPort: 0,
        Definition: definition,
      };
    });
  const nodeChecks = checks.some((c) => c.ServiceID === '');
  return {
    req: {
      node: {
        ID: id,
        Node: node,
        Address: str(d, 'Address'),
        Datacenter: str(d, 'Datacenter') || ctx.core.options.datacenter,
        TaggedAddresses: (d.TaggedAddresses as Record<string, string> | null | undefined) ?? null,
        Meta: (d.NodeMeta as Record<string, string> | null | undefined) ?? null,
        Locality: decodeLocality(d.Locality, 'RegisterRequest.Locality'),
      },
      skipNodeUpdate,
      service,
      checks,
    },
    nodeChecks,
  };
}

/** HealthCheck.CheckType().Type() for a catalog check: what its Definition describes. */
function definitionType(def: Record<string, unknown>): string {
  const has = (k: string): boolean => typeof def[k] === 'string' && def[k] !== '';
  if (has('GRPC')) return 'grpc';
  if (has('HTTP')) return 'http';
  if (has('TTL')) return 'ttl';
  if (has('TCP')) return 'tcp';
  if (has('UDP')) return 'udp';
  if (has('AliasNode') || has('AliasService')) return 'alias';
  if (has('H2PING')) return 'h2ping';
  if (has('OSService')) return 'os_service';
  return '';
}

/** vetRegisterWithACL: node:write for node changes and node checks, service:write for services. */
function vetRegister(authz: Authorizer, r: DecodedRegistration): void {
  if (!authz.enforcing) return;
  const { req } = r;
  if (!req.skipNodeUpdate || r.nodeChecks) authz.require('node', 'write', req.node.Node);
  if (req.service) authz.require('service', 'write', req.service.ServiceName);
  for (const c of req.checks) {
    if (c.ServiceID !== '') {
      const name = c.ServiceID === req.service?.ServiceID ? req.service.ServiceName : c.ServiceName;
      authz.require('service', 'write', name);
    }
  }
}

/** CatalogRegister: `true` once the registration is applied. */
async function register(ctx: RequestContext): Promise<Reply> {
  const d = await decodeBody(ctx, REGISTER_SPEC);
  const authz = await ctx.rpcWrite();
  const reg = buildRegistration(ctx, d);
  vetRegister(authz, reg);
  const ttl = ctx.core.options.tombstoneTtlMs;
  ctx.core.write((tx) => ensureRegistration(tx, reg.req, ttl));
  ctx.core.adoptCatalogTags(reg.req);
  return ctx.json(true);
}

/**
 * CatalogDeregister: a node with everything on it, or one service (with its checks), or one
 * check. Removing something that is not there is not an error.
 */
async function deregister(ctx: RequestContext): Promise<Reply> {
  const d = await decodeBody(ctx, DEREGISTER_SPEC);
  const authz = await ctx.rpcWrite();
  const node = str(d, 'Node');
  if (node === '') throw new RpcError('Must provide node');
  const serviceId = str(d, 'ServiceID');
  const checkId = str(d, 'CheckID');
  const tx0 = ctx.core.store.read();
  if (authz.enforcing) {
    // vetDeregisterWithACL: the service's name for a service or service check, else the node.
    if (serviceId !== '') {
      const s = tx0.get('services', serviceKey(node, serviceId));
      authz.require('service', 'write', s?.ServiceName ?? serviceId);
    } else if (checkId !== '') {
      const c = tx0.get('checks', checkKey(node, checkId));
      if (c && c.ServiceID !== '') authz.require('service', 'write', c.ServiceName);
      else authz.require('node', 'write', node);
    } else {
      authz.require('node', 'write', node);
    }
  }
  const ttl = ctx.core.options.tombstoneTtlMs;
  ctx.core.write((tx) => {
    if (serviceId === '' && checkId === '') {
      deleteNode(tx, node, ttl);
      return;
    }
    if (serviceId !== '') deleteService(tx, node, serviceId, ttl);
    if (checkId !== '') deleteCheck(tx, node, checkId, ttl);
  });
  return ctx.json(true);
}

/**
 * CatalogDatacenters (Catalog.ListDatacenters → router.GetDatacentersByDistance): the datacenters
 * known by WAN gossip, nearest first (by round-trip time, then name), the agent's own first; only
 * ours for a lone datacenter. No ACL check.
 */
function datacenters(ctx: RequestContext): Reply {
  const dc = ctx.core.dc;
  return ctx.json(dc.federation ? dc.federation.byDistance(dc.name) : [ctx.core.options.datacenter]);
}
