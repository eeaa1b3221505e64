/**
 * Leader election.
 * - campaign on a free key, and resign with nobody waiting: requests per operation.
 * - graceful handoff: two clients (each its own Coordinator) on one key; the leader resigns while
 *   the other is blocked campaigning. Sample: resign() called → the other's campaign() resolved.
 * - crash failover (benchmarks/failover.ts, reused): three worker processes, the leader is
 *   SIGKILLed; sample: kill → another worker's `elected` report, on CLOCK_MONOTONIC. Expected
 *   ≈ healthCheckTtl + lockDelay (+ the check's reap); p99 bounded by that + 300 ms is the goal.
 */
import { performance } from 'node:perf_hooks';
import { Coordinator, type LeaderElection } from '../../src/index.js';
import { measure, type Setting } from '../failover.js';
import { topRoutes, unique } from '../lib/measure.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer, counted } from '../lib/server.js';
import { summarize } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

const CRASH_SETTINGS: Setting[] = [
  { name: 'hc 1s, delay 0', options: { ttl: '10s', healthCheckTtl: '1s', lockDelay: 0 } },
  { name: 'hc 1s, delay 1s', options: { ttl: '10s', healthCheckTtl: '1s', lockDelay: '1s' } },
];

export const election: Scenario = {
  name: 'election',
  description: 'campaign / resign cost, graceful handoff, crash failover (SIGKILL, healthCheckTtl 1s)',
  async run(profile: Profile): Promise<Row[]> {
    const handoffs = size(profile, 200, 6);
    const singles = size(profile, 100, 5);
    const crashRounds = size(profile, 10, 1);
    const rows: Row[] = [];
    const details: Record<string, unknown> = {};
    const server = await BenchServer.start({ sessionTtlMin: '100ms' });
    try {
      // Campaign on a free key and resign with nobody waiting.
      {
        const coord = new Coordinator({ address: server.url });
        try {
          const campaignMs: number[] = [];
          const resignMs: number[] = [];
          let campaignRequests = 0;
          let resignRequests = 0;
          log(`  campaign + resign on a free key: ${singles} rounds`);
          for (let i = 0; i < singles; i++) {
            const e = coord.election(unique('election-free'), { ttl: '10s', value: { id: 'bench' } });
            let t0 = performance.now();
            const c = await counted(server, () => e.campaign());
            campaignMs.push(performance.now() - t0);
            campaignRequests += c.requests.total;
            t0 = performance.now();
            const r = await counted(server, () => e.resign());
            resignMs.push(performance.now() - t0);
            resignRequests += r.requests.total;
            if (i === 0) details.requestsByRoute = { campaign: topRoutes(c.requests, 1), resign: topRoutes(r.requests, 1) };
          }
          rows.push({ scenario: 'election', case: 'campaign, free key', metric: 'campaign ms', stats: summarize(campaignMs), requestsPerOp: campaignRequests / singles });
          rows.push({ scenario: 'election', case: 'resign, nobody waiting', metric: 'resign ms', stats: summarize(resignMs), requestsPerOp: resignRequests / singles });
        } finally {
          await coord.close();
        }
      }
      // Graceful handoff between two clients.
      {
        const key = unique('election-handoff');
        const coords = [new Coordinator({ address: server.url }), new Coordinator({ address: server.url })];
        try {
          const elections = coords.map((c, i) => c.election(key, { ttl: '10s', value: { id: `client-${i}` } })) as [LeaderElection, LeaderElection];
          let [leader, follower] = elections;
          await leader.campaign();
          const samples: number[] = [];
          let requests = 0;
          log(`  graceful handoff: ${handoffs} rounds`);
          const started = performance.now();
          for (let i = 0; i < handoffs; i++) {
            const waiting = new Promise<void>((resolve) => follower.once('waiting', () => resolve()));
            const followerElected = follower.campaign();
            await waiting;
            const { requests: r } = await counted(server, async () => {
              const t0 = performance.now();
              await leader.resign();
              await followerElected;
              samples.push(performance.now() - t0);
            });
            requests += r.total;
            if (i === 0) details.handoffRequestsByRoute = topRoutes(r, 1);
            [leader, follower] = [follower, leader];
          }
          rows.push({
            scenario: 'election',
            case: 'graceful handoff (resign)',
            metric: 'resign→elected ms',
            stats: summarize(samples),
            opsPerSecond: (handoffs / (performance.now() - started)) * 1000,
            requestsPerOp: requests / handoffs,
          });
        } finally {
          await Promise.all(coords.map((c) => c.close()));
        }
      }
      // Crash failover, three worker processes (benchmarks/failover.ts).
      let keyIndex = 0;
      for (const setting of size(profile, CRASH_SETTINGS, CRASH_SETTINGS.slice(0, 1))) {
        log(`  crash failover (SIGKILL), ${setting.name}: ${crashRounds} rounds`);
        const samples = await measure(server.url, setting, 'SIGKILL', keyIndex++, crashRounds, 3);
        process.stdout.write('\n');
        const hc = setting.name.includes('delay 1s') ? 2000 : 1000;
        rows.push({
          scenario: 'election',
          case: `crash failover, ${setting.name}`,
          metric: 'kill→elected ms',
          stats: summarize(samples.map((s) => s.failoverMs)),
          note: `goal p99 ≤ ${hc + 300} ms`,
        });
      }
      writeResult('election', { rows, details, crashSettings: CRASH_SETTINGS });
      return rows;
    } finally {
      await server.close();
    }
  },
};
