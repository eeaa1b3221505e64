/**
 * Agent operations (agent/agent_endpoint.go): `/v1/agent/host` (AgentHost), `/v1/agent/metrics`
 * (AgentMetrics), `/v1/agent/monitor` (AgentMonitor), `/v1/agent/reload` (AgentReload) and
 * `/v1/agent/token/:type` (AgentToken).
 */
import { arch, cpus, freemem, hostname, loadavg, platform, release, totalmem, uptime } from 'node:os';
import { type LogLevel, parseMonitorLevel } from '../agent/monitor.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';
import { decodeBody } from './agent.js';

export function registerAgentOpsRoutes(router: Router): void {
  addRoutes(router, '/v1/agent/', { GET: { host, metrics, monitor }, PUT: { reload, 'token/': token } });
}

/**
 * AgentHost: operator:read, then debug.CollectHostInfo (gopsutil's shapes, camelCase keys):
 * Memory, CPU, Host, Disk, CollectionTime (Unix ns) and Errors.
 */
function host(ctx: RequestContext): Reply {
  ctx.authorizer().require('operator', 'read', '');
  const total = totalmem();
  const free = freemem();
  const bootTime = Math.floor(Date.now() / 1000 - uptime());
  return ctx.json({
    Memory: {
      total,
      available: free,
      used: total - free,
      usedPercent: ((total - free) / total) * 100,
      free,
    },
    CPU: cpus().map((c, i) => ({
      cpu: i,
      vendorId: '',
      family: '',
      model: '',
      stepping: 0,
      physicalId: '',
      coreId: String(i),
      cores: 1,
      modelName: c.model,
      mhz: c.speed,
      cacheSize: 0,
      flags: [],
      microcode: '',
    })),
    Host: {
      hostname: hostname(),
      uptime: Math.floor(uptime()),
      bootTime,
      procs: 0,
      os: platform(),
      platform: platform(),
      platformFamily: '',
      platformVersion: '',
      kernelVersion: release(),
      kernelArch: arch(),
      virtualizationSystem: '',
      virtualizationRole: '',
      hostid: '',
    },
    Disk: { path: '/', fstype: '', total: 0, free: 0, used: 0, usedPercent: 0, inodesTotal: 0, inodesUsed: 0, inodesFree: 0, inodesUsedPercent: 0 },
    CollectionTime: Date.now() * 1e6,
    Errors: null,
  });
}

interface Gauge {
  readonly Name: string;
  readonly Value: number;
  readonly Labels: Record<string, string>;
}

/** A few of the gauges a Consul agent reports, read from the dev server's own state. */
function gauges(ctx: RequestContext): Gauge[] {
  const mem = process.memoryUsage();
  const tx = ctx.core.store.read();
  const g = (Name: string, Value: number): Gauge => ({ Name, Value, Labels: {} });
  return [
    g('consul.runtime.alloc_bytes', mem.heapUsed),
    g('consul.runtime.sys_bytes', mem.rss),
    g('consul.runtime.heap_objects', 0),
    g('consul.runtime.num_goroutines', 0),
    g('consul.runtime.total_gc_pause_ns', 0),
    g('consul.runtime.total_gc_runs', 0),
    g('consul.consul.state.nodes', tx.all('nodes').length),
    g('consul.consul.state.services', new Set(tx.all('services').map((s) => s.ServiceName)).size),
    g('consul.consul.state.service_instances', tx.all('services').length),
    g('consul.consul.state.kv_entries', tx.all('kvs').length),
    g('consul.agent.checks', ctx.core.agent.list().length),
    g('consul.agent.services', ctx.core.agent.listServices().length),
    g('consul.load1', loadavg()[0] ?? 0),
  ].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
}

/** go-metrics' interval timestamp: `2006-01-02 15:04:05 +0000 UTC`, at the 10 s interval start. */
function intervalTimestamp(now: number): string {
  const start = new Date(Math.floor(now / 10_000) * 10_000).toISOString();
  return `${start.slice(0, 10)} ${start.slice(11, 19)} +0000 UTC`;
}

/** Prometheus text exposition: `.` and `-` become `_`. */
function prometheusText(list: readonly Gauge[]): string {
  let out = '';
  for (const g of list) {
    const name = g.Name.replace(/[^a-zA-Z0-9_:]/g, '_');
    out += `# HELP ${name} ${name}\n# TYPE ${name} gauge\n${name} ${g.Value}\n`;
  }
  return out;
}

