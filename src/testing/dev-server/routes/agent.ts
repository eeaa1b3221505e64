/**
 * `/v1/agent/self` and the agent check endpoints (agent/agent_endpoint.go). Agent endpoints
 * work on agent-local state, so they answer even without a leader; their changes reach the
 * catalog through the agent's sync (agent/checks.ts).
 *
 * Check types: TTL checks run fully. HTTP, TCP, UDP, gRPC, H2PING, script, Docker, alias and
 * OS-service checks are accepted and validated but not executed yet: they keep their initial
 * status (critical unless the definition sets Status) until forced with `setCheckStatus`.
 */
import { DEFAULT_OUTPUT_MAX_SIZE, type LocalCheck } from '../agent/checks.js';
import { DEV_SERVER_CONSUL_VERSION } from '../core.js';
import type { Authorizer } from '../http/acl.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError, RpcError } from '../http/errors.js';
import { DecodeError, type StructSpec, decodeStruct, parseJsonBody } from '../http/json.js';
import type { Router } from '../http/router.js';
import { formatGoDuration } from '../options.js';
import type { CheckStatus } from '../state/types.js';
import { checkJson } from './shapes.js';

export function registerAgentRoutes(router: Router): void {
  router
    .add('/v1/agent/self', ['GET'], self)
    .add('/v1/agent/checks', ['GET'], checks)
    .add('/v1/agent/check/register', ['PUT'], register)
    .add('/v1/agent/check/deregister/', ['PUT'], deregister)
    .add('/v1/agent/check/pass/', ['PUT'], (ctx) => ttlUpdate(ctx, '/v1/agent/check/pass/', 'passing'))
    .add('/v1/agent/check/warn/', ['PUT'], (ctx) => ttlUpdate(ctx, '/v1/agent/check/warn/', 'warning'))
    .add('/v1/agent/check/fail/', ['PUT'], (ctx) => ttlUpdate(ctx, '/v1/agent/check/fail/', 'critical'))
    .add('/v1/agent/check/update/', ['PUT'], update);
}

const STATUSES: readonly string[] = ['passing', 'warning', 'critical'];

function isStatus(s: string): s is CheckStatus {
  return STATUSES.includes(s);
}

/** AgentSelf: needs agent:read. Recipes read Config.NodeName, Config.Datacenter and Member. */
function self(ctx: RequestContext): Reply {
  const { nodeName, nodeId, datacenter, host, aclToken } = ctx.core.options;
  ctx.authorizer().require('agent', 'read', nodeName);
  const address = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return ctx.json({
    Config: {
      Datacenter: datacenter,
      PrimaryDatacenter: datacenter,
      NodeName: nodeName,
      NodeID: nodeId,
      Revision: 'devserver',
      Server: true,
      Version: DEV_SERVER_CONSUL_VERSION,
      BuildDate: '2024-01-01T00:00:00Z',
    },
    DebugConfig: {
      ACLsEnabled: aclToken !== undefined,
      DevMode: true,
      Datacenter: datacenter,
      NodeName: nodeName,
      ServerMode: true,
      SessionTTLMin: formatGoDuration(ctx.core.options.sessionTtlMinNs),
    },
    Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 1e-5 },
    Member: {
      Name: nodeName,
      Addr: address,
      Port: 8301,
      Tags: {
        acls: aclToken !== undefined ? '1' : '0',
        build: `${DEV_SERVER_CONSUL_VERSION}:devserver`,
        dc: datacenter,
        id: nodeId,
        port: '8300',
        role: 'consul',
        vsn: '2',
      },
      Status: 1,
      ProtocolMin: 1,
      ProtocolMax: 5,
      ProtocolCur: 2,
      DelegateMin: 2,
      DelegateMax: 5,
      DelegateCur: 4,
    },
    Stats: { agent: { checks: String(ctx.core.agent.list().length), services: '0' }, consul: { leader: String(ctx.core.isLeader), server: 'true' } },
    Meta: { 'consul-network-segment': '', 'consul-version': DEV_SERVER_CONSUL_VERSION },
  });
}

function visibleChecks(ctx: RequestContext, authz: Authorizer): LocalCheck[] {
  const all = ctx.core.agent.list();
  if (!authz.enforcing) return all;
  return all.filter((c) =>
    c.ServiceID === '' ? authz.allowed('node', 'read', ctx.core.options.nodeName) : authz.allowed('service', 'read', c.ServiceName),
  );
}

/** AgentChecks: agent-local checks keyed by ID; `{}` on a fresh agent (serfHealth is catalog-only). */
function checks(ctx: RequestContext): Reply {
  ctx.queryOptions();
  if (ctx.query.get('filter') !== '') throw new RpcError('dev server: ?filter expressions are not supported');
  const authz = ctx.authorizer();
  const all = ctx.core.agent.list();
  const visible = visibleChecks(ctx, authz);
  if (visible.length < all.length && ctx.token() !== '') ctx.headers['X-Consul-Results-Filtered-By-ACLs'] = 'true';
  const out: Record<string, unknown> = {};
  for (const c of visible) out[c.CheckID] = checkJson(ctx.core.agent.toRow(c));
  return ctx.json(out);
}

