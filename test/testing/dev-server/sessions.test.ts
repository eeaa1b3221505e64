import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { createSession, index, raw, until } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: 0, sessionTtlMin: '200ms' });
});
afterEach(async () => {
  for (const s of server.state.listSessions()) await raw(server, 'PUT', `/v1/session/destroy/${s.id}`);
});
afterAll(async () => {
  await server.close();
});

interface SessionJson {
  ID: string;
  Node: string;
  LockDelay: number;
  Behavior: string;
  TTL: string;
  NodeChecks: string[] | null;
  ServiceChecks: unknown;
  Checks?: string[];
  CreateIndex: number;
  ModifyIndex: number;
}

async function info(id: string): Promise<SessionJson[]> {
  return (await raw(server, 'GET', `/v1/session/info/${id}`)).json<SessionJson[]>();
}

describe('session create', () => {
  it('applies the defaults: our node, serfHealth, 15 s lock-delay, release, no TTL', async () => {
    const res = await raw(server, 'PUT', '/v1/session/create');
    expect(res.status).toBe(200);
    const { ID } = res.json<{ ID: string }>();
    const [s] = await info(ID);
    expect(s).toMatchObject({ Node: 'dev', LockDelay: 15e9, Behavior: 'release', TTL: '', NodeChecks: ['serfHealth'], ServiceChecks: null });
    expect(s).not.toHaveProperty('Checks');
  });

  it('decodes LockDelay as a Go duration or nanoseconds, small numbers as seconds', async () => {
    const cases: Array<[unknown, number]> = [[5, 5e9], ['15000ms', 15e9], ['0s', 0], ['120s', 120e9], ['500ns', 500e9]];
    for (const [given, want] of cases) {
      const id = await createSession(server, { LockDelay: given });
      expect((await info(id))[0]?.LockDelay).toBe(want);
    }
  });

  it('applies the Checks fix-ups', async () => {
    const none = await createSession(server, { Checks: [] });
    expect((await info(none))[0]?.NodeChecks).toEqual([]);
    const nodeOnly = await createSession(server, { NodeChecks: [] });
    expect((await info(nodeOnly))[0]?.NodeChecks).toEqual([]);
  });

  it('validates in order with Consul texts (500s), and rejects malformed JSON (400)', async () => {
    const cases: Array<[object, string]> = [
      [{ Behavior: 'bogus' }, "Invalid Behavior setting 'bogus'"],
      [{ TTL: '100ms' }, "Invalid Session TTL '100000000', must be between [200ms=24h0m0s]"],
      [{ TTL: '86401s' }, 'Invalid Session TTL'],
      [{ TTL: 'abc' }, "Session TTL 'abc' invalid"],
      [{ Node: 'no-such-node' }, 'Missing node registration'],
      [{ NodeChecks: ['nope'] }, "Missing check 'nope' registration"],
    ];
    for (const [body, text] of cases) {
      const res = await raw(server, 'PUT', '/v1/session/create', { body });
      expect(res.status, JSON.stringify(body)).toBe(500);
      expect(res.text).toContain(text);
    }
    for (const ttl of ['200ms', '86400s', '0s']) expect((await raw(server, 'PUT', '/v1/session/create', { body: { TTL: ttl } })).status).toBe(200);
    const bad = await raw(server, 'PUT', '/v1/session/create', { body: '{nope' });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/^Request decode failed: /);
  });
});

describe('session endpoints', () => {
  it('destroy and renew of unknown IDs, info of unknown IDs', async () => {
    const ghost = '11111111-2222-3333-4444-555555555555';
    expect((await raw(server, 'PUT', `/v1/session/destroy/${ghost}`)).text).toBe('true');
    const renew = await raw(server, 'PUT', `/v1/session/renew/${ghost}`);
    expect(renew.status).toBe(404);
    expect(renew.text).toBe(`Session id '${ghost}' not found`);
    const res = await raw(server, 'GET', `/v1/session/info/${ghost}`);
    expect(res.json()).toEqual([]);
    expect(index(res)).toBeGreaterThanOrEqual(1);
    expect((await raw(server, 'GET', '/v1/session/info/')).text).toBe('Missing session');
    expect((await raw(server, 'GET', '/v1/session/node/')).text).toBe('Missing node name');
  });

  it('list and node reads report the sessions table index', async () => {
    const id = await createSession(server);
    const listed = await raw(server, 'GET', '/v1/session/list');
    expect(listed.json<SessionJson[]>().map((s) => s.ID)).toContain(id);
    expect((await raw(server, 'GET', '/v1/session/node/dev')).json<SessionJson[]>().map((s) => s.ID)).toContain(id);
    expect((await raw(server, 'GET', '/v1/session/node/ghost')).json()).toEqual([]);
    await raw(server, 'PUT', `/v1/session/destroy/${id}`);
    const after = await raw(server, 'GET', '/v1/session/list');
    expect(after.json<SessionJson[]>().map((s) => s.ID)).not.toContain(id);
    expect(index(after)).toBeGreaterThan(index(listed));
  });

  it('renew returns the unchanged session', async () => {
    const id = await createSession(server, { TTL: '10s' });
    const [before] = await info(id);
    const res = await raw(server, 'PUT', `/v1/session/renew/${id}`);
    expect(res.status).toBe(200);
    expect(res.json<SessionJson[]>()[0]?.ModifyIndex).toBe(before?.ModifyIndex);
  });
});

describe('when a TTL session is not renewed', () => {
  it('outlives its TTL and is invalidated by TTL × 2, releasing its locks', async () => {
    const id = await createSession(server, { TTL: '200ms', LockDelay: '0s' });
    await raw(server, 'PUT', `/v1/kv/ttl-lock?acquire=${id}`, { body: 'x' });
    const created = Date.now();
    await until(async () => (await info(id)).length === 0, 3_000, 10);
    // TTL × 2 is the promise; allow for timer granularity.
    expect(Date.now() - created).toBeGreaterThanOrEqual(380);
    expect(server.state.getKey('ttl-lock')?.session).toBeUndefined();
  });

  it('renewals keep it alive', async () => {
    const id = await createSession(server, { TTL: '200ms' });
    const end = Date.now() + 1_000;
    while (Date.now() < end) {
      expect((await raw(server, 'PUT', `/v1/session/renew/${id}`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await info(id)).toHaveLength(1);
  });
});

describe('sessions bound to agent checks', () => {
  it('die when the check goes critical (not warning) or is deregistered', async () => {
    const reg = await raw(server, 'PUT', '/v1/agent/check/register', { body: { Name: 'bound', TTL: '30s', Status: 'passing' } });
    expect(reg.status).toBe(200);
    const a = await createSession(server, { NodeChecks: ['bound'] });
    await raw(server, 'PUT', '/v1/agent/check/warn/bound');
    expect(await info(a)).toHaveLength(1);
    await raw(server, 'PUT', '/v1/agent/check/fail/bound');
    expect(await info(a)).toHaveLength(0);
    const refused = await raw(server, 'PUT', '/v1/session/create', { body: { NodeChecks: ['bound'] } });
    expect(refused.text).toContain("Check 'bound' is in critical state");
    await raw(server, 'PUT', '/v1/agent/check/pass/bound');
    const b = await createSession(server, { NodeChecks: ['bound'] });
    await raw(server, 'PUT', '/v1/agent/check/deregister/bound');
    expect(await info(b)).toHaveLength(0);
  });
});
