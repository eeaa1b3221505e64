/**
 * Lock cycle: one client acquires and releases a free lock, over and over. Three shapes: a lock
 * with its own session (a session per hold, the default), a lock on a shared session, and
 * `withLock`. The sample is one whole cycle (acquire resolved + release resolved).
 */
import { performance } from 'node:perf_hooks';
import { Coordinator } from '../../src/index.js';
import { topRoutes, unique } from '../lib/measure.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer, counted } from '../lib/server.js';
import { summarize } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

export const lockCycle: Scenario = {
  name: 'lock-cycle',
  description: 'acquire + release of a free lock: own session, shared session, withLock',
  async run(profile: Profile): Promise<Row[]> {
    const rounds = size(profile, 400, 15);
    const warmup = size(profile, 30, 2);
    const server = await BenchServer.start();
    const coord = new Coordinator({ address: server.url });
    const rows: Row[] = [];
    const details: Record<string, unknown> = {};
    try {
      const session = await coord.session({ ttl: '10s', lockDelay: 0 });
      const shapes: { name: string; cycle: (key: string) => Promise<void> }[] = [
        {
          name: 'own session',
          cycle: async (key) => {
            const handle = await coord.lock(key, { ttl: '10s', lockDelay: 0 }).acquire();
            await handle.release();
          },
        },
        {
          name: 'shared session',
          cycle: async (key) => {
            const handle = await coord.lock(key, { session }).acquire();
            await handle.release();
          },
        },
        {
          name: 'withLock',
          cycle: (key) => coord.withLock(key, () => undefined, { ttl: '10s', lockDelay: 0 }),
        },
      ];
      for (const shape of shapes) {
        const key = unique('lock-cycle');
        log(`  ${shape.name}: ${rounds} cycles`);
        for (let i = 0; i < warmup; i++) await shape.cycle(key);
        const samples: number[] = [];
        const started = performance.now();
        const { requests } = await counted(server, async () => {
          for (let i = 0; i < rounds; i++) {
            const t0 = performance.now();
            await shape.cycle(key);
            samples.push(performance.now() - t0);
          }
        });
        const elapsed = performance.now() - started;
        const stats = summarize(samples);
        rows.push({
          scenario: 'lock-cycle',
          case: shape.name,
          metric: 'cycle ms',
          stats,
          opsPerSecond: (rounds / elapsed) * 1000,
          requestsPerOp: requests.total / rounds,
        });
        details[shape.name] = { requestsPerCycleByRoute: topRoutes(requests, rounds) };
      }
      writeResult('lock-cycle', { rows, details });
      return rows;
    } finally {
      await coord.close();
      await server.close();
    }
  },
};