/** structs.CheckDefinition, decoded strictly, with its snake_case aliases. */
const CHECK_DEFINITION_SPEC: StructSpec = {
  name: 'structs.CheckDefinition',
  strict: true,
  fields: {
    ID: 'string',
    Name: 'string',
    Notes: 'string',
    ServiceID: 'string',
    Token: 'string',
    Status: 'string',
    ScriptArgs: 'stringArray',
    HTTP: 'string',
    Header: 'headerMap',
    Method: 'string',
    Body: 'string',
    DisableRedirects: 'bool',
    TCP: 'string',
    TCPUseTLS: 'bool',
    UDP: 'string',
    Interval: 'duration',
    Timeout: 'duration',
    TTL: 'duration',
    DockerContainerID: 'string',
    Shell: 'string',
    GRPC: 'string',
    GRPCUseTLS: 'bool',
    TLSServerName: 'string',
    TLSSkipVerify: 'bool',
    AliasNode: 'string',
    AliasService: 'string',
    H2PING: 'string',
    H2PingUseTLS: 'bool',
    OSService: 'string',
    DeregisterCriticalServiceAfter: 'duration',
    SuccessBeforePassing: 'int',
    FailuresBeforeWarning: 'int',
    FailuresBeforeCritical: 'int',
    OutputMaxSize: 'int',
    Namespace: 'string',
    Partition: 'string',
  },
  aliases: {
    CheckID: 'ID',
    check_id: 'ID',
    service_id: 'ServiceID',
    script_args: 'ScriptArgs',
    args: 'ScriptArgs',
    tls_server_name: 'TLSServerName',
    tls_skip_verify: 'TLSSkipVerify',
    deregister_critical_service_after: 'DeregisterCriticalServiceAfter',
    docker_container_id: 'DockerContainerID',
    grpc_use_tls: 'GRPCUseTLS',
    alias_node: 'AliasNode',
    alias_service: 'AliasService',
    success_before_passing: 'SuccessBeforePassing',
    failures_before_warning: 'FailuresBeforeWarning',
    failures_before_critical: 'FailuresBeforeCritical',
    output_max_size: 'OutputMaxSize',
  },
};

async function decodeBody(ctx: RequestContext, spec: StructSpec): Promise<Record<string, unknown>> {
  const body = await ctx.readBody(ctx.core.options.maxOtherBodyBytes, 'Request body too large');
  try {
    return decodeStruct(parseJsonBody(body.toString('utf8')), spec);
  } catch (err) {
    if (err instanceof DecodeError) throw new HttpError(400, `Request decode failed: ${err.message}`);
    throw err;
  }
}

/** CheckType.Type: the kind a definition describes. */
function checkType(d: Record<string, unknown>): string {
  const s = (k: string): boolean => typeof d[k] === 'string' && d[k] !== '';
  if (typeof d.TTL === 'number' && d.TTL > 0) return 'ttl';
  if (s('HTTP')) return 'http';
  if (s('TCP')) return 'tcp';
  if (s('UDP')) return 'udp';
  if (s('GRPC')) return 'grpc';
  if (s('H2PING')) return 'h2ping';
  if (s('AliasNode') || s('AliasService')) return 'alias';
  if (s('DockerContainerID')) return 'docker';
  if (s('OSService')) return 'os_service';
  if (Array.isArray(d.ScriptArgs) && d.ScriptArgs.length > 0) return 'script';
  return '';
}

/** CheckType.Validate. */
function validateCheckType(d: Record<string, unknown>): string | undefined {
  const num = (k: string): number => (typeof d[k] === 'number' ? (d[k] as number) : 0);
  const type = checkType(d);
  const intervalCheck = ['script', 'http', 'tcp', 'udp', 'grpc', 'h2ping', 'os_service'].includes(type) || (type === 'ttl' && (['HTTP', 'TCP', 'UDP', 'GRPC', 'H2PING', 'OSService'].some((k) => typeof d[k] === 'string' && d[k] !== '')));
  if (num('Interval') > 0 && num('TTL') > 0) return 'Interval and TTL cannot both be specified';
  if (intervalCheck && num('Interval') <= 0) return 'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks';
  if (type === '' && num('TTL') <= 0) return 'TTL must be > 0 for TTL checks';
  if (num('OutputMaxSize') < 0) return 'MaxOutputMaxSize must be positive';
  if (num('FailuresBeforeWarning') > num('FailuresBeforeCritical')) {
    return "FailuresBeforeWarning can't be higher than FailuresBeforeCritical";
  }
  return undefined;
}

