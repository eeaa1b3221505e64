/**
 * `/v1/agent/self` and the agent check endpoints (agent/agent_endpoint.go), plus the check
 * definition helpers the service endpoints share. Agent endpoints work on agent-local state, so
 * they answer even without a leader; their changes reach the catalog through the agent's sync
 * (agent/state.ts).
 *
 * Check types: TTL, HTTP and TCP checks run (agent/checks.ts). UDP, gRPC, H2PING, script, Docker,
 * alias and OS-service checks are accepted and validated but not executed: they keep their initial
 * status (critical unless the definition sets Status) until forced with `setCheckStatus`.
 */
import {
  DEFAULT_CHECK_TIMEOUT_MS,
  DEFAULT_OUTPUT_MAX_SIZE,
  MIN_INTERVAL_MS,
  type CheckRuntime,
  type LocalCheck,
} from '../agent/checks.js';
import { DEFAULT_SCRIPT_TIMEOUT_MS, REMOTE_SCRIPTS_DISABLED } from '../agent/script-checks.js';
import { DEV_SERVER_CONSUL_VERSION } from '../core.js';
import { selfMember } from './members.js';
import type { Authorizer } from '../http/acl.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError, RpcError } from '../http/errors.js';
import { DecodeError, type StructSpec, decodeStruct, parseJsonBody } from '../http/json.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';
import { formatGoDuration } from '../options.js';
import type { CheckStatus } from '../state/types.js';
import { HEALTH_CHECK_TYPE } from '../filter/index.js';
import { registerAgentOpsRoutes } from './agent-ops.js';
import { registerConnectRoutes } from './connect.js';
import { requestFilter } from './filtering.js';
import { checkJson } from './shapes.js';

export function registerAgentRoutes(router: Router): void {
  addRoutes(router, '/v1/agent/', {
    GET: { self, checks },
    PUT: {
      'check/register': register,
      'check/deregister/': deregister,
      'check/pass/': (ctx) => ttlUpdate(ctx, '/v1/agent/check/pass/', 'passing'),
      'check/warn/': (ctx) => ttlUpdate(ctx, '/v1/agent/check/warn/', 'warning'),
      'check/fail/': (ctx) => ttlUpdate(ctx, '/v1/agent/check/fail/', 'critical'),
      'check/update/': update,
    },
  });
  // Host, metrics, monitor, reload and tokens; and Connect, answered as with connect disabled.
  registerAgentOpsRoutes(router);
  registerConnectRoutes(router);
}

const STATUSES: readonly string[] = ['passing', 'warning', 'critical'];

export function isStatus(s: string): s is CheckStatus {
  return STATUSES.includes(s);
}

/** AgentSelf: needs agent:read. Recipes read Config.NodeName, Config.Datacenter and Member. */
function self(ctx: RequestContext): Reply {
  const { nodeName, nodeId, datacenter, host } = ctx.core.options;
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
    DebugConfig: debugConfig(ctx, address),
    Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 1e-5 },
    // The same serf.Member as /v1/agent/members shows for this node.
    Member: selfMember(ctx),
    Stats: { agent: { checks: String(ctx.core.agent.list().length), services: String(ctx.core.agent.listServices().length) }, consul: { leader: String(ctx.core.dc.leaderNode() === nodeName), server: 'true' } },
    Meta: { 'consul-network-segment': '', 'consul-version': DEV_SERVER_CONSUL_VERSION },
  });
}

/**
 * RuntimeConfig.Sanitized() as a `-dev` agent on loopback reports it: addresses as the agent
 * would bind them (`tcp://` URLs for sockets), the ports a dev agent uses, Connect off (the dev
 * server answers as an agent with `connect.enabled = false`). Only a subset of Consul's several
 * hundred keys is reported.
 */
function debugConfig(ctx: RequestContext, address: string): Record<string, unknown> {
  const { nodeName, nodeId, datacenter, aclToken, nodeMeta, port, prometheusRetentionTimeMs } = ctx.core.options;
  const tcp = (p: number): string => `tcp://${address}:${p}`;
  const httpPort = ctx.req.socket.localPort ?? port;
  return {
    ACLsEnabled: aclToken !== undefined,
    AdvertiseAddrLAN: address,
    AdvertiseAddrWAN: address,
    BindAddr: address,
    Bootstrap: false,
    BootstrapExpect: 0,
    ClientAddrs: [address],
    ConnectEnabled: false,
    DNSAddrs: [tcp(8600), `udp://${address}:8600`],
    DNSPort: 8600,
    DataDir: '',
    Datacenter: datacenter,
    DevMode: true,
    EnableDebug: false,
    GRPCPort: 8502,
    HTTPAddrs: [tcp(httpPort)],
    HTTPPort: httpPort,
    NodeID: nodeId,
    NodeMeta: nodeMeta,
    NodeName: nodeName,
    PrimaryDatacenter: datacenter,
    RPCAdvertiseAddr: tcp(ctx.core.raftPort),
    RPCBindAddr: tcp(ctx.core.raftPort),
    SerfAdvertiseAddrLAN: tcp(ctx.core.serfPort),
    SerfAdvertiseAddrWAN: tcp(8302),
    SerfBindAddrLAN: tcp(ctx.core.serfPort),
    SerfBindAddrWAN: tcp(8302),
    SerfPortLAN: ctx.core.serfPort,
    SerfPortWAN: 8302,
    ServerMode: true,
    ServerPort: ctx.core.raftPort,
    SessionTTLMin: formatGoDuration(ctx.core.options.sessionTtlMinNs),
    Telemetry: { PrometheusOpts: { Expiration: formatGoDuration(prometheusRetentionTimeMs * 1e6) } },
    UIConfig: { Enabled: false },
  };
}

