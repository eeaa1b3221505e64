/**
 * The server process of a benchmark run: the dev server under test and, beside it, the floor —
 * a bare `node:http` server answering a PUT with the same small JSON body the dev server sends
 * for a KV write. Requests are counted as they arrive (Node's `http.server.request.start`
 * diagnostics channel), so no library code changes to be counted.
 *
 *   argv[2]: JSON DevServerOptions
 */
import { subscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDevServer, type CheckStatus, type DevServerOptions } from '../../src/testing/index.js';
import { serveCalls } from './harness.js';

export interface ServerInfo {
  url: string;
  floorUrl: string;
  pid: number;
}

export interface RequestCount {
  total: number;
  /** "METHOD /v1/route[?flag]" → count; shows where a recipe's requests go. */
  byRoute: Record<string, number>;
}

const options = JSON.parse(process.argv[2] ?? '{}') as DevServerOptions;
const dev = await startDevServer({ port: 0, host: '127.0.0.1', ...options });

const floor: Server = createServer({ keepAliveTimeout: 0, requestTimeout: 0 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 4, 'X-Consul-Index': '1' });
    res.end('true');
  });
});
await new Promise<void>((resolve) => floor.listen(0, '127.0.0.1', resolve));

const FLAGS = ['acquire', 'release', 'cas', 'index', 'recurse', 'keys'].map((f) => ({ f, re: new RegExp(`(^|&)${f}(=|&|$)`) }));

/** Route names by raw request line: requests repeat, so counting costs a map lookup. */
const routeCache = new Map<string, string>();

function route(req: IncomingMessage): string {
  const line = `${req.method} ${req.url}`;
  let name = routeCache.get(line);
  if (name === undefined) {
    if (routeCache.size > 10_000) routeCache.clear();
    name = routeName(req);
    routeCache.set(line, name);
  }
  return name;
}

function routeName(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const segments = path.split('/').filter(Boolean);
  let name = segments[1] === 'kv' ? '/v1/kv' : `/${segments.slice(0, segments[1] === 'agent' ? 4 : 3).join('/')}`;
  // Session ids and node names are not part of the route.
  name = name.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, ':id');
  const query = q < 0 ? '' : url.slice(q + 1);
  const flags = FLAGS.filter(({ re }) => re.test(query)).map(({ f }) => f);
  return `${req.method} ${name}${flags.length ? `?${flags.join('&')}` : ''}`;
}

let count: RequestCount = { total: 0, byRoute: {} };
subscribe('http.server.request.start', (message) => {
  const { request, server } = message as { request: IncomingMessage; server: Server };
  if (server === floor) return;
  count.total += 1;
  const r = route(request);
  count.byRoute[r] = (count.byRoute[r] ?? 0) + 1;
});

serveCalls(
  {
    /** Requests since the last reset (reset: true starts a new count). */
    count: (params: { reset?: boolean } | undefined) => {
      const out = count;
      if (params?.reset) count = { total: 0, byRoute: {} };
      return out;
    },
    invalidateSession: (id: string) => dev.invalidateSession(id),
    setCheckStatus: (p: { checkId: string; status: CheckStatus }) => dev.setCheckStatus(p.checkId, p.status),
    memory: () => {
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage();
    },
  },
  { url: dev.url, floorUrl: `http://127.0.0.1:${(floor.address() as AddressInfo).port}`, pid: process.pid } satisfies ServerInfo,
  async () => {
    await dev.close();
    await new Promise<void>((r) => floor.close(() => r()));
  },
);
