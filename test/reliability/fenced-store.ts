/**
 * The fenced store of the nemesis suite: the "downstream system" the workers write to. It keeps
 * the highest fencing token it accepted per recipe and refuses any write carrying a lower one, in
 * the same step as the write (as `UPDATE … WHERE token <= $1` would). Reads under a read-write
 * lock's reader (`mode: 'read'`) are fenced against writes only: a read is refused when a write
 * with a higher token was accepted; a write is refused below any accepted token, read or write.
 * Every arrival is appended to the history with its verdict.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { append, mono, type HoldRecipe, type Mode } from './history.js';

export interface FencedStore {
  readonly url: string;
  close(): Promise<void>;
}

export async function startFencedStore(history: string): Promise<FencedStore> {
  const highest = new Map<HoldRecipe, number>();
  const highestWrite = new Map<HoldRecipe, number>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const t = mono();
      const { w, recipe, hold, token, tCheck, mode } = JSON.parse(body) as { w: string; recipe: HoldRecipe; hold: string; token: number; tCheck: number; mode?: Mode };
      const top = highest.get(recipe) ?? 0;
      const accepted = token >= (mode === 'read' ? (highestWrite.get(recipe) ?? 0) : top);
      if (accepted) {
        highest.set(recipe, Math.max(top, token));
        if (mode !== 'read') highestWrite.set(recipe, token);
      }
      append(history, { type: 'store', w, recipe, hold, token, tCheck, t, accepted, highest: Math.max(top, token), ...(mode ? { mode } : {}) });
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
