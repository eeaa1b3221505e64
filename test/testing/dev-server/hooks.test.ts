import { afterEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { createSession, index, raw, until } from './helpers.js';

let server: DevServer | undefined;

async function start(options: Parameters<typeof startDevServer>[0] = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, ...options });
  return server;
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('when the server is leaderless', () => {
  it('fails writes, default reads and renewals with No cluster leader; stale reads still answer', async () => {
    const s = await start();
    await raw(s, 'PUT', '/v1/kv/l/k', { body: 'v' });
    const id = await createSession(s, { TTL: '10s' });
    s.leaderless();
    const put = await raw(s, 'PUT', '/v1/kv/l/k', { body: 'w' });
    expect([put.status, put.text]).toEqual([500, 'No cluster leader']);
    expect((await raw(s, 'GET', '/v1/kv/l/k')).status).toBe(500);
    expect((await raw(s, 'GET', '/v1/kv/l/k?consistent')).status).toBe(500);
    expect((await raw(s, 'PUT', `/v1/session/renew/${id}`)).text).toBe('No cluster leader');
    const stale = await raw(s, 'GET', '/v1/kv/l/k?stale');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-consul-knownleader']).toBe('false');
    expect((await raw(s, 'GET', '/v1/status/leader')).json()).toBe('');
    s.restoreLeader();
    expect((await raw(s, 'PUT', '/v1/kv/l/k', { body: 'w' })).text).toBe('true');
    expect((await raw(s, 'GET', '/v1/status/leader')).json()).toBe('127.0.0.1:8300');
  });

  it('does not expire sessions, and gives each TTL session a full TTL × 2 when leadership returns', async () => {
    const s = await start({ sessionTtlMin: '100ms' });
    const id = await createSession(s, { TTL: '100ms' });
    s.leaderless();
    await new Promise((r) => setTimeout(r, 400)); // twice TTL × 2: would have expired with a leader
    expect(s.state.listSessions().map((x) => x.id)).toContain(id);
    s.restoreLeader();
    expect(s.state.listSessions().map((x) => x.id)).toContain(id);
    await until(() => s.state.listSessions().length === 0, 2_000, 10);
  });

  it('restores itself after leaderless(ms); holds requests up to rpcHoldTimeout', async () => {
    const s = await start({ rpcHoldTimeout: '2s' });
    s.leaderless(200);
    const t0 = Date.now();
    const res = await raw(s, 'PUT', '/v1/kv/l/held', { body: 'v' });
    expect(res.text).toBe('true');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });
});

describe('fault hooks', () => {
  it('invalidateSession releases locks with lock-delay, like a TTL expiry', async () => {
    const s = await start();
    const s1 = await createSession(s, { LockDelay: '1s' });
    await raw(s, 'PUT', `/v1/kv/h/k?acquire=${s1}`, { body: 'x' });
    expect(s.invalidateSession(s1)).toBe(true);
    expect(s.invalidateSession(s1)).toBe(false);
    expect(s.state.getKey('h/k')).toMatchObject({ session: undefined, lockIndex: 1 });
    expect(s.state.lockDelayMs('h/k')).toBeGreaterThan(0);
  });

  it('setCheckStatus on serfHealth invalidates default sessions', async () => {
    const s = await start();
    const id = await createSession(s);
    s.setCheckStatus('serfHealth', 'critical');
    expect(s.state.listSessions()).toEqual([]);
    expect(s.state.listChecks().find((c) => c.checkId === 'serfHealth')).toMatchObject({
      status: 'critical',
      output: 'Agent not live or unreachable',
      source: 'catalog',
    });
    expect((await raw(s, 'PUT', '/v1/session/create')).status).toBe(500);
    s.setCheckStatus('serfHealth', 'passing');
    expect(id).toBeTruthy();
    expect(() => s.setCheckStatus('nope', 'passing')).toThrow();
  });

  it('pause holds requests and timers until resume', async () => {
    const s = await start({ sessionTtlMin: '100ms' });
    const id = await createSession(s, { TTL: '100ms' });
    s.pause();
    let answered = false;
    const pending = raw(s, 'GET', '/v1/kv/h/x').then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(answered).toBe(false);
    // The TTL timer came due while paused but could not run.
    expect(s.state.listSessions().map((x) => x.id)).toContain(id);
    s.resume();
    expect((await pending).status).toBe(404);
    await until(() => s.state.listSessions().length === 0, 1_000, 10);
  });

  it('restart keeps the port; keepState keeps data but forgets lock-delays; held requests are dropped', async () => {
    const s = await start();
    const url = s.url;
    const s1 = await createSession(s, { LockDelay: '60s' });
    await raw(s, 'PUT', `/v1/kv/h/r?acquire=${s1}`, { body: 'x' });
    await raw(s, 'PUT', `/v1/session/destroy/${s1}`);
    const first = await raw(s, 'GET', '/v1/kv/h/r');
    const held = raw(s, 'GET', `/v1/kv/h/r?index=${index(first)}&wait=1m`).then(
      () => 'answered',
      () => 'dropped',
    );
    await s.waitForParked({ endpoint: '/v1/kv/h/r' });
    await s.restart({ keepState: true });
    expect(await held).toBe('dropped');
    expect(s.url).toBe(url);
    expect(s.state.getKey('h/r')).toBeDefined();
    expect(s.state.lockDelayMs('h/r')).toBe(0);
    await s.restart();
    expect(s.state.getKey('h/r')).toBeUndefined();
    expect((await raw(s, 'GET', '/v1/kv/h/r')).status).toBe(404);
  });
});

