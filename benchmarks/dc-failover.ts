/**
 * Datacenter failover benchmark on a two-datacenter dev cluster: every `billing` instance in dc1
 * turns critical; measured from that moment, per round:
 *
 * - `resolve`: a one-shot `coord.resolve('billing', { failover })` (session + prepared query +
 *   execution + cleanup) answers dc2's instances;
 * - `watcher → dc2`: a running `serviceWatcher(…, { failover })` emits `failedOver` to dc2 (its
 *   local blocking read wakes at once, then it executes its prepared query);
 * - `watcher → dc1`: after dc1's instances pass again, the watcher emits `failedBack` (while
 *   failed over it re-asks every `pollInterval`, and a local change wakes it at once).
 *
 *   npx tsx benchmarks/dc-failover.ts                 # 10 rounds per setting
 *   npx tsx benchmarks/dc-failover.ts --rounds 20
 *
 * Prints a table and writes `benchmarks/results/dc-failover.json`. The dev cluster forwards
 * between datacenters in-process (no WAN round trip): real Consul adds the RTT to the failover
 * datacenter to each execution that fails over.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Coordinator } from '../src/coordinator.js';
import { percentile } from './lib/stats.js';
import { startDevCluster } from '../src/testing/index.js';

const RESULTS = fileURLToPath(new URL('./results/dc-failover.json', import.meta.url));
const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const ROUNDS = Number(args.rounds);

interface Setting {
  name: string;
  pollInterval: string;
  instances: number;
}

const SETTINGS: Setting[] = [
  { name: '2 instances in dc1, poll 1s (default)', pollInterval: '1s', instances: 2 },
  { name: '2 instances in dc1, poll 100ms', pollInterval: '100ms', instances: 2 },
];

const mono = (): number => Number(process.hrtime.bigint()) / 1e6;

type Sample = { resolve: number; toDc2: number; toDc1: number };

async function round(s: Setting): Promise<Sample> {
  const cluster = await startDevCluster({ datacenters: { dc1: s.instances, dc2: 1 } });
  const coord = new Coordinator({ address: cluster.agentsIn('dc1')[0]!.url });
  try {
    for (const agent of cluster.agents) {
      await fetch(`${agent.url}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({ ID: `billing-${agent.node}`, Name: 'billing', Port: 9000, Check: { CheckID: `c-${agent.node}`, TTL: '1h', Status: 'passing' } }),
      });
    }
    const setDc1 = (status: 'passing' | 'critical'): void => {
      for (const agent of cluster.agentsIn('dc1')) agent.server.setCheckStatus(`c-${agent.node}`, status);
    };
    const failover = { datacenters: ['dc2'] };
    const watcher = coord.serviceWatcher('billing', { failover, pollInterval: s.pollInterval });
    await watcher.ready();
    const failedOver = new Promise<number>((resolve) => watcher.once('failedOver', () => resolve(mono())));
    const t0 = mono();
    setDc1('critical');
    const found = await coord.resolve('billing', { failover });
    const resolvedAt = mono();
    if (found[0]?.datacenter !== 'dc2') throw new Error(`resolve answered ${found[0]?.datacenter ?? 'nothing'}, expected dc2`);
    const overAt = await failedOver;
    const failedBack = new Promise<number>((resolve) => watcher.once('failedBack', () => resolve(mono())));
    const t1 = mono();
    setDc1('passing');
    const backAt = await failedBack;
    await watcher.close();
    return { resolve: resolvedAt - t0, toDc2: overAt - t0, toDc1: backAt - t1 };
  } finally {
    await coord.close();
    await cluster.close();
  }
}

const results: Record<string, Record<string, { p50: number; p90: number; max: number }>> = {};
const rows: string[][] = [['setting', 'resolve p50/p90', 'watcher → dc2 p50/p90', 'watcher → dc1 p50/p90']];
for (const s of SETTINGS) {
  const runs: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await round(s));
  const summary: Record<string, { p50: number; p90: number; max: number }> = {};
  for (const k of ['resolve', 'toDc2', 'toDc1'] as const) {
    const sorted = runs.map((r) => r[k]).sort((a, b) => a - b);
    summary[k] = { p50: Math.round(percentile(sorted, 50)), p90: Math.round(percentile(sorted, 90)), max: Math.round(sorted[sorted.length - 1]!) };
  }
  results[s.name] = summary;
  const cell = (k: string): string => `${summary[k]!.p50} / ${summary[k]!.p90} ms`;
  rows.push([s.name, cell('resolve'), cell('toDc2'), cell('toDc1')]);
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [n, r] of rows.entries()) {
  console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}

mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
writeFileSync(RESULTS, `${JSON.stringify({ rounds: ROUNDS, date: new Date().toISOString(), results }, null, 2)}\n`);
