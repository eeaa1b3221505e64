/**
 * Node-failure benchmark on the dev cluster: a lock holder's node dies (the holder process keeps
 * running but is cut off, through a fault proxy). Measured from the kill, per round:
 *
 * - `invalidated`: the holder's session is gone on the servers (suspicion time, then the leader's
 *   serfHealth write);
 * - `holder lost`: the holder's signal aborts (its own deadline: last renewal + ttl);
 * - `next holder`: the contender on another node holds the lock (invalidation + lock-delay).
 *
 *   npx tsx benchmarks/node-failure.ts                # 5 rounds per setting
 *   npx tsx benchmarks/node-failure.ts --rounds 10
 *
 * Prints a table and writes `benchmarks/results/node-failure.json`. The dev cluster simulates
 * failure detection (no probes on the wire), so `invalidated` is the configured suspicion time plus
 * the event loop's delay; real Consul adds up to a probe interval before suspicion starts, and may
 * stretch the suspicion without confirmations.
 */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Coordinator } from '../src/coordinator.js';
import { percentile } from './lib/stats.js';
import { startDevCluster, startFaultProxy } from '../src/testing/index.js';

const RESULTS = fileURLToPath(new URL('./results/node-failure.json', import.meta.url));
const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(args.rounds);

interface Setting {
  name: string;
  suspicionTimeout: string;
  ttl: string;
  lockDelay: string;
}

const SETTINGS: Setting[] = [
  { name: 'suspicion 500ms, ttl 1s, delay 1s', suspicionTimeout: '500ms', ttl: '1s', lockDelay: '1s' },
  { name: 'suspicion 4s (Consul LAN), ttl 5s, delay 5s', suspicionTimeout: '4s', ttl: '5s', lockDelay: '5s' },
];

const mono = (): number => Number(process.hrtime.bigint()) / 1e6;

async function round(s: Setting, n: number): Promise<{ invalidated: number; lost: number; next: number }> {
  const cluster = await startDevCluster({ nodes: 3, suspicionTimeout: s.suspicionTimeout, sessionTtlMin: '1s' });
  const proxy = await startFaultProxy({ target: cluster.agent('node-2').url });
  const holderCoord = new Coordinator({ address: proxy.url });
  const waiterCoord = new Coordinator({ address: cluster.agent('node-1').url });
  try {
    const key = `bench/node-failure/${n}`;
    const opts = { ttl: s.ttl, lockDelay: s.lockDelay };
    const held = await holderCoord.lock(key, opts).acquire();
    const waiter = waiterCoord.lock(key, { ...opts, retryTime: '50ms' });
    const waiting = new Promise<void>((resolve) => waiter.once('waiting', () => resolve()));
    const next = waiter.acquire({ timeout: '60s' });
    await waiting;
    const state = cluster.agent('node-1').server.state;
    const session = held.session.id;
    let invalidatedAt = 0;
    const poll = setInterval(() => {
      if (invalidatedAt === 0 && !state.listSessions().some((x) => x.id === session)) invalidatedAt = mono();
    }, 5);
    const lost = once(held.signal, 'abort').then(() => mono());
    const t0 = mono();
    proxy.partition();
    await cluster.killNode('node-2');
    const lostAt = await lost;
    const mine = await next;
    const nextAt = mono();
    clearInterval(poll);
    await mine.release();
    return { invalidated: invalidatedAt - t0, lost: lostAt - t0, next: nextAt - t0 };
  } finally {
    proxy.heal();
    await holderCoord.close();
    await waiterCoord.close();
    await proxy.close();
    await cluster.close();
  }
}

const results: Record<string, Record<string, { p50: number; p90: number; max: number }>> = {};
for (const s of SETTINGS) {
  const runs = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await round(s, i));
  const summary: Record<string, { p50: number; p90: number; max: number }> = {};
  for (const k of ['invalidated', 'lost', 'next'] as const) {
    const sorted = runs.map((r) => r[k]).sort((a, b) => a - b);
    summary[k] = { p50: Math.round(percentile(sorted, 50)), p90: Math.round(percentile(sorted, 90)), max: Math.round(sorted[sorted.length - 1]!) };
  }
  results[s.name] = summary;
  console.log(
    `${s.name.padEnd(46)} invalidated p50 ${summary.invalidated!.p50} ms | holder lost p50 ${summary.lost!.p50} ms | next holder p50 ${summary.next!.p50} ms (p90 ${summary.next!.p90}, max ${summary.next!.max})`,
  );
  const unsafe = runs.filter((r) => r.next <= r.lost);
  if (unsafe.length > 0) console.log(`  !! ${unsafe.length} round(s) where the next holder came before the holder learned`);
}

mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
writeFileSync(RESULTS, `${JSON.stringify({ rounds: ROUNDS, date: new Date().toISOString(), results }, null, 2)}\n`);
