/**
 * Agent service endpoints (agent/agent_endpoint.go): register/deregister with checks, service and
 * node maintenance, `/v1/agent/services`, `/v1/agent/service/:id` (hash blocking) and the local
 * aggregated health of `/v1/agent/health/service/{name,id}/:x`. All of them work on the agent's
 * own state; writes reach the catalog before the reply (agent/state.ts `sync`).
 */
import type { LocalCheck } from '../agent/checks.js';
import { agentServiceContentHash } from '../agent/content-hash.js';
import { NODE_MAINT_CHECK_ID, SERVICE_MAINT_PREFIX, type LocalService } from '../agent/state.js';
import { queryTimeoutMs, waitForWake } from '../http/blocking.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import { type StructSpec, decodeStruct, parseJsonBody } from '../http/json.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';
import type { Locality, ServiceAddress, Weights } from '../state/types.js';
import {
  CHECK_TYPE_SPEC,
  buildLocalCheck,
  decodeError,
  isEmptyCheckType,
  isStatus,
  validateCheckType,
} from './agent.js';
import { AGENT_SERVICE_TYPE } from '../filter/index.js';
import { requestFilter } from './filtering.js';
import { SERVICE_FIELDS, decodeLocality, decodeTaggedAddresses, decodeWeights, isAnyAddress } from './service-fields.js';
import { agentServiceJson, checkResultJson } from './shapes.js';

export function registerAgentServiceRoutes(router: Router): void {
  addRoutes(router, '/v1/agent/', {
    GET: { services, 'service/': service, 'health/service/name/': healthByName, 'health/service/id/': healthById },
    PUT: { 'service/register': register, 'service/deregister/': deregister, 'service/maintenance/': serviceMaintenance, maintenance: nodeMaintenance },
  });
}

/**
 * structs.ServiceDefinition. Its UnmarshalJSON is plain json.Unmarshal, so unknown top-level keys
 * are tolerated; the nested check objects are decoded strictly (CHECK_TYPE_SPEC).
 */
const SERVICE_DEFINITION_SPEC: StructSpec = {
  name: 'structs.ServiceDefinition',
  strict: false,
  fields: { ...SERVICE_FIELDS, Name: 'string', Check: 'any', Checks: 'any', Token: 'string' },
  aliases: { enable_tag_override: 'EnableTagOverride', tagged_addresses: 'TaggedAddresses' },
};


interface DecodedService {
  readonly def: Record<string, unknown>;
  readonly locality: Locality | null;
  readonly checks: Record<string, unknown>[];
  readonly taggedAddresses: Record<string, ServiceAddress>;
  readonly weights: Weights | undefined;
}

function decodeService(raw: unknown): DecodedService {
  const def = decodeStruct(raw, SERVICE_DEFINITION_SPEC, 'ServiceDefinition');
  const taggedAddresses = decodeTaggedAddresses(def.TaggedAddresses, 'ServiceDefinition.TaggedAddresses', 'ServiceDefinition.TaggedAddresses');
  const locality = decodeLocality(def.Locality, 'ServiceDefinition.Locality');
  const weights = decodeWeights(def.Weights, 'ServiceDefinition.Weights');
  const checks: Record<string, unknown>[] = [];
  // ServiceDefinition.CheckTypes: `Check` first unless empty, then each of `Checks`.
  if (def.Check !== undefined && def.Check !== null) {
    const c = decodeStruct(def.Check, CHECK_TYPE_SPEC, 'ServiceDefinition.Check');
    if (!isEmptyCheckType(c)) checks.push(c);
  }
  if (def.Checks !== undefined && def.Checks !== null) {
    if (!Array.isArray(def.Checks)) {
      throw new DecodeErrorLike('json: cannot unmarshal object into Go struct field ServiceDefinition.Checks of type structs.CheckTypes');
    }
    for (const item of def.Checks) {
      checks.push(item === null ? {} : decodeStruct(item, CHECK_TYPE_SPEC, 'ServiceDefinition.Checks'));
    }
  }
  return { def, locality, checks, taggedAddresses, weights };
}

/** A decode failure found after decodeStruct (answered as `Request decode failed: …`). */
class DecodeErrorLike extends Error {}

/** structs.ValidateWeights. */
function validateWeights(w: { Passing: number; Warning: number }): string | undefined {
  if (w.Passing < 1) return 'Passing must be greater than 0';
  if (w.Warning < 0) return 'Warning must be greater or equal than 0';
  if (w.Passing > 65535 || w.Warning > 65535) return 'DNS Weight must be between 0 and 65535';
  return undefined;
}

