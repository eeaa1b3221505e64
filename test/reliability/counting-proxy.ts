/**
 * A loopback HTTP proxy that counts the requests on their way to a server and calls
 * `onRequest(n)` for the n-th, before forwarding it: to abort at a given request, or to prove
 * that a call sent exactly one.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  readonly url: string;
  /** Requests received so far. */
  count(): number;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string, onRequest: (n: number) => void = () => undefined): Promise<CountingProxy> {
  let n = 0;
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    onRequest(++n);
    const fwd = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    res.on('close', () => fwd.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
