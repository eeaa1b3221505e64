/**
 * Semaphore: a free permit's cycle (one client, limit 5), then 100 contenders on a limit of 5
 * (default mode, then fair), each looping acquire → hold 1–5 ms → release (lib/shapes.ts `contended`). Under contention a
 * sample is the time from a release starting to the next acquisition resolving (releases and
 * acquisitions paired in order); the loop fails if more than `limit` ever hold a permit at once.
 */
import { performance } from 'node:perf_hooks';
import { Coordinator } from '../../src/index.js';
import { topRoutes, unique } from '../lib/measure.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer, counted } from '../lib/server.js';
import { contended, handoffNote, oursSemaphore } from '../lib/shapes.js';
import { summarize } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

const LIMIT = 5;

export const semaphore: Scenario = {
  name: 'semaphore',
  description: `semaphore limit ${LIMIT}: free cycle, and 100 contenders with 1–5 ms holds`,
  async run(profile: Profile): Promise<Row[]> {
    const cycles = size(profile, 200, 10);
    const contenders = size(profile, 100, 10);
    const acquisitionsWanted = size(profile, 150, 20);
    const server = await BenchServer.start();
    const rows: Row[] = [];
    const details: Record<string, unknown> = {};
    try {
      // A free permit: acquire + release, one client.
      {
        const coord = new Coordinator({ address: server.url });
        try {
          const sem = coord.semaphore(unique('semaphore-free'), { limit: LIMIT, ttl: '10s', lockDelay: 0 });
          log(`  free permit: ${cycles} cycles`);
          await (await sem.acquire()).release();
          const samples: number[] = [];
          const started = performance.now();
          const { requests } = await counted(server, async () => {
            for (let i = 0; i < cycles; i++) {
              const t0 = performance.now();
              await (await sem.acquire()).release();
              samples.push(performance.now() - t0);
            }
          });
          rows.push({
            scenario: 'semaphore',
            case: `free permit, limit ${LIMIT}`,
            metric: 'cycle ms',
            stats: summarize(samples),
            opsPerSecond: (cycles / (performance.now() - started)) * 1000,
            requestsPerOp: requests.total / cycles,
          });
          details.free = { requestsPerCycleByRoute: topRoutes(requests, cycles) };
        } finally {
          await coord.close();
        }
      }
      // Contended: every contender its own Coordinator; the shared loop checks ≤ LIMIT holders.
      for (const fair of [false, true]) {
        const prefix = unique('semaphore-contended');
        log(`  ${contenders} contenders, limit ${LIMIT}${fair ? ', fair' : ''}: ${acquisitionsWanted} acquisitions`);
        await server.requests(true);
        const m = await contended(() => oursSemaphore(server.url, prefix, LIMIT, fair), contenders, acquisitionsWanted, async () => (await server.requests()).total, LIMIT);
        const requests = await server.requests(true);
        rows.push({
          scenario: 'semaphore',
          case: `${contenders} contenders, limit ${LIMIT}${fair ? ', fair' : ''}`,
          metric: 'release→acquire ms',
          stats: m.stats,
          opsPerSecond: m.opsPerSecond,
          requestsPerOp: m.requestsPerOp,
          note: handoffNote(m.handoff),
        });
        details[fair ? 'contendedFair' : 'contended'] = { handoff: m.handoff, requestsPerAcquisitionByRoute: topRoutes(requests, m.stats.n + 1) };
      }
      writeResult('semaphore', { rows, details, limit: LIMIT, holdMs: [1, 5] });
      return rows;
    } finally {
      await server.close();
    }
  },
};
