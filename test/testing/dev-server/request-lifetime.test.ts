/**
 * The per-request abort signal of the dev server (http/router.ts `RequestLifetime`): made only
 * when a handler asks for it, yet it still reports a client that hung up before or after, and a
 * closing server.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestLifetime } from '../../../src/testing/dev-server/http/router.js';

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** Starts a server, sends one request that is never answered, resolves with the server side. */
async function pendingRequest(): Promise<{ req: IncomingMessage; res: ServerResponse; client: http.ClientRequest }> {
  let resolveServerSide: (v: { req: IncomingMessage; res: ServerResponse }) => void = () => undefined;
  const serverSide = new Promise<{ req: IncomingMessage; res: ServerResponse }>((r) => (resolveServerSide = r));
  server = http.createServer((req, res) => resolveServerSide({ req, res }));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const client = http.request({ host: '127.0.0.1', port, path: '/v1/kv/x?index=5', method: 'GET' });
  client.on('error', () => undefined);
  client.end();
  return { ...(await serverSide), client };
}

const aborted = (signal: AbortSignal): Promise<void> =>
  signal.aborted ? Promise.resolve() : new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));

describe('the request abort signal', () => {
  it('is not made, and adds no listener, while no handler asks for it', async () => {
    const { res, client } = await pendingRequest();
    const before = res.listenerCount('close');
    const closing = new AbortController();
    const lifetime = new RequestLifetime(res, closing.signal);
    expect(res.listenerCount('close')).toBe(before);
    lifetime.end();
    client.destroy();
  });

  it('aborts when the client hangs up after it was made', async () => {
    const { res, client } = await pendingRequest();
    const lifetime = new RequestLifetime(res, new AbortController().signal);
    const signal = lifetime.signal;
    expect(signal.aborted).toBe(false);
    client.destroy();
    await aborted(signal);
    expect(signal.aborted).toBe(true);
    lifetime.end();
  });

  it('is already aborted when made after the client hung up', async () => {
    const { res, client } = await pendingRequest();
    const lifetime = new RequestLifetime(res, new AbortController().signal);
    const closed = new Promise((r) => res.once('close', r));
    client.destroy();
    await closed;
    expect(lifetime.signal.aborted).toBe(true);
    lifetime.end();
  });

  it('aborts when the server closes, and end() removes its listeners', async () => {
    const { res, client } = await pendingRequest();
    const closing = new AbortController();
    const before = res.listenerCount('close');
    const lifetime = new RequestLifetime(res, closing.signal);
    const signal = lifetime.signal;
    expect(res.listenerCount('close')).toBe(before + 1);
    closing.abort();
    expect(signal.aborted).toBe(true);
    lifetime.end();
    expect(res.listenerCount('close')).toBe(before);
    client.destroy();
  });
});