/** AgentRegisterCheck. */
async function register(ctx: RequestContext): Promise<Reply> {
  const authz = ctx.authorizer();
  const d = await decodeBody(ctx, CHECK_DEFINITION_SPEC);
  const str = (k: string): string => (typeof d[k] === 'string' ? (d[k] as string) : '');
  const name = str('Name');
  if (name === '') throw new HttpError(400, 'Missing check name');
  const status = str('Status');
  if (status !== '' && !isStatus(status)) throw new HttpError(400, 'Bad check status');
  const invalid = validateCheckType(d);
  if (invalid !== undefined) throw new HttpError(400, `Invalid check: ${invalid}`);
  const serviceId = str('ServiceID');
  // Agent services are not modelled yet, so every ServiceID is unknown to this agent.
  if (serviceId !== '') throw new HttpError(404, `ServiceID ${JSON.stringify(serviceId)} does not exist`);
  authz.require('node', 'write', ctx.core.options.nodeName);

  const type = checkType(d);
  const durationText = (k: string): string => (typeof d[k] === 'number' && (d[k] as number) > 0 ? formatGoDuration(d[k] as number) : '');
  const definition: Record<string, unknown> = {};
  if (type !== 'ttl') {
    for (const k of ['HTTP', 'Header', 'Method', 'Body', 'TCP', 'UDP', 'GRPC', 'H2PING', 'OSService', 'TLSServerName', 'TLSSkipVerify']) {
      if (d[k] !== undefined) definition[k] = d[k];
    }
    if (durationText('Interval') !== '') definition.Interval = durationText('Interval');
    if (durationText('Timeout') !== '') definition.Timeout = durationText('Timeout');
  }
  const outputMax = typeof d.OutputMaxSize === 'number' && d.OutputMaxSize > 0 ? Math.min(d.OutputMaxSize, DEFAULT_OUTPUT_MAX_SIZE) : DEFAULT_OUTPUT_MAX_SIZE;
  ctx.core.agent.add({
    CheckID: str('ID') || name,
    Name: name,
    // CheckDefinition.HealthCheck: critical unless the definition says otherwise.
    Status: isStatus(status) ? status : 'critical',
    Notes: str('Notes'),
    Output: '',
    ServiceID: '',
    ServiceName: '',
    ServiceTags: [],
    Type: type,
    Interval: type === 'ttl' ? '' : durationText('Interval'),
    Timeout: type === 'ttl' ? '' : durationText('Timeout'),
    Definition: definition,
    ttlMs: type === 'ttl' ? (d.TTL as number) / 1e6 : undefined,
    outputMaxSize: outputMax,
  });
  return ctx.empty();
}

/** vetCheckUpdateWithAuthorizer: unknown IDs are a 404 naming the ID. */
function requireCheck(ctx: RequestContext, authz: Authorizer, id: string): LocalCheck {
  const check = ctx.core.agent.get(id);
  if (!check) {
    throw new HttpError(404, `Unknown check ID ${JSON.stringify(id)}. Ensure that the check ID is passed, not the check name.`);
  }
  if (check.ServiceID !== '') authz.require('service', 'write', check.ServiceName);
  else authz.require('node', 'write', ctx.core.options.nodeName);
  return check;
}

function deregister(ctx: RequestContext): Reply {
  const id = ctx.path.slice('/v1/agent/check/deregister/'.length);
  const authz = ctx.authorizer();
  requireCheck(ctx, authz, id);
  ctx.core.agent.remove(id);
  return ctx.empty();
}

/** updateTTLCheck: only TTL checks take pass/warn/fail/update. */
function applyTtl(ctx: RequestContext, id: string, status: CheckStatus, output: string): Reply {
  const authz = ctx.authorizer();
  requireCheck(ctx, authz, id);
  if (!ctx.core.agent.setTtlStatus(id, status, output)) {
    throw new RpcError(`CheckID ${JSON.stringify(id)} does not have associated TTL`);
  }
  return ctx.empty();
}

/** AgentCheckPass/Warn/Fail: `?note` becomes the Output. */
function ttlUpdate(ctx: RequestContext, prefix: string, status: CheckStatus): Reply {
  return applyTtl(ctx, ctx.path.slice(prefix.length), status, ctx.query.get('note'));
}

/** AgentCheckUpdate: strict body `{Status, Output}`. */
async function update(ctx: RequestContext): Promise<Reply> {
  const id = ctx.path.slice('/v1/agent/check/update/'.length);
  const d = await decodeBody(ctx, { name: 'agent.checkUpdate', strict: true, fields: { Status: 'string', Output: 'string' } });
  const status = typeof d.Status === 'string' ? d.Status : '';
  if (!isStatus(status)) throw new HttpError(400, `Invalid check status: '${status}'`);
  return applyTtl(ctx, id, status, typeof d.Output === 'string' ? d.Output : '');
}
