/**
 * Agent services and the check runtime through the dev server's HTTP API and hooks: what an HTTP
 * probe sends and how its answer is read, redirects, timeouts, the output limit, the 1 s interval
 * floor, pause/restart/leaderless interplay, and the new options. Every probe targets loopback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { raw, until } from './helpers.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback endpoint with a programmable answer that records what it received. */
async function endpoint(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Checks = Record<string, { Status: string; Output: string; Type: string; ServiceID: string }>;

let server: DevServer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
afterAll(async () => {
  await server.close();
});

async function agentChecks(s: DevServer = server): Promise<Checks> {
  return (await raw(s, 'GET', '/v1/agent/checks')).json<Checks>();
}

async function register(body: object, s: DevServer = server): Promise<void> {
  const res = await raw(s, 'PUT', '/v1/agent/service/register', { body });
  expect(res.status, res.text).toBe(200);
}

describe('HTTP checks', () => {
  it('send the method, headers and body of the definition, with Consul’s User-Agent and Accept by default', async () => {
    const ep = await endpoint((_req, res) => res.writeHead(204).end());
    cleanups.push(ep.close);
    await register({
      Name: 'probe-a',
      Check: { HTTP: `${ep.base}/hc?x=1`, Method: 'POST', Header: { 'X-Probe': ['1', '2'] }, Body: 'ping', Interval: '1s' },
    });
    await until(async () => (await agentChecks())['service:probe-a']?.Status === 'passing', 5_000);
    const first = ep.seen[0]!;
    expect(first).toMatchObject({ method: 'POST', url: '/hc?x=1', body: 'ping' });
    expect(first.headers['user-agent']).toBe('Consul Health Check');
    expect(first.headers.accept).toBe('text/plain, text/*, */*');
    expect(first.headers['x-probe']).toBe('1, 2');
    expect((await agentChecks())['service:probe-a']?.Output).toBe(`HTTP POST ${ep.base}/hc?x=1: 204 No Content Output: `);
    await raw(server, 'PUT', '/v1/agent/service/deregister/probe-a');
  });

  it('follow redirects unless DisableRedirects is set', async () => {
    const ep = await endpoint((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { Location: '/ok' }).end();
      else res.writeHead(200).end('fine');
    });
    cleanups.push(ep.close);
    await register({ Name: 'redir', Checks: [
      { CheckID: 'follow', HTTP: `${ep.base}/moved`, Interval: '1s' },
      { CheckID: 'stay', HTTP: `${ep.base}/moved`, Interval: '1s', DisableRedirects: true },
    ] });
    await until(async () => {
      const c = await agentChecks();
      return c.follow?.Status === 'passing' && c.stay?.Status === 'critical' && c.stay.Output !== '';
    }, 5_000);
    const c = await agentChecks();
    expect(c.follow?.Output).toBe(`HTTP GET ${ep.base}/moved: 200 OK Output: fine`);
    expect(c.stay?.Output).toBe(`HTTP GET ${ep.base}/moved: 302 Found Output: `);
    await raw(server, 'PUT', '/v1/agent/service/deregister/redir');
  });

  it('time out as critical with Go’s client text, and keep only the tail of a long body', async () => {
    const slow = await endpoint(() => undefined);
    const long = await endpoint((_req, res) => res.writeHead(500).end(`${'a'.repeat(3000)}${'b'.repeat(3000)}`));
    cleanups.push(slow.close, long.close);
    await register({ Name: 'timeouts', Checks: [
      { CheckID: 'slow', HTTP: `${slow.base}/`, Interval: '1s', Timeout: '200ms', Status: 'passing' },
      { CheckID: 'long', HTTP: `${long.base}/`, Interval: '1s', OutputMaxSize: 100 },
    ] });
    await until(async () => {
      const c = await agentChecks();
      return c.slow?.Status === 'critical' && c.long?.Output !== '';
    }, 5_000);
    const c = await agentChecks();
    expect(c.slow?.Output).toBe(`Get "${slow.base}/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`);
    expect(c.long?.Output).toBe(`HTTP GET ${long.base}/: 500 Internal Server Error Output: ${'b'.repeat(100)}`);
    await raw(server, 'PUT', '/v1/agent/service/deregister/timeouts');
  });

  it('never probe more often than once a second; the catalog keeps the interval as written', async () => {
    const ep = await endpoint((_req, res) => res.writeHead(200).end());
    cleanups.push(ep.close);
    await register({ Name: 'fast', Check: { HTTP: `${ep.base}/`, Interval: '50ms' } });
    const started = Date.now();
    await until(() => ep.seen.length >= 2, 5_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const row = server.state.listChecks().find((c) => c.checkId === 'service:fast');
    expect(row?.status).toBe('passing');
    const catalog = (await raw(server, 'GET', '/v1/health/checks/fast')).json<Array<{ Interval: string }>>();
    expect(catalog[0]?.Interval).toBe('50ms');
    await raw(server, 'PUT', '/v1/agent/service/deregister/fast');
  });

  it('stop probing when deregistered and when the server closes', async () => {
    const ep = await endpoint((_req, res) => res.writeHead(200).end());
    cleanups.push(ep.close);
    const own = await startDevServer({ port: 0 });
    try {
      await register({ Name: 'quiet', Check: { HTTP: `${ep.base}/`, Interval: '1s' } }, own);
      await until(() => ep.seen.length >= 1, 5_000);
    } finally {
      await own.close();
    }
    const hits = ep.seen.length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(ep.seen.length).toBe(hits);
  });
});

describe('agent state across faults', () => {
  it('a paused agent applies a probe result only after resume', async () => {
    let status = 200;
    const ep = await endpoint((_req, res) => res.writeHead(status).end());
    cleanups.push(ep.close);
    const own = await startDevServer({ port: 0 });
    try {
      await register({ Name: 'paused', Check: { HTTP: `${ep.base}/`, Interval: '1s' } }, own);
      await until(() => own.state.listChecks().find((c) => c.checkId === 'service:paused')?.status === 'passing', 5_000);
      status = 500;
      own.pause();
      const hits = ep.seen.length;
      // The probe timer cannot fire while paused: no request reaches the endpoint.
      await new Promise((r) => setTimeout(r, 1_300));
      expect(ep.seen.length).toBe(hits);
      expect(own.state.listChecks().find((c) => c.checkId === 'service:paused')?.status).toBe('passing');
      own.resume();
      await until(() => own.state.listChecks().find((c) => c.checkId === 'service:paused')?.status === 'critical', 5_000);
    } finally {
      await own.close();
    }
  });

  it('registrations made without a leader reach the catalog when it returns', async () => {
    const own = await startDevServer({ port: 0 });
    try {
      own.leaderless();
      await register({ Name: 'later', Check: { TTL: '30s', Status: 'passing' } }, own);
      expect(Object.keys((await raw(own, 'GET', '/v1/agent/services')).json<object>())).toEqual(['later']);
      expect(own.state.listServices().map((s) => s.id)).toEqual(['consul']);
      own.restoreLeader();
      expect(own.state.listServices().map((s) => [s.id, s.source])).toEqual([
        ['consul', 'catalog'],
        ['later', 'agent'],
      ]);
      expect(own.state.listChecks().find((c) => c.checkId === 'service:later')?.status).toBe('passing');
    } finally {
      await own.close();
    }
  });

  it('a restart keeping state keeps services and checks; a fresh restart forgets them', async () => {
    const own = await startDevServer({ port: 0 });
    try {
      await register({ Name: 'kept', Check: { TTL: '30s', Status: 'passing' } }, own);
      await own.restart({ keepState: true });
      expect(Object.keys((await raw(own, 'GET', '/v1/agent/services')).json<object>())).toEqual(['kept']);
      expect((await agentChecks(own))['service:kept']?.Status).toBe('passing');
      await own.restart();
      expect((await raw(own, 'GET', '/v1/agent/services')).json()).toEqual({});
      expect((await raw(own, 'GET', '/v1/catalog/services')).json()).toEqual({ consul: [] });
      expect((await raw(own, 'PUT', '/v1/agent/check/pass/service:kept')).status).toBe(404);
    } finally {
      await own.close();
    }
  });

  it('setCheckStatus forces a service check; critical ends its sessions', async () => {
    await register({ Name: 'forced', Check: { TTL: '30s', Status: 'passing' } });
    const session = (await raw(server, 'PUT', '/v1/session/create', { body: { Checks: ['service:forced'] } })).json<{ ID: string }>().ID;
    server.setCheckStatus('service:forced', 'warning', 'hmm');
    expect((await agentChecks())['service:forced']).toMatchObject({ Status: 'warning', Output: 'hmm' });
    expect(server.state.listSessions().map((s) => s.id)).toContain(session);
    server.setCheckStatus('service:forced', 'critical');
    expect(server.state.listSessions().map((s) => s.id)).not.toContain(session);
    await raw(server, 'PUT', '/v1/agent/service/deregister/forced');
  });
});

describe('options', () => {
  it('validate the reaper options', async () => {
    await expect(startDevServer({ checkReapInterval: 'soon' })).rejects.toBeInstanceOf(ConfigError);
    await expect(startDevServer({ checkDeregisterIntervalMin: 0 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('agent/self counts local services', async () => {
    await register({ Name: 'counted' });
    const self = (await raw(server, 'GET', '/v1/agent/self')).json<{ Stats: { agent: { services: string } } }>();
    expect(Number(self.Stats.agent.services)).toBeGreaterThanOrEqual(1);
    await raw(server, 'PUT', '/v1/agent/service/deregister/counted');
  });
});
