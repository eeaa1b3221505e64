/**
 * Contended handoff: N clients (each its own Coordinator, i.e. its own connections and session)
 * loop acquire → hold 1–5 ms → release on one key. A handoff sample is the time from the start
 * of one holder's release to the next holder's acquire resolving: what a queue of workers pays
 * per turn. Requests per handoff are every request the dev server saw divided by handoffs: in
 * the default mode a release wakes every waiter, so it grows with N.
 * In fair (FIFO) mode (`fair: true`) a release wakes only the next waiter in line, so requests
 * per handoff stay flat as N grows.
 */
import type { LockOptions } from '../../src/index.js';
import { topRoutes, unique } from '../lib/measure.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer } from '../lib/server.js';
import { contended, handoffNote, oursMutex, type Handoffs, type Measured } from '../lib/shapes.js';
import type { Row } from '../lib/table.js';

export type LockMode = 'default' | 'fair';

/** N contenders (each its own Coordinator) on one key until `handoffs` handoffs happened. */
export function contendedHandoff(server: BenchServer, n: number, handoffs: number, mode: LockMode): Promise<Measured & { handoff: Handoffs }> {
  const key = unique(`handoff-${n}`);
  const options: LockOptions = mode === 'fair' ? { fair: true } : {};
  return contended(() => oursMutex(server.url, key, options), n, handoffs, async () => (await server.requests()).total);
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
      for (const { n, handoffs } of plan) {
        // A fresh server per N: the waiters of one size never meet the state of another.
        const server = await BenchServer.start();
        try {
          log(`  ${mode}, N = ${n}: ${handoffs} handoffs`);
          await server.requests(true);
          const m = await contendedHandoff(server, n, handoffs, mode);
          const requests = await server.requests(true);
          rows.push({ scenario: 'handoff', case: `${mode}, N = ${n}`, metric: 'handoff ms', stats: m.stats, opsPerSecond: m.opsPerSecond, requestsPerOp: m.requestsPerOp, note: handoffNote(m.handoff) });
          details[`${mode}:${n}`] = { handoff: m.handoff, requestsPerHandoffByRoute: topRoutes(requests, m.stats.n + 1) };
        } finally {
          await server.close();
        }
      }
    }
    writeResult('handoff', { rows, details, holdMs: [1, 5] });
    return rows;
  },
};
