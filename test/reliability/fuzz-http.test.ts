/**
 * The dev server under random HTTP: random methods, paths, query strings and bodies sent as raw
 * bytes (so nothing is normalised on the way), and slowloris-style partial requests. It must
 * answer every complete request (4xx for what it refuses; 5xx only where Consul answers 5xx too),
 * never crash (an uncaught exception fails
 * the run), keep answering real clients meanwhile, keep its state valid (every held key names a
 * live session; indexes never go back), and keep its heap bounded.
 */
import fc from 'fast-check';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/index.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';
import { waitFor } from '../support/wait.js';

const LONG = Number(process.env.RELIABILITY_SECONDS ?? 0) > 0;
const REQUESTS = LONG ? 5_000 : 600;
const SLOW_SOCKETS = LONG ? 500 : 100;
/** Heap growth allowed over the fuzzed requests once the state they wrote is counted out. */
const HEAP_BOUND_MB = 48;

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer({ sessionTtlMin: '100ms', aclToken: undefined });
});
afterAll(async () => {
  await dev.close();
});

/**
 * Sends raw bytes (with `Connection: close`); resolves with the status of the answer and its body
 * (status 0: closed without an answer).
 */
function raw(bytes: Buffer | string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(dev.port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${String(bytes).slice(0, 200)}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, body: text.split('\r\n\r\n').slice(1).join('\r\n\r\n') });
    };
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', done);
    socket.on('close', done);
    socket.end(bytes);
  });
}

/**
 * The 5xx answers Consul itself gives to such requests: an unknown `?dc=` (structs.ErrNoDCPath,
 * agent/consul/rpc.go); a query string url.ParseQuery refuses (agent/http.go wrap: 500, no body);
 * and the errors its handlers return as plain errors, which become 500s — the texts the transport
 * knows as Consul's permanent 500s (PERMANENT_500 in src/transport/client.ts: invalid or missing
 * session, strconv, decode failures, user-event limits and filters, …); plus the dev server's
 * documented refusals ("dev server: …", e.g. `?filter`, see its README). Any other 5xx is a
 * dev-server bug.
 */
const CONSUL_500 =
  /^(No path to datacenter$|invalid session|missing session|Invalid Session TTL|Session TTL .* invalid|Invalid Behavior|Missing check|Missing node|.*is in critical state|strconv\.|Request decode failed|Permission denied|ACL not found|.*does not have associated TTL|Cannot provide tag filter|Invalid (node|service|tag) filter|.*exceeds configured limit|Failed to create boolean expression evaluator|dev server: )/;
const consul500 = (body: string): boolean => body === '' || CONSUL_500.test(body);

