/**
 * Conformance: agent endpoints users and tools call (agent/agent_endpoint.go AgentHost,
 * AgentMetrics, AgentMonitor, AgentReload, AgentToken, AgentSelf's DebugConfig from
 * RuntimeConfig.Sanitized), and Connect answered as an agent with `connect.enabled = false`
 * (agent/consul/connect_ca_endpoint.go, intention_endpoint.go: ErrConnectNotEnabled).
 */
import http from 'node:http';
import { afterEach, expect, it, vi } from 'vitest';
import { describeConformance, expectError } from '../support/conformance.js';
import type { Target } from '../support/target.js';

interface Monitor {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Every line received so far. */
  lines(): string[];
  close(): void;
}

/** Opens `/v1/agent/monitor<query>` and collects its lines until closed. */
function openMonitor(target: Target, query: string): Promise<Monitor> {
  const url = new URL(`/v1/agent/monitor${query}`, target.url);
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: target.token ? { 'X-Consul-Token': target.token } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('error', () => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        lines: () => text.split('\n').filter((l) => l !== ''),
        close: () => req.destroy(),
      });
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
  });
}

describeConformance('Agent endpoints', (ctx) => {
  const monitors: Monitor[] = [];
  afterEach(() => {
    for (const m of monitors.splice(0)) m.close();
  });

  it('AgentSelf: DebugConfig carries the agent\'s addresses, ports and switches', async () => {
    const res = await ctx.req('GET', '/v1/agent/self');
    expect(res.status, res.text).toBe(200);
    const { DebugConfig: dc, Config } = res.json<{ DebugConfig: Record<string, unknown>; Config: Record<string, unknown> }>();
    expect(dc.NodeName).toBe(Config.NodeName);
    expect(dc.Datacenter).toBe(Config.Datacenter);
    expect(dc.SerfAdvertiseAddrLAN).toMatch(/^tcp:\/\/[^/]+:\d+$/);
    expect(dc.SerfAdvertiseAddrWAN).toMatch(/^tcp:\/\/[^/]+:\d+$/);
    expect(dc.RPCAdvertiseAddr).toMatch(/^tcp:\/\/[^/]+:\d+$/);
    expect(typeof dc.AdvertiseAddrLAN).toBe('string');
    expect(dc.HTTPAddrs).toEqual(expect.arrayContaining([expect.stringMatching(/^tcp:\/\//)]));
    for (const key of ['SerfPortLAN', 'SerfPortWAN', 'ServerPort', 'DNSPort', 'HTTPPort']) expect(typeof dc[key], key).toBe('number');
    expect(typeof dc.ConnectEnabled).toBe('boolean');
  });

  it('AgentHost: host, memory, CPU and disk facts in gopsutil\'s shape', async () => {
    const res = await ctx.req('GET', '/v1/agent/host');
    expect(res.status, res.text).toBe(200);
    const body = res.json<Record<string, any>>();
    expect(Object.keys(body)).toEqual(expect.arrayContaining(['Memory', 'CPU', 'Host', 'Disk', 'CollectionTime', 'Errors']));
    expect(body.Host.hostname).toEqual(expect.any(String));
    expect(body.Host.os).toEqual(expect.any(String));
    expect(body.Memory.total).toBeGreaterThan(0);
    expect(Array.isArray(body.CPU)).toBe(true);
    expect(body.CollectionTime).toBeGreaterThan(1e18);
  });

  it('AgentMetrics: go-metrics\' JSON summary; ?format=prometheus needs a positive prometheus_retention_time', async () => {
    const res = await ctx.req('GET', '/v1/agent/metrics');
    expect(res.status, res.text).toBe(200);
    const body = res.json<{ Timestamp: string; Gauges: Array<{ Name: string; Value: number; Labels: object }>; Counters: unknown[]; Samples: unknown[]; Points: unknown[] }>();
    expect(body.Timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);
    expect(body.Gauges.length).toBeGreaterThan(0);
    expect(body.Gauges.map((g) => g.Name)).toContain('consul.runtime.alloc_bytes');
    expect(Array.isArray(body.Counters) && Array.isArray(body.Samples) && Array.isArray(body.Points)).toBe(true);
    const self = (await ctx.req('GET', '/v1/agent/self')).json<{ DebugConfig: { Telemetry?: { PrometheusOpts?: { Expiration?: string } } } }>();
    const prom = await ctx.req('GET', '/v1/agent/metrics?format=prometheus');
    if ((self.DebugConfig.Telemetry?.PrometheusOpts?.Expiration ?? '0s') === '0s') {
      expectError(prom, 415, 'Prometheus is not enabled since its retention time is not positive');
    } else {
      expect(prom.status).toBe(200);
      expect(prom.text).toMatch(/^# HELP consul_runtime_alloc_bytes /m);
    }
  });

  it('AgentMonitor: ?loglevel must be a known level (400 otherwise)', async () => {
    expectError(await ctx.req('GET', '/v1/agent/monitor?loglevel=chatty'), 400, 'Unknown log level: chatty');
  });

  it('AgentMonitor: streams log lines at or above ?loglevel, in hclog\'s text format', async () => {
    const m = await openMonitor(ctx.target, '?loglevel=debug');
    monitors.push(m);
    expect(m.status).toBe(200);
    // Any request is logged at debug level by the agent's HTTP server; reload logs at info.
    await vi.waitFor(
      async () => {
        await ctx.req('PUT', '/v1/agent/reload');
        expect(m.lines().length).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 200 },
    );
    for (const line of m.lines()) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(TRACE|DEBUG|INFO|WARN|ERROR)\] {1,2}\S+: /);
    expect(m.lines().some((l) => l.includes('[INFO]') && l.includes('Reloading configuration'))).toBe(true);
  });

  it('AgentMonitor: ?logjson streams one JSON object per line with @level, @message, @module, @timestamp', async () => {
    const m = await openMonitor(ctx.target, '?loglevel=info&logjson');
    monitors.push(m);
    expect(m.status).toBe(200);
    await vi.waitFor(
      async () => {
        await ctx.req('PUT', '/v1/agent/reload');
        expect(m.lines().some((l) => l.includes('Reloading configuration'))).toBe(true);
      },
      { timeout: 10_000, interval: 200 },
    );
    for (const line of m.lines()) {
      const entry = JSON.parse(line) as Record<string, string>;
      expect(entry['@level']).toMatch(/^(info|warn|error)$/);
      expect(entry['@timestamp']).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(typeof entry['@message']).toBe('string');
      expect(typeof entry['@module']).toBe('string');
    }
  });

  it('AgentReload: PUT only, answers 200', async () => {
    const res = await ctx.req('PUT', '/v1/agent/reload');
    expect(res.status, res.text).toBe(200);
    expect((await ctx.req('GET', '/v1/agent/reload')).status).toBe(405);
  });

  it('AgentToken: with ACLs disabled every type is a 401 "ACL support disabled"', async () => {
    const self = (await ctx.req('GET', '/v1/agent/self')).json<{ DebugConfig: { ACLsEnabled: boolean } }>();
    if (self.DebugConfig.ACLsEnabled) return; // covered by the ACL block below
    expectError(await ctx.req('PUT', '/v1/agent/token/default', { body: { Token: 'x' } }), 401, 'ACL support disabled');
  });

  it('Connect disabled: CA roots, leaf certificates and intentions fail with ErrConnectNotEnabled', async () => {
    const self = (await ctx.req('GET', '/v1/agent/self')).json<{ DebugConfig: { ConnectEnabled: boolean } }>();
    if (self.DebugConfig.ConnectEnabled) return; // a real agent with Connect on answers these for real
    for (const path of ['/v1/connect/ca/roots', '/v1/agent/connect/ca/roots', '/v1/agent/connect/ca/leaf/web', '/v1/connect/intentions']) {
      expectError(await ctx.req('GET', path), 500, 'Connect must be enabled in order to use this endpoint');
    }
  });
});

describeConformance(
  'Agent endpoints with ACLs (dev server)',
  (ctx) => {
    it('AgentToken: agent:write, a known type (404 otherwise); the default token serves requests without one', async () => {
      const anonymous = await ctx.req('PUT', '/v1/agent/token/default', { body: { Token: 'root' }, token: null });
      expectError(anonymous, 403, "Permission denied: anonymous token lacks permission 'agent:write'");
      expectError(await ctx.req('PUT', '/v1/agent/token/bogus', { body: { Token: 'x' } }), 404, 'Token "bogus" is unknown');
      expect((await ctx.req('GET', '/v1/agent/host', { token: null })).status).toBe(403);
      const set = await ctx.req('PUT', '/v1/agent/token/default', { body: { Token: 'root' } });
      expect(set.status, set.text).toBe(200);
      expect((await ctx.req('GET', '/v1/agent/host', { token: null })).status).toBe(200);
      expect((await ctx.req('PUT', '/v1/agent/token/default', { body: { Token: '' } })).status).toBe(200);
      expect((await ctx.req('GET', '/v1/agent/host', { token: null })).status).toBe(403);
    });

    it('AgentHost needs operator:read, AgentMetrics and AgentMonitor agent:read', async () => {
      expectError(await ctx.req('GET', '/v1/agent/host', { token: null }), 403, "Permission denied: anonymous token lacks permission 'operator:read'");
      expectError(await ctx.req('GET', '/v1/agent/metrics', { token: null }), 403, "Permission denied: anonymous token lacks permission 'agent:read'");
      expectError(await ctx.req('GET', '/v1/agent/monitor', { token: null }), 403, "Permission denied: anonymous token lacks permission 'agent:read'");
    });
  },
  { devOnly: true, dev: { aclToken: 'root' } },
);

describeConformance(
  'Prometheus metrics (dev server with prometheusRetentionTime)',
  (ctx) => {
    it('AgentMetrics ?format=prometheus: the text exposition format', async () => {
      const res = await ctx.req('GET', '/v1/agent/metrics?format=prometheus');
      expect(res.status, res.text).toBe(200);
      expect(res.header('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.text).toMatch(/^# TYPE consul_runtime_alloc_bytes gauge\nconsul_runtime_alloc_bytes \d+$/m);
    });
  },
  { devOnly: true, dev: { prometheusRetentionTime: '60s' } },
);
