import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulError, isTransient } from '../../src/errors.js';
import { isPermanentFailure } from '../../src/recipes/watch/watcher.js';
import { ConsulApi, isTransient as transportIsTransient } from '../../src/transport/index.js';
import { waitFor } from '../support/wait.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A scripted HTTP server: each request gets the next handler. */
async function scriptedServer(handlers: Array<(req: Seen, res: http.ServerResponse) => void>) {
  const seen: Seen[] = [];
  let i = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      const h = handlers[Math.min(i++, handlers.length - 1)]!;
      h(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => (_: Seen, res: http.ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function api(url: string, extra: Partial<ConstructorParameters<typeof ConsulApi>[0]> = {}) {
  const a = new ConsulApi({ address: url, timeoutMs: 2000, retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5 }, ...extra });
  cleanups.push(() => a.close());
  return a;
}

describe('transport', () => {
  it('sends the token only in X-Consul-Token, never in the URL', async () => {
    const s = await scriptedServer([json(200, [])]);
    cleanups.push(s.close);
    await api(s.url, { token: 'secret-token-123' }).sessions.list();
    expect(s.seen[0]!.headers['x-consul-token']).toBe('secret-token-123');
    expect(s.seen[0]!.url).not.toContain('secret');
  });

  it('parses the query-meta headers, keeping the index exact', async () => {
    const s = await scriptedServer([
      json(200, [], { 'X-Consul-Index': '18446744073709551615', 'X-Consul-KnownLeader': 'false', 'X-Consul-LastContact': '42' }),
    ]);
    cleanups.push(s.close);
    const { meta } = await api(s.url).sessions.list();
    expect(meta).toEqual({ index: 18446744073709551615n, knownLeader: false, lastContactMs: 42 });
  });

  it('reads uint64 flags losslessly from KV entries', async () => {
    const s = await scriptedServer([
      json(200, '[{"LockIndex":1,"Key":"k","Flags":3304740253564472344,"Value":"eA==","Session":"s","CreateIndex":5,"ModifyIndex":6}]'),
    ]);
    cleanups.push(s.close);
    const { pair } = await api(s.url).kv.get('k');
    expect(pair?.flags).toBe(0x2ddccbc058a50c18n);
    expect(pair?.value?.toString()).toBe('x');
    expect(pair?.session).toBe('s');
  });

  it('sends blocking parameters and a wait-aware timeout', async () => {
    const s = await scriptedServer([json(200, [], { 'X-Consul-Index': '9' })]);
    cleanups.push(s.close);
    await api(s.url).kv.list('p/', { index: 7n, waitMs: 1500 });
    const url = new URL(s.seen[0]!.url, s.url);
    expect(url.searchParams.get('index')).toBe('7');
    expect(url.searchParams.get('wait')).toBe('1500ms');
    expect(url.searchParams.has('recurse')).toBe(true);
  });

  it('maps error statuses to ConsulError with Consul\'s message and no token', async () => {
    const s = await scriptedServer([json(403, 'ACL not found')]);
    cleanups.push(s.close);
    const err = await api(s.url, { token: 'very-secret' }).sessions.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as ConsulError).statusCode).toBe(403);
    expect((err as ConsulError).consulMessage).toBe('ACL not found');
    expect(String((err as Error).message) + JSON.stringify(err)).not.toContain('very-secret');
  });

  it("retries transient failures on requests sent with retry 'transient'", async () => {
    const s = await scriptedServer([json(500, 'No cluster leader'), json(500, 'rpc error: EOF'), json(200, [])]);
    cleanups.push(s.close);
    await api(s.url).sessions.list();
    expect(s.seen).toHaveLength(3);
  });

  it('leaves a blocking read (waitMs given) to the blocking loop: one attempt, no transport retry', async () => {
    const s = await scriptedServer([json(500, 'No cluster leader'), json(200, [], { 'X-Consul-Index': '3' })]);
    cleanups.push(s.close);
    await expect(api(s.url).kv.list('p/', { index: 40n, waitMs: 60_000 })).rejects.toMatchObject({ statusCode: 500 });
    await expect(api(s.url).kv.get('p/x', { index: 0n, waitMs: 60_000 })).resolves.toMatchObject({ pair: null });
    expect(s.seen).toHaveLength(2);
  });

  it("sends with retry 'none' once, whatever the failure", async () => {
    const s = await scriptedServer([json(500, 'No cluster leader'), json(200, 'true')]);
    cleanups.push(s.close);
    await expect(api(s.url).sessions.renew('sid', { retry: 'none' })).rejects.toMatchObject({ statusCode: 500 });
    expect(s.seen).toHaveLength(1);
  });

  it("retries a failed blocking read sent with retry 'transient' as a non-blocking one", async () => {
    const s = await scriptedServer([json(500, 'No cluster leader'), json(200, [], { 'X-Consul-Index': '3' })]);
    cleanups.push(s.close);
    await api(s.url).kv.list('p/', { index: 40n, waitMs: 60_000, retry: 'transient' });
    expect(s.seen).toHaveLength(2);
    expect(new URL(s.seen[0]!.url, s.url).searchParams.get('index')).toBe('40');
    const retried = new URL(s.seen[1]!.url, s.url).searchParams;
    expect(retried.has('index')).toBe(false);
    expect(retried.has('wait')).toBe(false);
    expect(retried.has('recurse')).toBe(true);
  });

  it('does not retry permanent 500s', async () => {
    const s = await scriptedServer([json(500, 'invalid session "x"'), json(200, 'true')]);
    cleanups.push(s.close);
    await expect(api(s.url).kv.put('k', 'v', { acquire: 'x' })).rejects.toThrow(/invalid session/);
    expect(s.seen).toHaveLength(1);
  });

  it('retries an acquire only when the failure proves it was not applied', async () => {
    const s = await scriptedServer([json(500, 'No cluster leader'), json(200, 'true')]);
    cleanups.push(s.close);
    expect(await api(s.url).kv.put('k', 'v', { acquire: 'sid' })).toBe(true);
    expect(s.seen).toHaveLength(2);

    const s2 = await scriptedServer([json(503, 'overloaded'), json(200, 'true')]);
    cleanups.push(s2.close);
    await expect(api(s2.url).kv.put('k', 'v', { acquire: 'sid' })).rejects.toBeInstanceOf(ConsulError);
    expect(s2.seen).toHaveLength(1);
  });

  it('rejects with the abort reason and cancels the request', async () => {
    const s = await scriptedServer([() => {}]); // never answers
    cleanups.push(s.close);
    const ac = new AbortController();
    const reason = new Error('stop now');
    const p = api(s.url).kv.get('k', { index: 5n, waitMs: 60_000, signal: ac.signal });
    await waitFor(() => s.seen.length === 1);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it('reports a connection failure as ConsulError with status 0', async () => {
    const s = await scriptedServer([json(200, [])]);
    const url = s.url;
    await s.close();
    const err = await api(url, { retry: { retries: 1, minTimeoutMs: 1, maxTimeoutMs: 1 } }).sessions.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as ConsulError).statusCode).toBe(0);
    expect((err as ConsulError).transient).toBe(true);
  });

  it('retries a CAS delete only when the failure proves it was not applied', async () => {
    const s = await scriptedServer([json(500, 'No cluster leader'), json(200, 'true')]);
    cleanups.push(s.close);
    expect(await api(s.url).kv.delete('k', { cas: 3 })).toBe(true);
    expect(s.seen).toHaveLength(2);

    const s2 = await scriptedServer([json(500, 'rpc error: EOF'), json(200, 'true')]);
    cleanups.push(s2.close);
    await expect(api(s2.url).kv.delete('k', { cas: 3 })).rejects.toMatchObject({ statusCode: 500 });
    expect(s2.seen).toHaveLength(1);
  });

  it('writes flags as exact decimal digits', async () => {
    const s = await scriptedServer([json(200, 'true')]);
    cleanups.push(s.close);
    await api(s.url).kv.put('k', 'v', { flags: 0xe0f69a2baa414de0n });
    expect(new URL(s.seen[0]!.url, s.url).searchParams.get('flags')).toBe(0xe0f69a2baa414de0n.toString());
  });
});