function visibleChecks(ctx: RequestContext, authz: Authorizer): LocalCheck[] {
  const all = ctx.core.agent.list();
  if (!authz.enforcing) return all;
  return all.filter((c) =>
    c.ServiceID === '' ? authz.allowed('node', 'read', ctx.core.options.nodeName) : authz.allowed('service', 'read', c.ServiceName),
  );
}

/**
 * AgentChecks: agent-local checks keyed by ID; `{}` on a fresh agent (serfHealth is catalog-only).
 * `?filter` runs over the HealthCheck values.
 */
function checks(ctx: RequestContext): Reply {
  ctx.queryOptions();
  const filter = requestFilter(ctx, HEALTH_CHECK_TYPE);
  const authz = ctx.authorizer();
  const all = ctx.core.agent.list();
  const visible = visibleChecks(ctx, authz);
  if (visible.length < all.length && ctx.token() !== '') ctx.headers['X-Consul-Results-Filtered-By-ACLs'] = 'true';
  const out: Record<string, unknown> = {};
  for (const c of visible) {
    const json = checkJson(ctx.core.agent.toRow(c));
    if (!filter || filter.matches(json)) out[c.CheckID] = json;
  }
  return ctx.json(out);
}

/**
 * The check fields structs.CheckDefinition and structs.CheckType both carry (how the check runs
 * and when it changes status), with the snake_case spellings both accept.
 */
const CHECK_FIELDS: StructSpec['fields'] = {
  Name: 'string',
  Notes: 'string',
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
};
const CHECK_ALIASES: StructSpec['aliases'] = {
  args: 'ScriptArgs',
  script_args: 'ScriptArgs',
  deregister_critical_service_after: 'DeregisterCriticalServiceAfter',
  docker_container_id: 'DockerContainerID',
  tls_server_name: 'TLSServerName',
  tls_skip_verify: 'TLSSkipVerify',
  grpc_use_tls: 'GRPCUseTLS',
};

/** structs.CheckDefinition, decoded strictly, with its snake_case aliases. */
export const CHECK_DEFINITION_SPEC: StructSpec = {
  name: 'structs.CheckDefinition',
  strict: true,
  fields: { ID: 'string', ServiceID: 'string', Token: 'string', ...CHECK_FIELDS, Namespace: 'string', Partition: 'string' },
  aliases: {
    ...CHECK_ALIASES,
    CheckID: 'ID',
    check_id: 'ID',
    service_id: 'ServiceID',
    alias_node: 'AliasNode',
    alias_service: 'AliasService',
    success_before_passing: 'SuccessBeforePassing',
    failures_before_warning: 'FailuresBeforeWarning',
    failures_before_critical: 'FailuresBeforeCritical',
    output_max_size: 'OutputMaxSize',
  },
};

/**
 * structs.CheckType, the check objects inside a service definition: decoded strictly
 * (CheckType.UnmarshalJSON uses lib.UnmarshalJSON), with its snake_case aliases; `ServiceID` and
 * `service_id` are accepted and ignored.
 */
export const CHECK_TYPE_SPEC: StructSpec = {
  name: 'structs.CheckType',
  strict: true,
  fields: { CheckID: 'string', ...CHECK_FIELDS, ProxyHTTP: 'string', ProxyGRPC: 'string', ServiceID: 'any' },
  aliases: { ...CHECK_ALIASES, h2ping_use_tls: 'H2PingUseTLS', service_id: 'ServiceID' },
};

/** CheckType.Empty: nothing set (an empty `Check` object in a service definition is ignored). */
export function isEmptyCheckType(d: Record<string, unknown>): boolean {
  return Object.entries(d).every(([k, v]) => k === 'ServiceID' || v === '' || v === 0 || v === false || v === null);
}

export function decodeError(err: unknown): never {
  if (err instanceof DecodeError) throw new HttpError(400, `Request decode failed: ${err.message}`);
  throw err;
}

