/**
 * The transport's HTTP/1.1 wire against hand-written servers: every framing Go's net/http may use
 * for Consul's answers, delivered in awkward pieces, and every way a connection can end.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulError } from '../../src/errors.js';
import { ConsulTransport } from '../../src/transport/client.js';
import { waitFor } from '../support/wait.js';

interface RawServer {
  url: string;
  /** Connections accepted so far. */
  connections: number;
  /** Connections open now. */
  open: Set<net.Socket>;
  /** Request heads received, in order. */
  heads: string[];
  close(): Promise<void>;
}

/**
 * A server that answers each request head it reads with `answer(n)` (n counts requests), written
 * in pieces of `piece` bytes (each piece its own write, on its own turn of the event loop).
 */
async function rawServer(answer: (n: number, socket: net.Socket) => string | Buffer | null, piece = Infinity): Promise<RawServer> {
  const state = { connections: 0, open: new Set<net.Socket>(), heads: [] as string[] };
  const server = net.createServer((socket) => {
    state.connections += 1;
    state.open.add(socket);
    socket.on('close', () => state.open.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', async (chunk) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        state.heads.push(head);
        const reply = answer(state.heads.length, socket);
        if (reply === null) continue;
        const bytes = Buffer.isBuffer(reply) ? reply : Buffer.from(reply);
        for (let i = 0; i < bytes.length; i += piece) {
          if (socket.destroyed) return;
          socket.write(bytes.subarray(i, Math.min(bytes.length, i + piece)));
          if (piece !== Infinity) await new Promise((r) => setImmediate(r));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    open: state.open,
    heads: state.heads,
    close: async () => {
      for (const s of state.open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 42\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const chunked = (parts: string[], trailer = ''): string =>
  `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Consul-Index: 7\r\n\r\n${parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('')}0\r\n${trailer}\r\n`;

let servers: RawServer[] = [];
let transports: ConsulTransport[] = [];
afterEach(async () => {
  for (const t of transports) t.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  transports = [];
});

async function setup(answer: (n: number, socket: net.Socket) => string | Buffer | null, piece?: number, token?: string): Promise<{ server: RawServer; t: ConsulTransport }> {
  const server = await rawServer(answer, piece);
  const t = new ConsulTransport({ address: server.url, token, timeoutMs: 2000, retry: { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 5 } });
  servers.push(server);
  transports.push(t);
  return { server, t };
}

const get = (t: ConsulTransport, path = '/v1/kv/a', extra: Partial<Parameters<ConsulTransport['request']>[0]> = {}) => t.request({ method: 'GET', path, retry: 'none', ...extra });

describe('HTTP/1.1 wire', () => {
  it('reads a Content-Length body delivered one byte at a time, and reuses the connection', async () => {
    const body = JSON.stringify([{ Key: 'a', Flags: 3304740253564472344n.toString() }]);
    const { server, t } = await setup(() => ok(body), 1);
    for (let i = 0; i < 3; i++) {
      const res = await get(t);
      expect(res.body.toString()).toBe(body);
      expect(res.meta.index).toBe(42n);
    }
    expect(server.connections).toBe(1);
  });

  it('reads a chunked body, with chunk extensions and trailers, split at every byte', async () => {
    const reply = chunked(['[{"Key":', '"a"}', ',{"Key":"é"}]']).replace('\r\n[{', ';ext=1\r\n[{');
    const { server, t } = await setup((n) => (n === 1 ? reply : chunked(['x'], 'X-Trailer: 1\r\n')), 1);
    expect((await get(t)).body.toString()).toBe('[{"Key":"a"},{"Key":"é"}]');
    expect((await get(t)).body.toString()).toBe('x');
    expect(server.connections).toBe(1);
  });

  it('skips an interim 100 Continue answer', async () => {
    const { t } = await setup(() => `HTTP/1.1 100 Continue\r\n\r\n${ok('true')}`);
    expect((await t.request({ method: 'PUT', path: '/v1/kv/a', body: 'v', retry: 'none' })).body.toString()).toBe('true');
  });

  it('closes the connection after `Connection: close`, and after an HTTP/1.0 answer without keep-alive', async () => {
    const { server, t } = await setup((n) => (n === 1 ? ok('1', 'Connection: close\r\n') : `HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n2`));
    expect((await get(t)).body.toString()).toBe('1');
    expect((await get(t)).body.toString()).toBe('2');
    expect(server.connections).toBe(2);
    await waitFor(() => server.open.size === 0 && t.connections === 0, { message: 'both connections closed' });
  });

  it('reads a body framed by the end of the connection', async () => {
    const { t } = await setup((_n, socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
      return null;
    });
    expect((await get(t)).body.toString()).toBe('until the end');
  });

  it('maps error statuses with their body, and 204 with no body', async () => {
    const { t } = await setup((n) => (n === 1 ? 'HTTP/1.1 403 Forbidden\r\nContent-Length: 17\r\n\r\nPermission denied' : 'HTTP/1.1 204 No Content\r\n\r\n'));
    const err = await get(t).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsulError);
    expect(err).toMatchObject({ statusCode: 403, consulMessage: 'Permission denied' });
    expect((await get(t, '/v1/kv/b', { okStatuses: [204] })).body.length).toBe(0);
  });

  it('drops an idle connection the server closed, and the next request opens a new one', async () => {
    const { server, t } = await setup(() => ok('true'));
    await get(t);
    for (const s of server.open) s.end();
    await waitFor(() => t.connections === 0, { message: 'the closed idle connection left the pool' });
    expect((await get(t)).body.toString()).toBe('true');
    expect(server.connections).toBe(2);
  });

  it('drops a connection that sends bytes nobody asked for', async () => {
    const { server, t } = await setup(() => ok('true'));
    await get(t);
    for (const s of server.open) s.write('HTTP/1.1 200 OK\r\n\r\n');
    await waitFor(() => t.connections === 0, { message: 'the out-of-step connection was dropped' });
    expect((await get(t)).body.toString()).toBe('true');
  });

  it('reports an answer cut off mid-body as aborted (never as an idle reset that was not applied)', async () => {
    const { t } = await setup((n, socket) => {
      if (n === 1) return ok('true');
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ntru');
      return null;
    });
    await get(t);
    const err = await get(t).catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 0, consulMessage: 'response aborted' });
  });

  it('refuses a malformed answer with a status-0 ConsulError and closes that connection', async () => {
    const { server, t } = await setup((n) => (n === 1 ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' : ok('fine')));
    const err = await get(t).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsulError);
    expect(err).toMatchObject({ statusCode: 0, consulMessage: 'malformed response: bad chunk size "zz"' });
    expect((await get(t)).body.toString()).toBe('fine');
    expect(server.connections).toBe(2);
  });

  it('cancelling a parked request closes its connection at once', async () => {
    const { server, t } = await setup(() => null);
    const controller = new AbortController();
    const pending = get(t, '/v1/kv/a', { signal: controller.signal, query: { index: 5, wait: '5m' } });
    await waitFor(() => server.heads.length === 1, { message: 'the request arrived' });
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    await waitFor(() => server.open.size === 0, { message: 'the server saw the connection close' });
  });

  it('writes one request head: path and query encoded, Host, Accept, the token header, Content-Length for bodies', async () => {
    const { server, t } = await setup(() => ok('true'), undefined, 'secret-token');
    await t.request({ method: 'PUT', path: '/v1/kv/a%20b', query: { cas: 0n, flags: '3304740253564472344', recurse: true, skip: false, tag: ['x y', 'z&'] }, body: 'value', retry: 'none' });
    await t.request({ method: 'PUT', path: '/v1/session/destroy/x', retry: 'none' });
    const [put, empty] = server.heads;
    expect(put?.split('\r\n')[0]).toBe('PUT /v1/kv/a%20b?cas=0&flags=3304740253564472344&recurse=&tag=x+y&tag=z%26 HTTP/1.1');
    expect(put).toMatch(/\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    expect(put).toContain('\r\nX-Consul-Token: secret-token\r\n');
    expect(put).toContain('\r\nContent-Length: 5');
    expect(empty).toContain('\r\nContent-Length: 0');
  });

  it('refuses a token an HTTP header cannot carry, without echoing it', () => {
    expect(() => new ConsulTransport({ address: 'http://127.0.0.1:1', token: 'abc\r\nX-Evil: 1', timeoutMs: 10, retry: { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 1 } })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('abc') }),
    );
  });

  it('pooled idle connections do not keep a process alive', async () => {
    const server = await rawServer(() => ok('true'));
    servers.push(server);
    const script = fileURLToPath(new URL('./fixtures/one-request.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out.trim()).toBe('answered true');
    expect(code).toBe(0);
    // The connection was still pooled (idle) when the process ended on its own.
    expect(server.connections).toBe(1);
  });
});
