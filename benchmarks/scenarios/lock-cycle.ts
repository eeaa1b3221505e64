/**
 * Lock cycle: one client acquires and releases a free lock, over and over. Five shapes: a new lock
 * per cycle with its own session (a session per hold, the default), the same on a shared session,
 * `withLock`, and one lock acquired again and again (own session, shared session), whose cycles
 * after the first skip the read (its release's answer showed the key). The sample is one whole
 * cycle (acquire resolved + release resolved).
 */
import { performance } from 'node:perf_hooks';
import { Coordinator, type Lock } from '../../src/index.js';
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
        reusing('own session, one Lock', (key) => coord.lock(key, { ttl: '10s', lockDelay: 0 })),
        reusing('shared session, one Lock', (key) => coord.lock(key, { session })),
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

/** A shape that keeps one Lock per key and acquires it again each cycle. */
function reusing(name: string, make: (key: string) => Lock): { name: string; cycle: (key: string) => Promise<void> } {
  const locks = new Map<string, Lock>();
  return {
    name,
    cycle: async (key) => {
      let lock = locks.get(key);
      if (!lock) locks.set(key, (lock = make(key)));
      const handle = await lock.acquire();
      await handle.release();
    },
  };
}
