/**
 * A fresh process that creates `count` idle config watchers or held locks against the server at
 * `url` and reports its memory before and after (after a full GC each time), so the per-item cost
 * is not mixed with the benchmark runner's own heap.
 */
import { Coordinator } from '../../src/index.js';
import { serveCalls } from './harness.js';

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('memory child needs --expose-gc');
  g();
  g();
};

export interface MemoryReport {
  count: number;
  before: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
  setupMs: number;
}

let coord: Coordinator | undefined;

async function measure(url: string, count: number, create: (coord: Coordinator, i: number) => Promise<unknown>): Promise<MemoryReport> {
  coord = new Coordinator({ address: url });
  // Load the code paths once so their compiled code is in the baseline, not in the per-item cost.
  await create(coord, -1);
  gc();
  const before = process.memoryUsage();
  const t0 = Date.now();
  const batch = 50;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => create(coord!, i + j)));
  }
  const setupMs = Date.now() - t0;
  gc();
  const after = process.memoryUsage();
  return { count, before, after, setupMs };
}

serveCalls(
  {
    watchers: (p: { url: string; count: number }) =>
      measure(p.url, p.count, async (c, i) => {
        const w = c.configWatcher(`bench/memory/config/${i}/`);
        await w.ready();
      }),
    locks: (p: { url: string; count: number }) =>
      measure(p.url, p.count, async (c, i) => {
        await c.lock(`bench/memory/lock/${i}`, { ttl: '30s', lockDelay: 0 }).acquire();
      }),
  },
  { pid: process.pid },
  async () => {
    await coord?.close();
  },
);