export async function decodeBody(ctx: RequestContext, spec: StructSpec): Promise<Record<string, unknown>> {
  const body = await ctx.readBody(ctx.core.options.maxOtherBodyBytes, 'Request body too large');
  try {
    return decodeStruct(parseJsonBody(body.toString('utf8')), spec);
  } catch (err) {
    if (err instanceof DecodeError) throw new HttpError(400, `Request decode failed: ${err.message}`);
    throw err;
  }
}

const str = (d: Record<string, unknown>, k: string): string => (typeof d[k] === 'string' ? (d[k] as string) : '');
const num = (d: Record<string, unknown>, k: string): number => (typeof d[k] === 'number' ? (d[k] as number) : 0);

/** CheckType.Type: the kind a definition describes (interval kinds need an Interval). */
export function checkType(d: Record<string, unknown>): string {
  const s = (k: string): boolean => str(d, k) !== '';
  const interval = num(d, 'Interval') > 0;
  const script = Array.isArray(d.ScriptArgs) && d.ScriptArgs.length > 0;
  if (s('GRPC') && interval) return 'grpc';
  if (s('HTTP') && interval) return 'http';
  if (num(d, 'TTL') > 0) return 'ttl';
  if (s('TCP') && interval) return 'tcp';
  if (s('UDP') && interval) return 'udp';
  if (s('AliasNode') || s('AliasService')) return 'alias';
  if (script && s('DockerContainerID') && interval) return 'docker';
  if (script) return 'script';
  if (s('H2PING') && interval) return 'h2ping';
  if (s('OSService') && interval) return 'os_service';
  return '';
}

/** CheckType.Validate. */
export function validateCheckType(d: Record<string, unknown>): string | undefined {
  const s = (k: string): boolean => str(d, k) !== '';
  const script = Array.isArray(d.ScriptArgs) && d.ScriptArgs.length > 0;
  const intervalCheck = script || ['HTTP', 'TCP', 'UDP', 'GRPC', 'H2PING', 'OSService'].some(s);
  const alias = s('AliasNode') || s('AliasService');
  if (num(d, 'Interval') > 0 && num(d, 'TTL') > 0) return 'Interval and TTL cannot both be specified';
  if (intervalCheck && num(d, 'Interval') <= 0) return 'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks';
  if (intervalCheck && alias) return 'Interval cannot be set for Alias checks';
  if (alias && num(d, 'TTL') > 0) return 'TTL must be not be set for Alias checks';
  if (!intervalCheck && !alias && num(d, 'TTL') <= 0) return 'TTL must be > 0 for TTL checks';
  if (num(d, 'OutputMaxSize') < 0) return 'MaxOutputMaxSize must be positive';
  if (num(d, 'FailuresBeforeWarning') > num(d, 'FailuresBeforeCritical')) {
    return "FailuresBeforeWarning can't be higher than FailuresBeforeCritical";
  }
  return undefined;
}

/** Identity fields of a check, decided by the endpoint (standalone or service registration). */
export interface CheckIdentity {
  readonly CheckID: string;
  readonly Name: string;
  readonly Status: CheckStatus;
  readonly ServiceID: string;
  readonly ServiceName: string;
  readonly ServiceTags: readonly string[];
}

/**
 * agent.go addCheck: how a validated definition runs. Interval checks run at least every second
 * (`checks.MinInterval`); HTTP and TCP time out after 10 s unless `Timeout` says otherwise,
 * scripts after 30 s; script (and Docker) checks are refused unless `enableScriptChecks`; the
 * output limit is the smaller of 4096 and `OutputMaxSize`; FailuresBeforeWarning defaults to
 * FailuresBeforeCritical; DeregisterCriticalServiceAfter is raised to the configured minimum.
 */