describe('transport and idle keep-alive connections', () => {
  it('retries a write whose reused idle connection was reset before any answer', async () => {
    // The first answer keeps the connection alive; the server then resets idle sockets.
    const sockets = new Set<import('node:net').Socket>();
    let calls = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls += 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('true');
      });
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    const a = new ConsulApi({ address: url, timeoutMs: 2000, retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5 } });
    const noRetry = new ConsulApi({ address: url, timeoutMs: 2000, retry: { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 5 } });
    try {
      // Without retries the race shows: the reused connection is reset before any answer.
      expect(await noRetry.kv.put('k', 'v')).toBe(true);
      for (const s of sockets) s.resetAndDestroy();
      await expect(noRetry.kv.put('k', 'v', { acquire: 'sid' })).rejects.toThrow(/reused idle connection/);
      expect(calls).toBe(1);

      expect(await a.kv.put('k', 'v')).toBe(true);
      // Reset the pooled connection while the client still thinks it is usable.
      for (const s of sockets) s.resetAndDestroy();
      expect(await a.kv.put('k', 'v', { acquire: 'sid' })).toBe(true);
      expect(calls).toBe(3);
    } finally {
      a.close();
      noRetry.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('the one transient rule', () => {
  const cases: Array<[status: number, message: string, transient: boolean]> = [
    [0, 'ECONNRESET', true],
    [0, 'no response within 100ms', true],
    [429, 'rate limited', true],
    [500, 'No cluster leader', true],
    [500, 'rpc error: EOF', true],
    [500, 'invalid session "x"', false],
    [500, 'Permission denied', false],
    [500, 'Missing check \'serfHealth\' registration', false],
    [501, 'not implemented', false],
    [502, 'bad gateway', true],
    [503, 'overloaded', true],
    [504, 'gateway timeout', true],
    [400, 'Request decode failed', false],
    [403, 'ACL not found', false],
    [404, 'not found', false],
  ];
  it.each(cases)('%i %s → transient %s, in every place that asks', (status, message, transient) => {
    const err = new ConsulError(status, 'GET /v1/kv/k', message);
    expect(err.transient).toBe(transient);
    expect(isTransient(err)).toBe(transient);
    expect(transportIsTransient(err)).toBe(transient);
    expect(isPermanentFailure(err)).toBe(!transient);
  });

  it('treats errors that are not ConsulErrors as neither transient nor a Consul failure', () => {
    const err = new Error('boom');
    expect(isTransient(err)).toBe(false);
    expect(isPermanentFailure(err)).toBe(false);
  });
});
