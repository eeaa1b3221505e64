/**
 * The one place that picks the Consul the tests talk to, plus a raw HTTP helper.
 *
 * - `CONSUL_HTTP_ADDR` set → a real agent at that address (`CONSUL_HTTP_TOKEN` as token).
 * - `CONSUL_TEST_CONTAINER=1` → the official `hashicorp/consul` image started with
 *   testcontainers in dev mode (`CONSUL_TEST_IMAGE` overrides the image). Needs Docker.
 * - otherwise → the embedded dev server on a free port.
 *
 * `consulFetch` speaks HTTP/1.1 with node:http and returns the body as raw text, so tests can
 * assert uint64 Flags digit for digit and send paths byte for byte (no URL normalisation).
 */
import http from 'node:http';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { startDevServer, type DevServer, type DevServerOptions } from '../../src/testing/index.js';
import { waitFor } from './wait.js';

export { waitFor, pause } from './wait.js';

export type TargetKind = 'dev' | 'agent' | 'container';

/** The dev server type, re-exported under the name older helpers used. */
export type DevServerHandle = DevServer;
export type { DevServer, DevServerOptions };

export interface Target {
  readonly kind: TargetKind;
  /** `http://host:port` */
  readonly url: string;
  /** ACL token sent as `X-Consul-Token` by {@link consulFetch}, if any. */
  readonly token?: string;
  /** The agent's node name (sessions default to it). */
  readonly nodeName: string;
  /** The dev server, when `kind === 'dev'` (fault hooks live there). */
  readonly dev?: DevServerHandle;
  close(): Promise<void>;
}

export interface StartTargetOptions {
  /** Force a kind; `'auto'` follows the environment (see the module comment). @default 'auto' */
  kind?: TargetKind | 'auto';
  /** Options for the dev server (ignored for other kinds). `port` defaults to 0. */
  dev?: DevServerOptions;
}

/** The kind a real-Consul run would use, or undefined when only the dev server is configured. */
export function realTargetKind(env: NodeJS.ProcessEnv = process.env): 'agent' | 'container' | undefined {
  if (env.CONSUL_HTTP_ADDR) return 'agent';
  if (env.CONSUL_TEST_CONTAINER === '1') return 'container';
  return undefined;
}

/** Starts (or connects to) the Consul the tests talk to. */
export async function startTarget(options: StartTargetOptions = {}): Promise<Target> {
  const kind = options.kind === undefined || options.kind === 'auto' ? (realTargetKind() ?? 'dev') : options.kind;
  switch (kind) {
    case 'dev':
      return startDevTarget(options.dev ?? {});
    case 'agent':
      return connectAgent();
    case 'container':
      return startContainer();
  }
}

async function startDevTarget(options: DevServerOptions): Promise<Target> {
  const dev = await startDevServer({ port: 0, host: '127.0.0.1', ...options });
  return {
    kind: 'dev',
    url: dev.url,
    ...(options.aclToken !== undefined ? { token: options.aclToken } : {}),
    nodeName: dev.nodeName,
    dev,
    close: () => dev.close(),
  };
}