export function buildLocalCheck(ctx: RequestContext, d: Record<string, unknown>, id: CheckIdentity): LocalCheck {
  const type = checkType(d);
  const durationText = (k: string): string => (num(d, k) > 0 ? formatGoDuration(num(d, k)) : '');
  const intervalMs = Math.max(num(d, 'Interval') / 1e6, MIN_INTERVAL_MS);
  const timeoutMs = num(d, 'Timeout') > 0 ? num(d, 'Timeout') / 1e6 : DEFAULT_CHECK_TIMEOUT_MS;
  let runtime: CheckRuntime;
  if (type === 'ttl') runtime = { kind: 'ttl', ttlMs: num(d, 'TTL') / 1e6 };
  else if (type === 'http') {
    runtime = {
      kind: 'http',
      url: str(d, 'HTTP'),
      method: str(d, 'Method'),
      header: (d.Header as Record<string, string[]> | null | undefined) ?? {},
      body: str(d, 'Body'),
      intervalMs,
      timeoutMs,
      tlsSkipVerify: d.TLSSkipVerify === true,
      tlsServerName: str(d, 'TLSServerName'),
      disableRedirects: d.DisableRedirects === true,
    };
  } else if (type === 'tcp') runtime = { kind: 'tcp', address: str(d, 'TCP'), intervalMs, timeoutMs };
  else if (type === 'script') {
    // agent.go addCheck: an HTTP registration is a remote source, refused unless enabled.
    if (!ctx.core.options.enableScriptChecks) throw new RpcError(REMOTE_SCRIPTS_DISABLED);
    const scriptTimeoutMs = num(d, 'Timeout') > 0 ? num(d, 'Timeout') / 1e6 : DEFAULT_SCRIPT_TIMEOUT_MS;
    runtime = { kind: 'script', args: [...(d.ScriptArgs as string[])], intervalMs, timeoutMs: scriptTimeoutMs };
  } else if (type === 'docker' && !ctx.core.options.enableScriptChecks) throw new RpcError(REMOTE_SCRIPTS_DISABLED);
  else runtime = { kind: 'none' };
  const definition: Record<string, unknown> = {};
  if (type !== 'ttl') {
    for (const k of ['HTTP', 'Header', 'Method', 'Body', 'TCP', 'UDP', 'GRPC', 'H2PING', 'OSService', 'TLSServerName', 'TLSSkipVerify']) {
      if (d[k] !== undefined) definition[k] = d[k];
    }
    if (durationText('Interval') !== '') definition.Interval = durationText('Interval');
    if (durationText('Timeout') !== '') definition.Timeout = durationText('Timeout');
  }
  if (durationText('DeregisterCriticalServiceAfter') !== '') {
    definition.DeregisterCriticalServiceAfter = durationText('DeregisterCriticalServiceAfter');
  }
  const outputMax = num(d, 'OutputMaxSize') > 0 ? Math.min(num(d, 'OutputMaxSize'), DEFAULT_OUTPUT_MAX_SIZE) : DEFAULT_OUTPUT_MAX_SIZE;
  const failuresBeforeCritical = Math.max(0, num(d, 'FailuresBeforeCritical'));
  const failuresBeforeWarning = num(d, 'FailuresBeforeWarning') > 0 ? num(d, 'FailuresBeforeWarning') : failuresBeforeCritical;
  const reapAfterNs = num(d, 'DeregisterCriticalServiceAfter');
  return {
    CheckID: id.CheckID,
    Name: id.Name,
    Status: id.Status,
    Notes: str(d, 'Notes'),
    Output: '',
    ServiceID: id.ServiceID,
    ServiceName: id.ServiceName,
    ServiceTags: [...id.ServiceTags],
    Type: type,
    Interval: type === 'ttl' ? '' : durationText('Interval'),
    Timeout: type === 'ttl' ? '' : durationText('Timeout'),
    Definition: definition,
    runtime,
    outputMaxSize: outputMax,
    thresholds: {
      successBeforePassing: Math.max(0, num(d, 'SuccessBeforePassing')),
      failuresBeforeWarning,
      failuresBeforeCritical,
    },
    reapAfterMs: reapAfterNs > 0 ? Math.max(reapAfterNs / 1e6, ctx.core.options.checkDeregisterIntervalMinMs) : 0,
  };
}

/**
 * AgentRegisterCheck: decode, Name, Status, token, type validation, then the service (404 when
 * the agent does not have it), then ACLs (`service:write` on the service, else `node:write`).
 */
async function register(ctx: RequestContext): Promise<Reply> {
  const d = await decodeBody(ctx, CHECK_DEFINITION_SPEC);
  const name = str(d, 'Name');
  if (name === '') throw new HttpError(400, 'Missing check name');
  const status = str(d, 'Status');
  if (status !== '' && !isStatus(status)) throw new HttpError(400, 'Bad check status');
  const authz = ctx.authorizer();
  const invalid = validateCheckType(d);
  if (invalid !== undefined) throw new HttpError(400, `Invalid check: ${invalid}`);
  const serviceId = str(d, 'ServiceID');
  const service = serviceId === '' ? undefined : ctx.core.agent.getService(serviceId);
  if (serviceId !== '' && !service) throw new HttpError(404, `ServiceID ${JSON.stringify(serviceId)} does not exist`);
  if (service) authz.require('service', 'write', service.Service);
  else authz.require('node', 'write', ctx.core.options.nodeName);
  ctx.core.agent.add(
    buildLocalCheck(ctx, d, {
      CheckID: str(d, 'ID') || name,
      Name: name,
      // CheckDefinition.HealthCheck: critical unless the definition says otherwise.
      Status: isStatus(status) ? status : 'critical',
      ServiceID: serviceId,
      ServiceName: service?.Service ?? '',
      ServiceTags: service?.Tags ?? [],
    }),
  );
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