/** structs.ValidateServiceMetadata (validateMetaPair, without the consul- exceptions). */
function validateMeta(meta: Record<string, string>): string | undefined {
  const entries = Object.entries(meta);
  if (entries.length > 64) return 'Service metadata cannot contain more than 64 key/value pairs';
  for (const [key, value] of entries) {
    let problem: string | undefined;
    if (key === '') problem = 'Key cannot be blank';
    else if (!/^[a-zA-Z0-9_-]+$/.test(key)) problem = 'Key contains invalid characters';
    else if (key.length > 128) problem = 'Key is too long (limit: 128 characters)';
    else if (key.startsWith('consul-')) problem = "Key prefix 'consul-' is reserved for internal use";
    else if (value.length > 512) problem = 'Value is too long (limit: 512 characters)';
    if (problem !== undefined) return `Couldn't load metadata pair ('${key}', '${value}'): ${problem}`;
  }
  return undefined;
}

function isIPv4(address: string): boolean {
  const parts = address.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isIPv6(address: string): boolean {
  return address.includes(':') && /^[0-9a-fA-F:.]+$/.test(address);
}

/**
 * AgentRegisterService. Order of checks as in Consul: decode, Name, Address, token, Weights,
 * Meta, each check's definition, each check's Status, then ACLs; `?replace-existing-checks`
 * (no value or `true`) drops the service's checks missing from the new definition.
 */
async function register(ctx: RequestContext): Promise<Reply> {
  const body = await ctx.readBody(ctx.core.options.maxOtherBodyBytes, 'Request body too large');
  let decoded: DecodedService;
  try {
    decoded = decodeService(parseJsonBody(body.toString('utf8')));
  } catch (err) {
    if (err instanceof DecodeErrorLike) throw new HttpError(400, `Request decode failed: ${err.message}`);
    decodeError(err);
  }
  const { def, checks, weights } = decoded;
  const text = (k: string): string => (typeof def[k] === 'string' ? (def[k] as string) : '');
  const name = text('Name');
  if (name === '') throw new HttpError(400, 'Missing service name');
  const address = text('Address');
  if (isAnyAddress(address)) throw new HttpError(400, 'Invalid service address');
  const authz = ctx.authorizer();
  if (weights !== undefined) {
    const problem = validateWeights(weights);
    if (problem !== undefined) throw new HttpError(400, `Invalid Weights: ${problem}`);
  }
  const meta = (def.Meta as Record<string, string> | null | undefined) ?? null;
  if (meta !== null) {
    const problem = validateMeta(meta);
    if (problem !== undefined) throw new HttpError(400, `Invalid Service Meta: ${problem}`);
  }
  for (const c of checks) {
    const invalid = validateCheckType(c);
    if (invalid !== undefined) throw new HttpError(400, `Invalid check: ${invalid}`);
  }
  for (const c of checks) {
    const status = typeof c.Status === 'string' ? c.Status : '';
    if (status !== '' && !isStatus(status)) throw new HttpError(400, "Status for checks must 'passing', 'warning', 'critical'");
  }
  const id = text('ID') || name;
  // vetServiceRegisterWithAuthorizer: the new name, and the name of the service it replaces.
  authz.require('service', 'write', name);
  const existing = ctx.core.agent.getService(id);
  if (existing && existing.Service !== name) authz.require('service', 'write', existing.Service);

  const port = typeof def.Port === 'number' ? def.Port : 0;
  // addServiceInternal: default lan/wan tagged addresses for an IP service address.
  const taggedAddresses = { ...decoded.taggedAddresses };
  const v4 = isIPv4(address);
  const v6 = !v4 && isIPv6(address);
  if (v4) {
    taggedAddresses.lan_ipv4 ??= { Address: address, Port: port };
    taggedAddresses.wan_ipv4 ??= { Address: address, Port: port };
  } else if (v6) {
    taggedAddresses.lan_ipv6 ??= { Address: address, Port: port };
    taggedAddresses.wan_ipv6 ??= { Address: address, Port: port };
  }
  const svc: LocalService = {
    Kind: text('Kind'),
    ID: id,
    Service: name,
    Tags: (def.Tags as string[] | null | undefined) ?? [],
    Address: address,
    TaggedAddresses: taggedAddresses,
    Meta: meta,
    Port: port,
    // validateService: default weights so anti-entropy sees no difference.
    Weights: weights ?? { Passing: 1, Warning: 1 },
    EnableTagOverride: def.EnableTagOverride === true,
    SocketPath: text('SocketPath'),
    Locality: decoded.locality,
  };
  const localChecks: LocalCheck[] = checks.map((c, i) => {
    const given = typeof c.CheckID === 'string' ? c.CheckID : '';
    const checkId = given !== '' ? given : checks.length > 1 ? `service:${id}:${i + 1}` : `service:${id}`;
    const checkName = typeof c.Name === 'string' && c.Name !== '' ? c.Name : `Service '${name}' check`;
    const status = typeof c.Status === 'string' && isStatus(c.Status) ? c.Status : 'critical';
    return buildLocalCheck(ctx, c, {
      CheckID: checkId,
      Name: checkName,
      Status: status,
      ServiceID: id,
      ServiceName: name,
      ServiceTags: svc.Tags,
    });
  });
  const replace = ctx.query.all('replace-existing-checks');
  const replaceExisting = replace.length > 0 && (ctx.query.get('replace-existing-checks') === '' || ctx.query.get('replace-existing-checks') === 'true');
  ctx.core.agent.addService(svc, localChecks, replaceExisting);
  return ctx.empty();
}

/** vetServiceUpdateWithAuthorizer: unknown IDs are a 404 naming the ID, then `service:write`. */
function requireService(ctx: RequestContext, id: string): LocalService {
  const authz = ctx.authorizer();
  const svc = ctx.core.agent.getService(id);
  if (!svc) {
    throw new HttpError(404, `Unknown service ID ${JSON.stringify(id)}. Ensure that the service ID is passed, not the service name.`);
  }
  authz.require('service', 'write', svc.Service);
  return svc;
}

function deregister(ctx: RequestContext): Reply {
  const id = ctx.path.slice('/v1/agent/service/deregister/'.length);
  requireService(ctx, id);
  ctx.core.agent.removeService(id);
  return ctx.empty();
}

/** strconv.ParseBool. */
function parseGoBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

function enableParam(ctx: RequestContext): boolean {
  if (!ctx.query.has('enable')) throw new HttpError(400, 'Missing value for enable');
  const raw = ctx.query.get('enable');
  const enable = parseGoBool(raw);
  if (enable === undefined) throw new HttpError(400, `Invalid value for enable: ${JSON.stringify(raw)}`);
  return enable;
}

/** AgentServiceMaintenance. */
function serviceMaintenance(ctx: RequestContext): Reply {
  const id = ctx.path.slice('/v1/agent/service/maintenance/'.length);
  if (id === '') throw new HttpError(400, 'Missing service ID');
  const enable = enableParam(ctx);
  requireService(ctx, id);
  if (enable) ctx.core.agent.enableServiceMaintenance(id, ctx.query.get('reason'));
  else ctx.core.agent.disableServiceMaintenance(id);
  return ctx.empty();
}

/** AgentNodeMaintenance: `node:write` on the agent's node. */
function nodeMaintenance(ctx: RequestContext): Reply {
  const enable = enableParam(ctx);
  ctx.authorizer().require('node', 'write', ctx.core.options.nodeName);
  if (enable) ctx.core.agent.enableNodeMaintenance(ctx.query.get('reason'));
  else ctx.core.agent.disableNodeMaintenance();
  return ctx.empty();
}

/** AgentServices: keyed by service ID, filtered by `service:read`; `?filter` over api.AgentService. */
function services(ctx: RequestContext): Reply {
  const filter = requestFilter(ctx, AGENT_SERVICE_TYPE);
  const authz = ctx.authorizer();
  const all = ctx.core.agent.listServices();
  const visible = authz.enforcing ? all.filter((s) => authz.allowed('service', 'read', s.Service)) : all;
  if (visible.length < all.length && ctx.token() !== '') ctx.headers['X-Consul-Results-Filtered-By-ACLs'] = 'true';
  const out: Record<string, unknown> = {};
  for (const s of visible) {
    const json = agentServiceJson(s, ctx.core.options.datacenter);
    if (!filter || filter.matches(json)) out[s.ID] = json;
  }
  return ctx.json(out);
}

/**
 * AgentService: one local service with its ContentHash. With `?hash=` the request blocks
 * (LocalBlockingQuery: wait default 5 min, capped at 10, plus jitter) until the hash differs.
 */
async function service(ctx: RequestContext): Promise<Reply> {
  const id = ctx.path.slice('/v1/agent/service/'.length);
  const opts = ctx.queryOptions();
  const authz = ctx.authorizer();
  const hash = ctx.query.get('hash');
  const read = (): { hash: string; body: Record<string, unknown> } => {
    const svc = ctx.core.agent.getService(id);
    if (!svc) throw new HttpError(404, `unknown service ID: ${id}`);
    authz.require('service', 'read', svc.Service);
    const body = agentServiceJson(svc, ctx.core.options.datacenter);
    const h = agentServiceContentHash({
      Kind: svc.Kind,
      ID: svc.ID,
      Service: svc.Service,
      Tags: svc.Tags,
      Meta: svc.Meta,
      Port: svc.Port,
      Address: svc.Address,
      SocketPath: svc.SocketPath ?? '',
      TaggedAddresses: svc.TaggedAddresses,
      Weights: body.Weights as { Passing: number; Warning: number },
      EnableTagOverride: svc.EnableTagOverride,
      PeerName: '',
    });
    return { hash: h, body: { ...body, ContentHash: h } };
  };
  let current = read();
  if (hash !== '') {
    const { defaultQueryTimeMs, maxQueryTimeMs } = ctx.core.options;
    const deadline = Date.now() + queryTimeoutMs(opts.waitMs, defaultQueryTimeMs, maxQueryTimeMs);
    while (current.hash === hash) {
      const woke = await waitForAgentChange(ctx, deadline - Date.now());
      current = read();
      if (woke === 'timeout') break;
    }
  }
  ctx.headers['X-Consul-ContentHash'] = current.hash;
  return ctx.json(current.body);
}

function waitForAgentChange(ctx: RequestContext, ms: number): Promise<'change' | 'timeout'> {
  return waitForWake(ctx, ms, (wake) => ctx.core.agent.subscribe(wake));
}

/** api.HealthChecks.AggregatedStatus: maintenance outranks critical, warning, passing. */
function aggregatedStatus(checks: readonly LocalCheck[]): string {
  let passing = false;
  let warning = false;
  let critical = false;
  let maintenance = false;
  for (const c of checks) {
    if (c.CheckID === NODE_MAINT_CHECK_ID || c.CheckID.startsWith(SERVICE_MAINT_PREFIX)) {
      maintenance = true;
      continue;
    }
    if (c.Status === 'passing') passing = true;
    else if (c.Status === 'warning') warning = true;
    else if (c.Status === 'critical') critical = true;
  }
  if (maintenance) return 'maintenance';
  if (critical) return 'critical';
  if (warning) return 'warning';
  void passing;
  return 'passing';
}

/** agentHealthService: the instance's checks (node-level included), status and HTTP code. */
function instanceHealth(ctx: RequestContext, svc: LocalService): { code: number; status: string; body: Record<string, unknown> } {
  const checks = ctx.core.agent.checksForService(svc.ID, true);
  const status = aggregatedStatus(checks);
  const code = status === 'warning' ? 429 : status === 'passing' ? 200 : 503;
  const node = ctx.core.options.nodeName;
  return {
    code,
    status,
    body: {
      AggregatedStatus: status,
      Service: agentServiceJson(svc, ctx.core.options.datacenter),
      Checks: checks.map((c) => ({
        ...checkResultJson(node, c),
        Type: '',
        ExposedPort: 0,
        Definition: {},
        CreateIndex: 0,
        ModifyIndex: 0,
      })),
    },
  };
}

/** returnTextPlain: `Accept: text/plain…` or `?format=text`. */
function wantsText(ctx: RequestContext): boolean {
  const accept = ctx.req.headers.accept;
  if (typeof accept === 'string' && accept.startsWith('text/plain')) return true;
  return ctx.query.get('format') === 'text';
}

/** CodeWithPayloadError: the status code, `X-Consul-Reason`, and still a body. */
function withReason(ctx: RequestContext, code: number, reason: string, body: unknown): Reply {
  ctx.headers['X-Consul-Reason'] = reason;
  if (wantsText(ctx)) return ctx.reply(code, Buffer.from(typeof body === 'string' ? body : reason, 'utf8'), 'text/plain');
  return ctx.json(body, code);
}

/** AgentHealthServiceByName: the worst status over the local instances; 404 `[]` when none. */
function healthByName(ctx: RequestContext): Reply {
  const name = ctx.path.slice('/v1/agent/health/service/name/'.length);
  if (name === '') throw new HttpError(400, 'Missing service Name');
  ctx.authorizer().require('service', 'read', name);
  let code = 404;
  let status = `ServiceName ${name} Not Found`;
  const result: unknown[] = [];
  for (const svc of ctx.core.agent.listServices().filter((s) => s.Service === name)) {
    const h = instanceHealth(ctx, svc);
    result.push(h.body);
    if (code === 404 || code < h.code) {
      code = h.code;
      status = h.status;
    }
  }
  return withReason(ctx, code, status, wantsText(ctx) ? status : result);
}

/** AgentHealthServiceByID. */
function healthById(ctx: RequestContext): Reply {
  const id = ctx.path.slice('/v1/agent/health/service/id/'.length);
  if (id === '') throw new HttpError(400, 'Missing serviceID');
  const authz = ctx.authorizer();
  const svc = ctx.core.agent.getService(id);
  if (svc) {
    authz.require('service', 'read', svc.Service);
    const h = instanceHealth(ctx, svc);
    return withReason(ctx, h.code, h.status, wantsText(ctx) ? h.status : h.body);
  }
  const reason = `ServiceId ${id} not found`;
  return withReason(ctx, 404, reason, wantsText(ctx) ? reason : { AggregatedStatus: 'critical', Service: null, Checks: null });
}