describe('tombstone reaping', () => {
  it('drops tombstones after tombstoneTtl, so a prefix index can go back down', async () => {
    const s = await start({ tombstoneTtl: '100ms' });
    await raw(s, 'PUT', '/v1/kv/t/a', { body: '1' });
    const a = s.state.getKey('t/a')!.modifyIndex;
    await raw(s, 'PUT', '/v1/kv/t/b', { body: '1' });
    await raw(s, 'DELETE', '/v1/kv/t/b');
    expect(index(await raw(s, 'GET', '/v1/kv/t/?recurse'))).toBeGreaterThan(a);
    await until(async () => index(await raw(s, 'GET', '/v1/kv/t/?recurse')) === a, 3_000, 20);
  });
});

describe('with ACLs enabled', () => {
  it('denies anonymous requests, rejects unknown tokens, accepts the management token three ways', async () => {
    const s = await start({ aclToken: 'root-secret' });
    const anon = await raw(s, 'PUT', '/v1/kv/a/k', { body: 'v' });
    expect(anon.status).toBe(403);
    expect(anon.text).toMatch(/^Permission denied: anonymous token lacks permission 'key:write' on "a\/k"/);
    const unknown = await raw(s, 'PUT', '/v1/kv/a/k', { body: 'v', headers: { 'X-Consul-Token': 'nope' } });
    expect([unknown.status, unknown.text]).toEqual([403, 'ACL not found']);
    expect((await raw(s, 'PUT', '/v1/kv/a/k?token=root-secret', { body: 'v' })).text).toBe('true');
    expect((await raw(s, 'PUT', '/v1/kv/a/k', { body: 'v', headers: { 'X-Consul-Token': 'root-secret' } })).text).toBe('true');
    expect((await raw(s, 'PUT', '/v1/kv/a/k', { body: 'v', headers: { Authorization: 'bearer root-secret' } })).text).toBe('true');
    // ?token wins over the header.
    expect((await raw(s, 'PUT', '/v1/kv/a/k?token=nope', { body: 'v', headers: { 'X-Consul-Token': 'root-secret' } })).status).toBe(403);
    // Lists filter instead of failing.
    expect((await raw(s, 'GET', '/v1/kv/a/?recurse')).status).toBe(404);
    expect((await raw(s, 'GET', '/v1/session/list')).json()).toEqual([]);
    expect((await raw(s, 'GET', '/v1/status/leader')).status).toBe(200);
    expect((await raw(s, 'GET', '/v1/agent/self')).status).toBe(403);
  });
});

describe('hook misuse', () => {
  it('throws typed errors: ConfigError for a bad check status, ClosedError for a restart after close', async () => {
    const s = await start();
    expect(() => s.setCheckStatus('serfHealth', 'bogus' as 'passing')).toThrow(
      expect.objectContaining({ name: 'ConfigError', code: 'ERR_CONFIG', option: 'status' }),
    );
    await s.close();
    await expect(s.restart()).rejects.toMatchObject({ name: 'ClosedError', code: 'ERR_CLOSED' });
  });
});
