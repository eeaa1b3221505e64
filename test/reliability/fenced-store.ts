/**
 * The fenced store of the nemesis suite: the "downstream system" the workers write to. It keeps
 * the highest fencing token it accepted per recipe and refuses any write carrying a lower one, in
 * the same step as the write (as `UPDATE … WHERE token <= $1` would). Every arrival is appended to
 * the history with its verdict.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { append, mono, type Recipe } from './history.js';

export interface FencedStore {
  readonly url: string;
  close(): Promise<void>;
}

export async function startFencedStore(history: string): Promise<FencedStore> {
  const highest = new Map<Recipe, number>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const t = mono();
      const { w, recipe, hold, token, tCheck } = JSON.parse(body) as { w: string; recipe: Recipe; hold: string; token: number; tCheck: number };
      const top = highest.get(recipe) ?? 0;
      const accepted = token >= top;
      if (accepted) highest.set(recipe, token);
      append(history, { type: 'store', w, recipe, hold, token, tCheck, t, accepted, highest: Math.max(top, token) });
      res.writeHead(accepted ? 204 : 409).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
