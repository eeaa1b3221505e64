/**
 * Issue 9: reads driven by the blocking loop are retried by the loop alone. The transport sends
 * every read that names a blocking wait with `retry: 'none'`, so one failure costs one request
 * and one loop backoff, never a burst of transport retries under each loop retry.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulError } from '../../src/errors.js';
import { blockingQuery } from '../../src/loop/blocking-query.js';
import { ConsulApi } from '../../src/transport/index.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** Answers the first `failures` requests with 500 "No cluster leader", then an entry at index 9. */
async function flakyKv(failures: number): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    req.resume();
    if (requests <= failures) {
      res.writeHead(500).end('No cluster leader');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': '9' });
    res.end(JSON.stringify([{ Key: 'k', Value: null, Flags: 0, LockIndex: 0, CreateIndex: 9, ModifyIndex: 9 }]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

describe('who retries a blocking read', () => {
  it('the loop alone: each failed read is one request and one onError', async () => {
    const server = await flakyKv(3);
    const api = new ConsulApi({ address: server.url, timeoutMs: 5_000, retry: { retries: 4, minTimeoutMs: 1, maxTimeoutMs: 1 } });
    const ac = new AbortController();
    const failures: number[] = [];
    try {
      const reads = blockingQuery(
        async ({ index, waitMs, signal }) => {
          const { pair, meta } = await api.kv.get('k', { index, waitMs, signal });
          return { value: pair?.key, meta };
        },
        { signal: ac.signal, errorBackoff: { minMs: 1, maxMs: 2 }, onError: (err, n) => failures.push(n) },
      );
      const first = await reads.next();
      expect(first.value).toMatchObject({ value: 'k', index: 9n });
      expect(failures).toEqual([1, 2, 3]);
      expect(server.requests()).toBe(4);
    } finally {
      ac.abort();
      api.close();
    }
  });

  it('a one-shot read (no waitMs) is retried by the transport', async () => {
    const server = await flakyKv(2);
    const api = new ConsulApi({ address: server.url, timeoutMs: 5_000, retry: { retries: 4, minTimeoutMs: 1, maxTimeoutMs: 1 } });
    try {
      expect((await api.kv.get('k')).pair?.key).toBe('k');
      expect(server.requests()).toBe(3);
    } finally {
      api.close();
    }
  });

  it('the loop stops at a permanent error when told to, after a single request', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(403).end('Permission denied');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    const api = new ConsulApi({ address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 5_000, retry: { retries: 4, minTimeoutMs: 1, maxTimeoutMs: 1 } });
    const ac = new AbortController();
    try {
      const reads = blockingQuery(async ({ index, waitMs, signal }) => ({ value: 0, meta: (await api.kv.get('k', { index, waitMs, signal })).meta }), {
        signal: ac.signal,
        isFatal: (err) => err instanceof ConsulError && !err.transient,
      });
      await expect(reads.next()).rejects.toMatchObject({ statusCode: 403 });
    } finally {
      ac.abort();
      api.close();
    }
  });
});
