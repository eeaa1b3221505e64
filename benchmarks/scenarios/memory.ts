/**
 * Memory: RSS per 1,000 idle config watchers and per 1,000 held locks (each with its own
 * session: a renewal timer and a blocking monitor read), measured in a fresh client process
 * after a full GC, before and after. The dev server's own growth is reported beside it.
 * Goals (issue 11): ≤ 20 KB per idle watcher, ≤ 50 KB per held lock, client side. The child
 * measures three rounds (see memory-child.ts): the first in a fresh process includes V8's one-time
 * young-generation growth; the third, with the first two rounds' items still open, is what the
 * next items cost. Both are reported.
 */
import { fileURLToPath } from 'node:url';
import { spawnChild } from '../lib/harness.js';
import type { MemoryReport } from '../lib/memory-child.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer } from '../lib/server.js';
import type { Summary } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

const CHILD = fileURLToPath(new URL('../lib/memory-child.ts', import.meta.url));
const KB = 1024;

/** A single value shown in the percentile columns (memory is one measurement, not a distribution). */
const single = (v: number): Summary => ({ n: 1, p50: v, p90: v, p99: v, max: v, mean: v });

export const memory: Scenario = {
  name: 'memory',
  description: 'RSS per idle config watcher and per held lock (1,000 of each)',
  async run(profile: Profile): Promise<Row[]> {
    const count = size(profile, 1000, 50);
    const rows: Row[] = [];
    const reports: Record<string, unknown> = {};
    for (const kind of ['watchers', 'locks'] as const) {
      const server = await BenchServer.start();
      const child = await spawnChild(CHILD, [], { execArgv: ['--expose-gc'] });
      try {
        log(`  ${count} ${kind === 'watchers' ? 'idle config watchers' : 'held locks'}`);
        const serverBefore = await server.memory();
        const r = await child.call<MemoryReport>(kind, { url: server.url, count });
        const serverAfter = await server.memory();
        const rssPer = (r.after.rss - r.before.rss) / count / KB;
        const heapPer = (r.after.heapUsed - r.before.heapUsed) / count / KB;
        const freshRssPer = (r.fresh.after.rss - r.fresh.before.rss) / count / KB;
        const freshHeapTotalPer = (r.fresh.after.heapTotal - r.fresh.before.heapTotal) / count / KB;
        const serverPer = (serverAfter.rss - serverBefore.rss) / (3 * count) / KB;
        const what = kind === 'watchers' ? 'idle watcher' : 'held lock';
        const goal = kind === 'watchers' ? 20 : 50;
        rows.push({
          scenario: 'memory',
          case: `client RSS per ${what}`,
          metric: 'KB',
          stats: single(rssPer),
          note: `heap ${heapPer.toFixed(1)} KB; goal ≤ ${goal} KB; the next ${count} after ${2 * count}; ${count} in ${r.setupMs} ms`,
        });
        rows.push({
          scenario: 'memory',
          case: `client RSS per ${what}, fresh process`,
          metric: 'KB',
          stats: single(freshRssPer),
          note: `the first ${count}: V8's young generation grows once (heap reserved +${freshHeapTotalPer.toFixed(1)} KB per item)`,
        });
        rows.push({ scenario: 'memory', case: `dev-server RSS per ${what}`, metric: 'KB', stats: single(serverPer), note: `all three rounds (${3 * count} items)` });
        reports[kind] = { client: r, server: { before: serverBefore, after: serverAfter } };
      } finally {
        await child.close();
        await server.close();
      }
    }
    writeResult('memory', { rows, count, reports });
    return rows;
  },
};