/** Normalises CONSUL_HTTP_ADDR (`host:port`, `http://…`, `https://…`) as the Consul CLI does. */
export function agentUrl(env: NodeJS.ProcessEnv = process.env): string {
  const addr = env.CONSUL_HTTP_ADDR ?? '127.0.0.1:8500';
  if (/^https?:\/\//.test(addr)) return addr.replace(/\/+$/, '');
  const scheme = env.CONSUL_HTTP_SSL === 'true' || env.CONSUL_HTTP_SSL === '1' ? 'https' : 'http';
  return `${scheme}://${addr}`;
}

async function connectAgent(): Promise<Target> {
  const url = agentUrl();
  const token = process.env.CONSUL_HTTP_TOKEN || undefined;
  const base = { url, ...(token !== undefined ? { token } : {}) };
  const nodeName = await readNodeName(base, `the Consul agent at ${url} (CONSUL_HTTP_ADDR)`);
  return { kind: 'agent', ...base, nodeName, close: async () => undefined };
}

/** Reads the agent's node name, turning connection failures into a clear message. */
async function readNodeName(base: { url: string; token?: string }, what: string): Promise<string> {
  let res: ConsulResponse;
  try {
    res = await consulFetch(base, 'GET', '/v1/agent/self', { timeout: 10_000 });
  } catch (err) {
    throw new Error(`cannot reach ${what}: ${(err as Error).message}`, { cause: err });
  }
  if (res.status !== 200) throw new Error(`${what} answered GET /v1/agent/self with ${res.status}: ${res.text}`);
  const nodeName = (res.json() as { Config?: { NodeName?: string } }).Config?.NodeName;
  if (!nodeName) throw new Error(`${what} did not report Config.NodeName`);
  return nodeName;
}

const DEFAULT_CONSUL_IMAGE = 'hashicorp/consul:1.21';

/** Minimal slice of the testcontainers API used here (it is imported dynamically). */
interface TestcontainersModule {
  GenericContainer: new (image: string) => {
    withCommand(cmd: string[]): TestcontainersModule['GenericContainer']['prototype'];
    withExposedPorts(...ports: number[]): TestcontainersModule['GenericContainer']['prototype'];
    withWaitStrategy(strategy: unknown): TestcontainersModule['GenericContainer']['prototype'];
    start(): Promise<{ getHost(): string; getMappedPort(port: number): number; stop(): Promise<unknown> }>;
  };
  Wait: {
    forHttp(path: string, port: number): {
      forStatusCode(code: number): { forResponsePredicate(fn: (body: string) => boolean): unknown };
    };
  };
}

async function startContainer(): Promise<Target> {
  let tc: TestcontainersModule;
  try {
    tc = (await import('testcontainers')) as unknown as TestcontainersModule;
  } catch (err) {
    throw new Error(
      'CONSUL_TEST_CONTAINER=1 needs the "testcontainers" package: run `npm install -D testcontainers@11`',
      { cause: err },
    );
  }
  const image = process.env.CONSUL_TEST_IMAGE ?? DEFAULT_CONSUL_IMAGE;
  let container: Awaited<ReturnType<InstanceType<TestcontainersModule['GenericContainer']>['start']>>;
  try {
    container = await new tc.GenericContainer(image)
      .withCommand(['agent', '-dev', '-client', '0.0.0.0', '-node', 'dev'])
      .withExposedPorts(8500)
      // A dev agent answers "" until it has elected itself.
      .withWaitStrategy(
        tc.Wait.forHttp('/v1/status/leader', 8500)
          .forStatusCode(200)
          .forResponsePredicate((body) => body.trim() !== '""'),
      )
      .start();
  } catch (err) {
    throw new Error(
      `CONSUL_TEST_CONTAINER=1: could not start ${image} (is Docker running and reachable?): ${(err as Error).message}`,
      { cause: err },
    );
  }
  const url = `http://${container.getHost()}:${container.getMappedPort(8500)}`;
  try {
    const nodeName = await readNodeName({ url }, `the Consul container at ${url}`);
    return { kind: 'container', url, nodeName, close: async () => void (await container.stop()) };
  } catch (err) {
    await container.stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

export interface ConsulFetchOptions {
  /** Request body; objects and arrays are sent as JSON. Content-Length is always set. */
  body?: string | Buffer | object;
  headers?: Record<string, string>;
  /** Overrides the target's token; `null` sends no token even if the target has one. */
  token?: string | null;
  signal?: AbortSignal;
  /** Rejects when no complete response arrived within this many ms. @default 30000 */
  timeout?: number;
}

export interface ConsulResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body exactly as received, decoded as UTF-8. */
  text: string;
  /** The body as bytes. */
  raw: Buffer;
  /** Milliseconds from sending the request to the end of the response. */
  elapsedMs: number;
  /** A single header value (lower-case lookup), or undefined. */
  header(name: string): string | undefined;
  /** `JSON.parse(text)`; throws with the text in the message when it is not JSON. */
  json<T = unknown>(): T;
}

/**
 * Sends one HTTP request to the target. `path` is sent as is (it must start with `/`), so
 * malformed paths reach the server unchanged. Never throws for an HTTP status; throws on
 * connection errors, abort and timeout.
 */
export function consulFetch(
  target: { url: string; token?: string },
  method: string,
  path: string,
  options: ConsulFetchOptions = {},
): Promise<ConsulResponse> {
  const { signal, timeout = 30_000 } = options;
  signal?.throwIfAborted();
  const base = new URL(target.url);
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? target.token : options.token;
  if (token !== undefined && token !== null && !hasHeader(headers, 'x-consul-token')) {
    headers['X-Consul-Token'] = token;
  }
  let body: Buffer | undefined;
  if (options.body !== undefined) {
    body =
      typeof options.body === 'string'
        ? Buffer.from(options.body)
        : Buffer.isBuffer(options.body)
          ? options.body
          : Buffer.from(JSON.stringify(options.body));
    if (!hasHeader(headers, 'content-length')) headers['Content-Length'] = String(body.length);
  }
  const transport = base.protocol === 'https:' ? https : http;
  const started = Date.now();

  return new Promise<ConsulResponse>((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, res?: ConsulResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(res!);
    };
    const req = transport.request({
      host: base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: base.port || (base.protocol === 'https:' ? 443 : 80),
      method,
      path,
      headers,
      // One connection per request: no pooled sockets outlive a test or keep a server open.
      agent: false,
    });
    const onAbort = (): void => {
      req.destroy();
      finish(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      req.destroy();
      finish(new Error(`${method} ${path}: no response within ${timeout} ms`));
    }, timeout);
    let responded = false;
    req.on('response', (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => finish(err));
      res.on('end', () => {
        // A server that answered before reading a large body (413) may still be owed bytes.
        if (!req.writableFinished) req.destroy();
        const raw = Buffer.concat(chunks);
        const text = raw.toString('utf8');
        finish(undefined, {
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          raw,
          elapsedMs: Date.now() - started,
          header: (name) => {
            const v = res.headers[name.toLowerCase()];
            return Array.isArray(v) ? v.join(', ') : v;
          },
          json: <T>() => {
            try {
              return JSON.parse(text) as T;
            } catch {
              throw new Error(`${method} ${path}: expected JSON, got ${res.statusCode}: ${JSON.stringify(text.slice(0, 200))}`);
            }
          },
        });
      });
    });
    // A server may answer (413) and close before a large body is fully written; the response
    // still counts, so an error once it has started arriving is left to the response stream.
    req.on('error', (err) => {
      if (!responded) finish(err);
    });
    if (body === undefined) req.end();
    else if (body.length <= LARGE_BODY_BYTES) req.end(body);
    else void writeLargeBody(req, body, () => responded);
  });
}