/**
 * AgentMetrics: agent:read. JSON is go-metrics' DisplayMetrics summary (Timestamp, Gauges, Points,
 * Counters, Samples). `?format=prometheus` (or an Accept header asking for the Prometheus text
 * format) needs `telemetry.prometheus_retention_time` > 0, the dev server's
 * `prometheusRetentionTime`; otherwise it is a 415 with Consul's text.
 */
function metrics(ctx: RequestContext): Reply {
  ctx.authorizer().require('agent', 'read', ctx.core.options.nodeName);
  const accept = ctx.req.headers.accept ?? '';
  const wantsPrometheus = ctx.query.get('format') === 'prometheus' || accept.includes('application/openmetrics-text') || accept.includes('text/plain; version=0.0.4');
  if (wantsPrometheus) {
    if (ctx.core.options.prometheusRetentionTimeMs <= 0) {
      throw new HttpError(415, 'Prometheus is not enabled since its retention time is not positive');
    }
    return ctx.reply(200, Buffer.from(prometheusText(gauges(ctx)), 'utf8'), 'text/plain; version=0.0.4; charset=utf-8');
  }
  return ctx.json({ Timestamp: intervalTimestamp(Date.now()), Gauges: gauges(ctx), Points: [], Counters: [], Samples: [] });
}

/**
 * AgentMonitor: agent:read; `?loglevel` (default INFO; an unknown one is a 400
 * `Unknown log level: <level>`) and `?logjson`. The 200 and headers go out at once, then one
 * line per log entry at or above the level, until the client goes away.
 */
function monitor(ctx: RequestContext): Reply {
  ctx.authorizer().require('agent', 'read', ctx.core.options.nodeName);
  const raw = ctx.query.get('loglevel') || 'INFO';
  const level: LogLevel | undefined = parseMonitorLevel(raw);
  if (level === undefined) throw new HttpError(400, `Unknown log level: ${raw}`);
  const json = ctx.query.has('logjson');
  return {
    status: 200,
    headers: { ...ctx.headers, 'Content-Type': 'text/plain; charset=utf-8' },
    body: Buffer.alloc(0),
    stream: (write, signal) =>
      new Promise<void>((resolve) => {
        const remove = ctx.core.monitors.add({ level, json, write });
        const done = (): void => {
          remove();
          resolve();
        };
        if (signal.aborted) done();
        else signal.addEventListener('abort', done, { once: true });
      }),
  };
}

/** AgentReload: agent:write; re-reads configuration (the dev server has none to read). */
function reload(ctx: RequestContext): Reply {
  ctx.authorizer().require('agent', 'write', ctx.core.options.nodeName);
  ctx.core.log('info', 'Reloading configuration...');
  return ctx.empty();
}

const TOKEN_TYPES: Record<string, string> = {
  default: 'default',
  acl_token: 'default',
  agent: 'agent',
  acl_agent_token: 'agent',
  agent_recovery: 'agent_recovery',
  agent_master: 'agent_recovery',
  acl_agent_master_token: 'agent_recovery',
  replication: 'replication',
  acl_replication_token: 'replication',
  config_file_service_registration: 'config_file_service_registration',
  dns: 'dns',
  dns_token: 'dns',
};

/**
 * AgentToken: with ACLs off a 401 `ACL support disabled`; else agent:write, a `{Token}` body,
 * and the type (404 `Token "<type>" is unknown`). The `default` token then serves requests that
 * carry none.
 */
async function token(ctx: RequestContext): Promise<Reply> {
  if (ctx.core.options.aclToken === undefined) throw new HttpError(401, 'ACL support disabled');
  ctx.authorizer().require('agent', 'write', ctx.core.options.nodeName);
  const d = await decodeBody(ctx, { name: 'api.AgentToken', strict: false, fields: { Token: 'string' } });
  const target = ctx.path.slice('/v1/agent/token/'.length);
  const kind = TOKEN_TYPES[target];
  if (kind === undefined) throw new HttpError(404, `Token ${JSON.stringify(target)} is unknown`);
  const value = typeof d.Token === 'string' ? d.Token : '';
  if (value === '') ctx.core.agentTokens.delete(kind);
  else ctx.core.agentTokens.set(kind, value);
  ctx.core.log('info', 'Updated agent ACL token', { token: kind });
  return ctx.empty();
}

