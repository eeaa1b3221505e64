import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, RecipeError } from '../../src/errors.js';
import { startFaultProxy, type FaultProxy } from '../../src/testing/fault-proxy.js';
import { waitFor } from '../support/wait.js';

/** A TCP echo server that records how many connections reached it. */
async function startEchoServer(): Promise<{
  port: number;
  url: string;
  accepted: () => number;
  echoed: () => number;
  close: () => Promise<void>;
}> {
  let accepted = 0;
  let echoed = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // resets caused by the proxy are the point of these tests
    socket.on('data', (chunk: Buffer) => (echoed += chunk.length));
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    echoed: () => echoed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client connection that collects everything it receives and how it ended. */
class Client {
  readonly socket: net.Socket;
  received = '';
  ended = false;
  error: NodeJS.ErrnoException | undefined;
  closed = false;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => (this.received += d));
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('error', (e: NodeJS.ErrnoException) => (this.error = e));
    this.socket.on('close', () => (this.closed = true));
  }

  async connected(): Promise<this> {
    if (!this.socket.connecting) return this;
    await once(this.socket, 'connect');
    return this;
  }
}

/** Resolves once the event loop has gone round a few times (used only to show nothing moved). */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise((r) => setImmediate(r));
}

describe('startFaultProxy', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let proxy: FaultProxy;
  const clients: Client[] = [];

  const connect = async (): Promise<Client> => {
    const c = new Client(proxy.port);
    clients.push(c);
    await c.connected();
    return c;
  };

  beforeEach(async () => {
    echo = await startEchoServer();
    proxy = await startFaultProxy({ target: echo.url });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await proxy.close();
    await echo.close();
  });

  describe('when healthy', () => {
    it('listens on a free loopback port and reports its url', () => {
      expect(proxy.port).toBeGreaterThan(0);
      expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`);
    });

    it('forwards bytes both ways', async () => {
      const c = await connect();
      c.socket.write('hello');
      await waitFor(() => c.received === 'hello');
      c.socket.write(' world');
      await waitFor(() => c.received === 'hello world');
    });

    it('forwards a half-close and lets the reply finish', async () => {
      const c = await connect();
      c.socket.end('last words');
      await waitFor(() => c.ended);
      expect(c.received).toBe('last words');
      await waitFor(() => c.closed);
      expect(c.error).toBeUndefined();
    });

    it('carries a large transfer intact in both directions', async () => {
      const c = await connect();
      const payload = 'abcdefghij'.repeat(500_000); // 5 MB: more than the buffering high-water mark
      c.socket.end(payload);
      await waitFor(() => c.ended, { timeout: 20_000 });
      expect(c.received.length).toBe(payload.length);
      expect(c.received === payload).toBe(true);
    });

    it('proxies HTTP requests to an HTTP target', async () => {
      const server = http.createServer((req, res) => res.end(`you asked for ${req.url}`));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const httpProxy = await startFaultProxy({ target: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` });
      try {
        const res = await fetch(`${httpProxy.url}/v1/kv/a?raw`);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe('you asked for /v1/kv/a?raw');
      } finally {
        await httpProxy.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });

    it('resets the client when the target refuses the connection', async () => {
      const dead = await startEchoServer();
      await dead.close();
      const toDead = await startFaultProxy({ target: dead.url });
      try {
        const c = new Client(toDead.port);
        clients.push(c);
        await waitFor(() => c.closed);
        expect(c.received).toBe('');
      } finally {
        await toDead.close();
      }
    });

    it('rejects a missing target, an unparsable target and a bad port with ConfigError naming the option', async () => {
      await expect(startFaultProxy({ target: '' })).rejects.toMatchObject({ name: 'ConfigError', code: 'ERR_CONFIG', option: 'target' });
      await expect(startFaultProxy({ target: 'http://[::1' })).rejects.toMatchObject({ name: 'ConfigError', option: 'target' });
      await expect(startFaultProxy({ target: echo.url, port: -1 })).rejects.toMatchObject({ name: 'ConfigError', option: 'port' });
      await expect(startFaultProxy({ target: '' })).rejects.toBeInstanceOf(RecipeError);
    });
  });

  describe("when partitioned with 'hold'", () => {
    it('delivers nothing either way and keeps connections open', async () => {
      const c = await connect();
      c.socket.write('before');
      await waitFor(() => c.received === 'before');
      proxy.partition();
      c.socket.write('during');
      await settle();
      expect(c.received).toBe('before');
      expect(c.closed).toBe(false);
      expect(proxy.connections).toBe(1);
    });

    it('holds bytes already in flight from the target', async () => {
      const c = await connect();
      proxy.delay(100);
      c.socket.write('in flight');
      await waitFor(() => echo.echoed() === 'in flight'.length);
      // The echo is now queued in the proxy, due in about 100 ms; the partition must hold it
      // past that moment.
      proxy.partition('hold');
      await new Promise((r) => setTimeout(r, 250));
      expect(c.received).toBe('');
      proxy.heal();
      await waitFor(() => c.received === 'in flight');
    });

    it('delivers held bytes in order after heal', async () => {
      const c = await connect();
      proxy.partition('hold');
      c.socket.write('one,');
      c.socket.write('two,');
      c.socket.write('three');
      await settle();
      expect(c.received).toBe('');
      proxy.heal();
      await waitFor(() => c.received === 'one,two,three');
    });

    it('accepts new connections but does not reach the target until heal', async () => {
      proxy.partition('hold');
      const before = echo.accepted();
      const c = await connect();
      c.socket.write('late');
      await settle();
      expect(echo.accepted()).toBe(before);
      expect(c.closed).toBe(false);
      proxy.heal();
      await waitFor(() => c.received === 'late');
      expect(echo.accepted()).toBe(before + 1);
    });

    it('leaves an HTTP request hanging until heal, then completes it', async () => {
      const server = http.createServer((_req, res) => res.end('ok'));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const httpProxy = await startFaultProxy({ target: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` });
      try {
        httpProxy.partition('hold');
        let settled = false;
        const pending = fetch(`${httpProxy.url}/`).then(async (r) => {
          settled = true;
          return r.text();
        });
        // The request's connection reached the proxy, which forwards nothing while holding.
        await waitFor(() => httpProxy.connections === 1);
        await settle();
        expect(settled).toBe(false);
        httpProxy.heal();
        expect(await pending).toBe('ok');
      } finally {
        await httpProxy.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  });

  describe("when partitioned with 'drop'", () => {
    it('resets existing connections', async () => {
      const c = await connect();
      c.socket.write('x');
      await waitFor(() => c.received === 'x');
      proxy.partition('drop');
      await waitFor(() => c.closed);
      expect(c.error?.code).toBe('ECONNRESET');
      expect(proxy.connections).toBe(0);
      expect(proxy.dropped).toBe(1);
    });

    it('resets new connections until heal, then forwards again', async () => {
      proxy.partition('drop');
      const refused = new Client(proxy.port);
      clients.push(refused);
      await waitFor(() => refused.closed);
      expect(refused.received).toBe('');
      const again = new Client(proxy.port);
      clients.push(again);
      await waitFor(() => again.closed);
      expect(proxy.dropped).toBe(2);

      proxy.heal();
      const c = await connect();
      c.socket.write('back');
      await waitFor(() => c.received === 'back');
      expect(proxy.dropped).toBe(2);
    });

    it('makes an HTTP request fail instead of hang', async () => {
      proxy.partition('drop');
      await expect(fetch(`${proxy.url}/`)).rejects.toThrow();
    });
  });

  describe('when delayed', () => {
    it('delivers each chunk no earlier than the delay', async () => {
      const c = await connect();
      proxy.delay(150);
      const started = Date.now();
      c.socket.write('slow');
      await waitFor(() => c.received === 'slow');
      // Two hops (to the target and back), each delayed: the lower bound is deterministic.
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    });

    it('keeps order when the delay is lowered', async () => {
      const c = await connect();
      proxy.delay(200);
      c.socket.write('first,');
      proxy.delay(0);
      c.socket.write('second');
      await waitFor(() => c.received.length >= 'first,second'.length);
      expect(c.received).toBe('first,second');
    });

    it('removes the delay with delay(0)', async () => {
      const c = await connect();
      proxy.delay(10_000);
      proxy.delay(0);
      c.socket.write('now');
      await waitFor(() => c.received === 'now', { timeout: 2_000 });
    });

    it('rejects a negative delay and an unknown partition mode with ConfigError', () => {
      expect(() => proxy.delay(-1)).toThrow(ConfigError);
      expect(() => proxy.delay(Number.NaN)).toThrow(/non-negative/);
      expect(() => proxy.partition('bogus' as 'hold')).toThrow(ConfigError);
    });
  });

  describe('close()', () => {
    it('destroys every socket, stops listening and is idempotent', async () => {
      const c = await connect();
      proxy.partition('hold');
      c.socket.write('pending');
      proxy.delay(5_000);
      const first = proxy.close();
      const second = proxy.close();
      await Promise.all([first, second]);
      await waitFor(() => c.closed);
      expect(proxy.connections).toBe(0);
      const late = new Client(proxy.port);
      clients.push(late);
      await waitFor(() => late.closed);
      expect(late.error?.code).toBe('ECONNREFUSED');
      await proxy.close();
    });

    it('supports await using', async () => {
      const inner = await startFaultProxy({ target: echo.url });
      await inner[Symbol.asyncDispose]();
      await inner.close();
      const c = new Client(inner.port);
      clients.push(c);
      await waitFor(() => c.closed);
      expect(c.error?.code).toBe('ECONNREFUSED');
    });
  });
});
