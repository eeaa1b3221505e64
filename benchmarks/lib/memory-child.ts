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
  /** Round 1, in a fresh process: includes V8's one-time growth of its young generation. */
  fresh: { before: NodeJS.MemoryUsage; after: NodeJS.MemoryUsage; setupMs: number };
  /** Round 3, with rounds 1 and 2's items still open: the cost of `count` more. */
  before: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
  setupMs: number;
}

let coord: Coordinator | undefined;

/** Creates `count` items on a new Coordinator, measuring memory (after a full GC) around them. */
async function round(url: string, count: number, offset: number, create: (coord: Coordinator, i: number) => Promise<unknown>) {
  coord ??= new Coordinator({ address: url });
  // Load the code paths once so their compiled code is in the baseline, not in the per-item cost.
  await create(coord, -1 - offset);
  gc();
  const before = process.memoryUsage();
  const t0 = Date.now();
  const batch = 50;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => create(coord!, offset + i + j)));
  }
  const setupMs = Date.now() - t0;
  gc();
  const after = process.memoryUsage();
  return { before, after, setupMs };
}

/**
 * Three rounds of `count` items, all kept open. A fresh Node process that creates many long-lived
 * objects grows V8's young generation (up to its 16 MB semi-spaces, ~32 MB reserved) once, and
 * touches those pages over the next allocations; round 1 pays the growth, round 2 the rest of the
 * touching, so round 3 measures what `count` more items cost (the slope). Rounds 1 and 3 are
 * reported.
 */
async function measure(url: string, count: number, create: (coord: Coordinator, i: number) => Promise<unknown>): Promise<MemoryReport> {
  const fresh = await round(url, count, 0, create);
  await round(url, count, count + 1, create);
  const measured = await round(url, count, 2 * count + 2, create);
  return { count, fresh, ...measured };
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