/** Bodies above this size are streamed in slices so an early answer stops the upload. */
const LARGE_BODY_BYTES = 256 * 1024;

/**
 * Writes `body` in 64 KiB slices, honouring backpressure, and stops as soon as the server has
 * answered: Go's server answers 413 without reading the body, and a client that keeps pushing
 * megabytes only provokes a reset that can hide the answer.
 */
async function writeLargeBody(req: http.ClientRequest, body: Buffer, responded: () => boolean): Promise<void> {
  const slice = 64 * 1024;
  for (let offset = 0; offset < body.length; offset += slice) {
    if (responded() || req.destroyed) return;
    if (!req.write(body.subarray(offset, offset + slice))) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          req.off('drain', done);
          req.off('response', done);
          req.off('close', done);
          resolve();
        };
        req.on('drain', done);
        req.on('response', done);
        req.on('close', done);
      });
    }
  }
  if (!responded() && !req.destroyed) req.end();
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((h) => h.toLowerCase() === name);
}

// ---------------------------------------------------------------------------------------------
// Small helpers shared by conformance and property tests

/** A random, well-formed UUID no server has seen. */
export function unknownUuid(): string {
  return randomUUID();
}

/** Encodes a key for a KV URL path, keeping `/` separators. */
export function kvPath(key: string, query?: string): string {
  const encoded = key.split('/').map(encodeURIComponent).join('/');
  return `/v1/kv/${encoded}${query !== undefined ? `?${query}` : ''}`;
}

/** Reads `X-Consul-Index` as a bigint (indexes are uint64). Throws when absent. */
export function consulIndex(res: ConsulResponse): bigint {
  const v = res.header('x-consul-index');
  if (v === undefined || !/^\d+$/.test(v)) throw new Error(`missing or malformed X-Consul-Index: ${String(v)}`);
  return BigInt(v);
}

/** Waits until the target answers `/v1/status/leader` with a non-empty leader. */
export async function waitForLeader(target: Target, timeout = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const res = await consulFetch(target, 'GET', '/v1/status/leader', { timeout: 2_000 });
      return res.status === 200 && res.text.trim() !== '""';
    },
    { timeout, message: `a leader at ${target.url}` },
  );
}
