/**
 * Contended handoff: N clients (each its own Coordinator, i.e. its own connections and session)
 * loop acquire → hold 1–5 ms → release on one key. A handoff sample is the time from the start
 * of one holder's release to the next holder's acquire resolving: what a queue of workers pays
 * per turn. Requests per handoff are every request the dev server saw divided by handoffs: in
 * the default mode a release wakes every waiter, so it grows with N.
 *
 * Fair (FIFO) mode (`fair: true`, issue 11 item 3) plugs in here: flip FAIR_MODE_AVAILABLE when
 * LockOptions has `fair`; until then its rows say "not available".
 */
import { performance } from 'node:perf_hooks';
import { Coordinator, type LockOptions } from '../../src/index.js';
import { hold, topRoutes, unique } from '../lib/measure.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer, counted } from '../lib/server.js';
import { summarize } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

/** Set to true once `fair: true` exists in LockOptions (FIFO queue, one waiter woken per release). */
export const FAIR_MODE_AVAILABLE = false;

export type LockMode = 'default' | 'fair';

export interface HandoffResult {
  handoffMs: number[];
  elapsedMs: number;
  acquisitions: number;
}

/** N contenders on one key until `handoffs` handoffs happened. */
export async function contendedHandoff(address: string, n: number, handoffs: number, mode: LockMode): Promise<HandoffResult> {
  const key = unique(`handoff-${n}`);
  const options: LockOptions & { fair?: boolean } = { ttl: '10s', lockDelay: 0, ...(mode === 'fair' ? { fair: true } : {}) };
  const coords = Array.from({ length: n }, () => new Coordinator({ address }));
  const handoffMs: number[] = [];
  let acquisitions = 0;
  let inside = 0;
  let releaseStartedAt: number | undefined;
  const started = performance.now();
  try {
    await Promise.all(
      coords.map(async (coord) => {
        const lock = coord.lock(key, options);
        while (acquisitions <= handoffs) {
          const handle = await lock.acquire();
          const now = performance.now();
          inside += 1;
          if (inside !== 1) throw new Error('benchmark: mutual exclusion violated');
          if (releaseStartedAt !== undefined && acquisitions <= handoffs) handoffMs.push(now - releaseStartedAt);
          acquisitions += 1;
          await hold(1, 5);
          inside -= 1;
          releaseStartedAt = performance.now();
          await handle.release();
        }
      }),
    );
  } finally {
    await Promise.all(coords.map((c) => c.close()));
  }
  return { handoffMs, elapsedMs: performance.now() - started, acquisitions };
}

export const handoff: Scenario = {
  name: 'handoff',
  description: 'N contenders on one lock, 1–5 ms holds: release → next acquire, default and fair mode',
  async run(profile: Profile): Promise<Row[]> {
    const plan: { n: number; handoffs: number }[] = size(
      profile,
      [
        { n: 2, handoffs: 300 },
        { n: 10, handoffs: 300 },
        { n: 50, handoffs: 150 },
        { n: 200, handoffs: 60 },
      ],
      [
        { n: 2, handoffs: 10 },
        { n: 10, handoffs: 10 },
      ],
    );
    const rows: Row[] = [];
    const details: Record<string, unknown> = {};
    for (const mode of ['default', 'fair'] as const) {
      if (mode === 'fair' && !FAIR_MODE_AVAILABLE) {
        log('  fair mode: not available (LockOptions has no `fair: true` yet)');
        continue;
      }
      for (const { n, handoffs } of plan) {
        // A fresh server per N: the waiters of one size never meet the state of another.
        const server = await BenchServer.start();
        try {
          log(`  ${mode}, N = ${n}: ${handoffs} handoffs`);
          const { value, requests } = await counted(server, () => contendedHandoff(server.url, n, handoffs, mode));
          const stats = summarize(value.handoffMs);
          rows.push({
            scenario: 'handoff',
            case: `${mode}, N = ${n}`,
            metric: 'handoff ms',
            stats,
            opsPerSecond: (value.acquisitions / value.elapsedMs) * 1000,
            requestsPerOp: requests.total / value.acquisitions,
          });
          details[`${mode}:${n}`] = { requestsPerHandoffByRoute: topRoutes(requests, value.acquisitions) };
        } finally {
          await server.close();
        }
      }
    }
    writeResult('handoff', { rows, details, fairModeAvailable: FAIR_MODE_AVAILABLE, holdMs: [1, 5] });
    return rows;
  },
};
