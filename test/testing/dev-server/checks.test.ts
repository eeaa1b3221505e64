import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { raw, until } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
});
afterAll(async () => {
  await server.close();
});

type Checks = Record<string, { Status: string; Output: string; Type: string; Name: string; ServiceID: string; ServiceTags: unknown }>;

async function agentChecks(): Promise<Checks> {
  return (await raw(server, 'GET', '/v1/agent/checks')).json<Checks>();
}

describe('agent checks', () => {
  it('a fresh agent has no local checks; serfHealth is catalog-only', async () => {
    const own = await startDevServer({ port: 0 });
    try {
      expect((await raw(own, 'GET', '/v1/agent/checks')).json()).toEqual({});
      const any = (await raw(own, 'GET', '/v1/health/state/any')).json<Array<{ CheckID: string }>>();
      expect(any.map((c) => c.CheckID)).toEqual(['serfHealth']);
    } finally {
      await own.close();
    }
  });

  it('registers a TTL check as critical with ID = Name, and validates definitions', async () => {
    expect((await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'disk', TTL: '30s' } })).status).toBe(200);
    expect((await agentChecks()).disk).toMatchObject({ Status: 'critical', Type: 'ttl', ServiceID: '', ServiceTags: [] });
    const cases: Array<[unknown, number, string]> = [
      [{ TTL: '30s' }, 400, 'Missing check name'],
      [{ Name: 'x', TTL: '30s', Status: 'nope' }, 400, 'Bad check status'],
      [{ Name: 'x', HTTP: 'http://x' }, 400, 'Invalid check: Interval must be > 0'],
      [{ Name: 'x', TTL: '10s', Interval: '10s' }, 400, 'Invalid check: Interval and TTL cannot both be specified'],
      [{ Name: 'x', TTL: '30s', ServiceID: 'ghost' }, 404, 'ServiceID "ghost" does not exist'],
      [{ Name: 'x', TTL: '30s', Bogus: 1 }, 400, 'Request decode failed: json: unknown field "Bogus"'],
      ['', 400, 'Request decode failed: EOF'],
    ];
    for (const [body, status, text] of cases) {
      const res = await raw(server, 'PUT', '/v1/agent/check/register', { body: typeof body === 'string' ? body : (body as object) });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.text.startsWith(text), res.text).toBe(true);
    }
  });

  it('pass/warn/fail/update set status and output; unknown and non-TTL checks are refused', async () => {
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'ttl1', TTL: '30s' } });
    await raw(server, 'PUT', '/v1/agent/check/pass/ttl1?note=ok');
    expect((await agentChecks()).ttl1).toMatchObject({ Status: 'passing', Output: 'ok' });
    await raw(server, 'PUT', '/v1/agent/check/update/ttl1', { body: { Status: 'warning', Output: 'hi' } });
    expect((await agentChecks()).ttl1).toMatchObject({ Status: 'warning', Output: 'hi' });
    expect((await raw(server, 'PUT', '/v1/agent/check/update/ttl1', { body: { Status: 'bogus' } })).text).toBe("Invalid check status: 'bogus'");
    const unknown = await raw(server, 'PUT', '/v1/agent/check/pass/nope');
    expect([unknown.status, unknown.text]).toEqual([404, 'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.']);
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'web', HTTP: 'http://127.0.0.1:1/', Interval: '10s' } });
    const notTtl = await raw(server, 'PUT', '/v1/agent/check/pass/web');
    expect([notTtl.status, notTtl.text]).toEqual([500, 'CheckID "web" does not have associated TTL']);
    expect((await raw(server, 'GET', '/v1/agent/check/pass/ttl1')).status).toBe(405);
  });

  it('caps output at 4096 bytes and says how much was captured', async () => {
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'long', TTL: '30s' } });
    await raw(server, 'PUT', `/v1/agent/check/pass/long?note=${'a'.repeat(5000)}`);
    expect((await agentChecks()).long?.Output).toBe(`${'a'.repeat(4096)} ... (captured 4096 of 5000 bytes)`);
  });

  it('expires a TTL check to critical with the TTL expired texts, and re-registration keeps status', async () => {
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'quiet', TTL: '150ms' } });
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'fading', TTL: '150ms' } });
    await raw(server, 'PUT', '/v1/agent/check/pass/fading?note=x');
    await until(async () => (await agentChecks()).fading?.Status === 'critical', 2_000);
    expect((await agentChecks()).fading?.Output).toBe('TTL expired (last output before timeout follows): x');
    await until(async () => (await agentChecks()).quiet?.Output === 'TTL expired', 2_000);
    // The catalog sees the status change too.
    expect(server.state.listChecks().find((c) => c.checkId === 'fading')).toMatchObject({ status: 'critical', source: 'agent' });
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'keep', TTL: '30s' } });
    await raw(server, 'PUT', '/v1/agent/check/pass/keep?note=fine');
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'keep', TTL: '30s' } });
    expect((await agentChecks()).keep).toMatchObject({ Status: 'passing', Output: 'fine' });
  });

  it('deregisters checks, 404 for unknown IDs', async () => {
    await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'gone', TTL: '30s' } });
    expect((await raw(server, 'PUT', '/v1/agent/check/deregister/gone')).status).toBe(200);
    expect((await agentChecks()).gone).toBeUndefined();
    expect((await raw(server, 'PUT', '/v1/agent/check/deregister/gone')).status).toBe(404);
  });

  it('serves minimal health reads', async () => {
    expect((await raw(server, 'GET', '/v1/health/state/')).text).toBe('Missing check state');
    expect((await raw(server, 'GET', '/v1/health/state/bogus')).json()).toEqual([]);
    const node = (await raw(server, 'GET', '/v1/health/node/dev')).json<Array<{ CheckID: string }>>();
    expect(node.map((c) => c.CheckID)).toContain('serfHealth');
    expect((await raw(server, 'GET', '/v1/health/node/ghost')).json()).toEqual([]);
  });
});