const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'FOO'];
const PREFIXES = [
  '/v1/kv/', '/v1/kv/fuzz', '/v1/session/create', '/v1/session/destroy/', '/v1/session/info/', '/v1/session/renew/', '/v1/session/list',
  '/v1/session/node/', '/v1/txn', '/v1/agent/self', '/v1/agent/checks', '/v1/agent/services', '/v1/agent/service/register',
  '/v1/agent/service/deregister/', '/v1/agent/check/register', '/v1/agent/check/pass/', '/v1/agent/check/update/', '/v1/catalog/services',
  '/v1/catalog/service/', '/v1/catalog/nodes', '/v1/health/service/', '/v1/health/checks/', '/v1/health/state/', '/v1/event/fire/',
  '/v1/event/list', '/v1/status/leader', '/v1/status/peers', '/v1/', '/', '/ui', '/v2/kv/x',
];
const QUERY_KEYS = ['recurse', 'keys', 'separator', 'cas', 'acquire', 'release', 'flags', 'dc', 'consistent', 'stale', 'filter', 'near', 'ns', 'raw', 'passing', 'tag', 'node-meta', 'token', 'pretty', 'replace-existing-checks'];
const ugly = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom('', '..', '%', '%zz', '%00', '-1', '18446744073709551616', '1e309', 'NaN', '../../etc/passwd', '\u00ff', 'a'.repeat(4000)),
);
const pathArb = fc.tuple(fc.constantFrom(...PREFIXES), ugly).map(([p, s]) => `${p}${s.replace(/[\s#?]/g, '')}`);
const queryArb = fc.array(fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.option(ugly, { nil: undefined })), { maxLength: 4 }).map((pairs) =>
  pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v.replace(/[\s#&]/g, '')}`)).join('&')}`,
);
const bodyArb = fc.oneof(
  fc.constant(''),
  fc.json({ maxDepth: 3 }),
  fc.constantFrom('{"Name":', '[{"KV":{"Verb":"set","Key":"fuzz/t","Value":"eA=="}}]', '[{"KV":{"Verb":"lock","Key":"fuzz/t","Session":"x"}}]', '{"TTL":"-1s"}', '{"LockDelay":"1e9h"}', '{"Behavior":"explode"}', 'null', '"', '\u0000\u0001'),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constant('x'.repeat(600 * 1024)),
);
const requestArb = fc.record({ method: fc.constantFrom(...METHODS), path: pathArb, query: queryArb, body: bodyArb, chunked: fc.boolean() });

function render(r: { method: string; path: string; query: string; body: string; chunked: boolean }): Buffer {
  const body = Buffer.from(r.body, 'latin1');
  const framing = r.chunked ? `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n` : `Content-Length: ${body.length}\r\n\r\n`;
  const tail = r.chunked ? Buffer.from('\r\n0\r\n\r\n') : Buffer.alloc(0);
  return Buffer.concat([Buffer.from(`${r.method} ${r.path}${r.query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${framing}`, 'latin1'), body, tail]);
}

/** State invariants readable from outside: held keys name live sessions; the index only grows. */
function checkState(lastIndex: number): number {
  const sessions = new Set(dev.state.listSessions().map((s) => s.id));
  for (const e of dev.state.listKeys()) {
    if (e.session !== undefined) expect(sessions.has(e.session), `key ${e.key} held by a dead session`).toBe(true);
    expect(e.modifyIndex).toBeGreaterThanOrEqual(e.createIndex);
  }
  expect(dev.state.index).toBeGreaterThanOrEqual(lastIndex);
  return dev.state.index;
}

describe('the dev server fuzzed over HTTP', () => {
  it(
    `answers ${REQUESTS} random requests with 4xx or Consul's own 5xx, keeps its state valid and its heap bounded`,
    async () => {
      const statuses = new Map<number, number>();
      let index = checkState(0);
      const before = heapMb();
      const samples = fc.sample(requestArb, { numRuns: REQUESTS, seed: LONG ? Date.now() : 20261207 });
      for (let i = 0; i < samples.length; i += 10) {
        const batch = samples.slice(i, i + 10);
        const got = await Promise.all(batch.map((r) => raw(render(r))));
        got.forEach(({ status, body }, j) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          const what = `${batch[j]!.method} ${batch[j]!.path}${batch[j]!.query} → ${status} ${body.slice(0, 200)}`;
          expect(status, what).toBeGreaterThanOrEqual(200);
          if (status >= 500) expect(consul500(body), what).toBe(true);
        });
        index = checkState(index);
      }
      // What the fuzz legitimately stored (KV values, sessions) is not a leak: remove it, then weigh.
      await raw('DELETE /v1/kv/?recurse HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      for (const s of dev.state.listSessions()) dev.invalidateSession(s.id);
      const after = heapMb();
      console.log(`dev server fuzz: ${REQUESTS} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, heap ${before.toFixed(1)} → ${after.toFixed(1)} MB (bound +${HEAP_BOUND_MB} MB)`);
      expect(after - before).toBeLessThan(HEAP_BOUND_MB);
      // Real clients are still served.
      const coord = new Coordinator({ address: dev.url });
      await coord.api.kv.put('fuzz/after', 'ok');
      expect((await coord.api.kv.get('fuzz/after')).pair?.value?.toString()).toBe('ok');
      await coord.close();
    },
    LONG ? 600_000 : 120_000,
  );

  it(
    `keeps serving while ${SLOW_SOCKETS} slowloris connections trickle partial requests, and forgets them once they close`,
    async () => {
      const before = heapMb();
      const slow: net.Socket[] = [];
      for (let i = 0; i < SLOW_SOCKETS; i++) {
        const s = net.connect(dev.port, '127.0.0.1');
        s.on('error', () => undefined);
        // A request line and part of a header, or a body promised but never sent.
        s.write(i % 2 === 0 ? `GET /v1/kv/slow-${i} HTTP/1.1\r\nHost: x\r\nX-Slow: ` : `PUT /v1/kv/slow-${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc`);
        slow.push(s);
      }
      await waitFor(() => slow.every((s) => s.writableLength === 0 && !s.connecting), { timeout: 10_000 });
      // One more byte each, as a slowloris client does to stay alive.
      for (const s of slow) s.write('a');
      const coord = new Coordinator({ address: dev.url });
      for (let i = 0; i < 5; i++) {
        await coord.api.kv.put(`fuzz/during-${i}`, String(i));
        expect((await coord.api.kv.get(`fuzz/during-${i}`)).pair?.value?.toString()).toBe(String(i));
      }
      const during = heapMb();
      for (const s of slow) s.destroy();
      // Nothing the half-sent PUTs carried was stored.
      await waitFor(() => dev.state.listKeys('slow-').length === 0);
      await coord.close();
      const after = heapMb();
      console.log(`slowloris: ${SLOW_SOCKETS} partial requests, heap ${before.toFixed(1)} → ${during.toFixed(1)} (held) → ${after.toFixed(1)} MB (closed)`);
      expect(during - before).toBeLessThan(HEAP_BOUND_MB);
      expect(after - before).toBeLessThan(HEAP_BOUND_MB / 2);
    },
    120_000,
  );
});
