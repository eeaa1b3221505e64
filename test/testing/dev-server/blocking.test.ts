import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { queryTimeoutMs } from '../../../src/testing/dev-server/http/blocking.js';
import { createSession, index, raw } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
});
afterAll(async () => {
  await server.close();
});

describe('query timeout (RPCQueryTimeout)', () => {
  it('defaults to 5 min, caps at 10 min and adds jitter below wait/16', () => {
    expect(queryTimeoutMs(0, 300_000, 600_000, () => 0)).toBe(300_000);
    expect(queryTimeoutMs(-5, 300_000, 600_000, () => 0)).toBe(300_000);
    expect(queryTimeoutMs(3_600_000, 300_000, 600_000, () => 0)).toBe(600_000);
    expect(queryTimeoutMs(1_000, 300_000, 600_000, () => 0.999999)).toBeLessThan(1_000 + 1_000 / 16);
  });
});

describe('blocking KV reads', () => {
  it('return at once for index 0 or an older index', async () => {
    await raw(server, 'PUT', '/v1/kv/b/now', { body: '1' });
    const first = await raw(server, 'GET', '/v1/kv/b/now');
    const t0 = Date.now();
    await raw(server, 'GET', '/v1/kv/b/now?index=0&wait=5s');
    await raw(server, 'GET', `/v1/kv/b/now?index=${index(first) - 1}&wait=5s`);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('time out with the same body and index after wait (+ < wait/16)', async () => {
    await raw(server, 'PUT', '/v1/kv/b/idle', { body: '1' });
    const first = await raw(server, 'GET', '/v1/kv/b/idle');
    const t0 = Date.now();
    const res = await raw(server, 'GET', `/v1/kv/b/idle?index=${index(first)}&wait=300ms`);
    const elapsed = Date.now() - t0;
    expect(res.status).toBe(200);
    expect(res.text).toBe(first.text);
    expect(index(res)).toBe(index(first));
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(300 + 300 / 16 + 500);
  });

  it('wake on a write to the key, including a missing key being created', async () => {
    const missing = await raw(server, 'GET', '/v1/kv/b/new');
    expect(missing.status).toBe(404);
    const held = raw(server, 'GET', `/v1/kv/b/new?index=${index(missing)}&wait=10s`);
    await server.waitForParked({ endpoint: '/v1/kv/b/new' });
    await raw(server, 'PUT', '/v1/kv/b/new', { body: 'hello' });
    const res = await held;
    expect(res.status).toBe(200);
    expect(index(res)).toBeGreaterThan(index(missing));
  });

  it('a prefix query wakes on a put and on a delete under the prefix', async () => {
    await raw(server, 'PUT', '/v1/kv/b/p/a', { body: '1' });
    let last = await raw(server, 'GET', '/v1/kv/b/p/?recurse');
    for (const change of [() => raw(server, 'PUT', '/v1/kv/b/p/b', { body: '2' }), () => raw(server, 'DELETE', '/v1/kv/b/p/a')]) {
      const held = raw(server, 'GET', `/v1/kv/b/p/?recurse&index=${index(last)}&wait=10s`);
      await server.waitForParked({ endpoint: '/v1/kv/b/p/' });
      await change();
      const res = await held;
      expect(index(res)).toBeGreaterThan(index(last));
      last = res;
    }
  });

  it('an identical PUT does not wake a watcher', async () => {
    await raw(server, 'PUT', '/v1/kv/b/same', { body: 'v' });
    const first = await raw(server, 'GET', '/v1/kv/b/same');
    const t0 = Date.now();
    const held = raw(server, 'GET', `/v1/kv/b/same?index=${index(first)}&wait=400ms`);
    await server.waitForParked({ endpoint: '/v1/kv/b/same' });
    await raw(server, 'PUT', '/v1/kv/b/same', { body: 'v' });
    expect(server.state.parkedQueries('/v1/kv/b/same')).toBe(1);
    const res = await held;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(395);
    expect(index(res)).toBe(index(first));
  });

  it('session reads block on the sessions table', async () => {
    const list = await raw(server, 'GET', '/v1/session/list');
    const held = raw(server, 'GET', `/v1/session/list?index=${index(list)}&wait=10s`);
    await server.waitForParked({ endpoint: 'session' });
    const id = await createSession(server);
    const res = await held;
    expect(res.json<Array<{ ID: string }>>().map((s) => s.ID)).toContain(id);
    await raw(server, 'PUT', `/v1/session/destroy/${id}`);
  });

  it('reject bad parameters with Consul texts', async () => {
    expect((await raw(server, 'GET', '/v1/kv/b/x?wait=10')).text).toBe('Invalid wait time');
    expect((await raw(server, 'GET', '/v1/kv/b/x?index=abc')).text).toBe('Invalid index');
    expect((await raw(server, 'GET', '/v1/kv/b/x?stale&consistent')).text).toBe('Cannot specify ?stale with ?consistent, conflicting semantics.');
    expect((await raw(server, 'PUT', '/v1/kv/b/x?wait=zz', { body: '1' })).status).toBe(400);
  });
});

describe('the parked-query observable', () => {
  it('counts a blocking query from the moment it waits until it answers, per endpoint group and path prefix', async () => {
    await raw(server, 'PUT', '/v1/kv/obs/a', { body: '1' });
    const first = await raw(server, 'GET', '/v1/kv/obs/a');
    expect(server.state.parkedQueries('/v1/kv/obs/')).toBe(0);
    // A non-blocking read and a read with an old index never park.
    await raw(server, 'GET', `/v1/kv/obs/a?index=${index(first) - 1}&wait=5s`);
    expect(server.state.parkedQueries('/v1/kv/obs/')).toBe(0);

    const kvHeld = raw(server, 'GET', `/v1/kv/obs/a?index=${index(first)}&wait=10s`);
    const sessions = await raw(server, 'GET', '/v1/session/list');
    const sessionHeld = raw(server, 'GET', `/v1/session/list?index=${index(sessions)}&wait=10s`);
    await expect(server.waitForParked({ endpoint: '/v1/kv/obs/' })).resolves.toBe(1);
    await server.waitForParked({ endpoint: 'session' });
    expect(server.state.parkedQueries('kv')).toBeGreaterThanOrEqual(1);
    expect(server.state.parkedQueries('/v1/kv/obs/b')).toBe(0);
    expect(server.state.parkedQueries()).toBeGreaterThanOrEqual(2);

    await raw(server, 'PUT', '/v1/kv/obs/a', { body: '2' });
    expect((await kvHeld).status).toBe(200);
    expect(server.state.parkedQueries('/v1/kv/obs/')).toBe(0);
    const id = await createSession(server);
    await sessionHeld;
    await raw(server, 'PUT', `/v1/session/destroy/${id}`);
  });

  it('waitForParked rejects with a TimeoutError naming what it waited for', async () => {
    await expect(server.waitForParked({ endpoint: '/v1/kv/nobody/', count: 2, timeout: 30 })).rejects.toMatchObject({
      name: 'TimeoutError',
      code: 'ERR_TIMEOUT',
      message: expect.stringContaining('2 parked /v1/kv/nobody/ queries (0 parked)'),
    });
  });

  it("waitForParked rejects with the signal's reason", async () => {
    const reason = new Error('stop waiting');
    await expect(server.waitForParked({ endpoint: '/v1/kv/nobody/', signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});

describe('closing the server', () => {
  it('drops held blocking queries promptly', async () => {
    const own = await startDevServer({ port: 0 });
    const first = await raw(own, 'GET', '/v1/kv/held');
    const held = raw(own, 'GET', `/v1/kv/held?index=${index(first)}&wait=5m`).then(
      () => 'answered',
      () => 'dropped',
    );
    await own.waitForParked({ endpoint: 'kv' });
    const t0 = Date.now();
    await own.close();
    expect(await held).toBe('dropped');
    expect(own.state.parkedQueries()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2_000);
    await own.close(); // idempotent
  });
});
