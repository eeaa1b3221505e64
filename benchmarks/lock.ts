/**
 * Lock benchmark: our `Lock` against a step-by-step double of Consul's Go `api.Lock`
 * (`test/recipes/go-recipes.ts`, raw HTTP, no shared code), on the same server in one run.
 *
 *   npm run bench:lock                                   # embedded dev server
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npm run bench:lock   # a real agent (lock-delay scenario skipped)
 *   npm run bench:lock -- --rounds 40 --contenders 4
 *
 * Scenarios
 * - handoff: `contenders` clients loop acquire → release on one key. Handoff latency is the time
 *   from the start of one holder's release to the next holder's acquire resolving: what a queue
 *   of workers pays per turn. Also acquisitions per second.
 * - lock-delay: a holder's session is invalidated (as a crash + TTL expiry would), the key is
 *   refused for `lockDelay`; one waiter is blocked on it. Overshoot is the time the waiter took
 *   beyond the lock-delay: Go sleeps its fixed LockRetryTime (5 s) after a refused acquire, ours
 *   backs off from 100 ms up to the same cap. Needs the dev server's invalidate hook.
 *
 * Numbers are percentiles and ratios from one run on one machine; they compare algorithms, not
 * machines. Prints a table and writes `benchmarks/results/lock.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Coordinator } from '../src/index.js';
import { startDevServer, type DevServer } from '../src/testing/index.js';
import { GoLock } from '../test/recipes/go-recipes.js';
import { oursMutex, type Mutex } from './lib/shapes.js';

const RESULTS = fileURLToPath(new URL('./results/lock.json', import.meta.url));

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '40' },
    contenders: { type: 'string', default: '4' },
    'delay-rounds': { type: 'string', default: '4' },
  },
});
const ROUNDS = Number(args.rounds);
const CONTENDERS = Number(args.contenders);
const DELAY_ROUNDS = Number(args['delay-rounds']);
const LOCK_DELAY_MS = 1000;

/** One contender: consul-recipes' Lock (lib/shapes.ts) or the Go double. */
type Contender = Mutex;

type Impl = 'consul-recipes' | 'go api.Lock (double)';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function summarize(samples: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

function go(address: string, key: string): Contender {
  // Same algorithm and defaults as Go (LockRetryTime 5 s, LockWaitTime 15 s); 10 s session TTL.
  const lock = new GoLock({ url: address }, key, { sessionTtl: '10s' });
  return {
    acquire: async () => {
      if (!(await lock.lock())) throw new Error('Go lock stopped');
    },
    release: () => lock.unlock(),
    close: async () => {
      if (lock.session) await lock.unlock();
    },
  };
}

/** Contenders loop acquire → release until `rounds` acquisitions happened in total. */
async function handoff(address: string, impl: Impl): Promise<{ handoffMs: number[]; perSecond: number }> {
  const key = `bench/handoff/${impl === 'consul-recipes' ? 'ours' : 'go'}/${Date.now()}`;
  const contenders = Array.from({ length: CONTENDERS }, () => (impl === 'consul-recipes' ? oursMutex(address, key, { lockDelay: 0 }) : go(address, key)));
  const handoffMs: number[] = [];
  let acquisitions = 0;
  let releaseStartedAt: number | undefined;
  let inside = 0;
  const started = performance.now();
  await Promise.all(
    contenders.map(async (c) => {
      while (acquisitions < ROUNDS) {
        await c.acquire();
        const now = performance.now();
        inside += 1;
        if (inside !== 1) throw new Error('mutual exclusion violated');
        if (releaseStartedAt !== undefined) handoffMs.push(now - releaseStartedAt);
        acquisitions += 1;
        inside -= 1;
        releaseStartedAt = performance.now();
        await c.release();
      }
    }),
  );
  const elapsed = performance.now() - started;
  await Promise.all(contenders.map((c) => c.close()));
  return { handoffMs, perSecond: (acquisitions / elapsed) * 1000 };
}

/** A holder's session is invalidated; one waiter is blocked; overshoot beyond the lock-delay. */
async function lockDelayOvershoot(dev: DevServer, impl: Impl): Promise<number[]> {
  const overshoot: number[] = [];
  for (let round = 0; round < DELAY_ROUNDS; round++) {
    const key = `bench/delay/${impl === 'consul-recipes' ? 'ours' : 'go'}/${round}`;
    const holderCoord = new Coordinator({ address: dev.url });
    const holder = await holderCoord.lock(key, { ttl: '10s', lockDelay: LOCK_DELAY_MS }).acquire();
    const waiter = impl === 'consul-recipes' ? oursMutex(dev.url, key, { lockDelay: 0 }) : go(dev.url, key);
    const waiting = waiter.acquire();
    // Let the waiter block on the held key before the "crash".
    await new Promise((r) => setTimeout(r, 100));
    const crashedAt = performance.now();
    dev.invalidateSession(holder.session.id);
    await waiting;
    overshoot.push(performance.now() - crashedAt - LOCK_DELAY_MS);
    await waiter.release();
    await waiter.close();
    await holderCoord.close();
  }
  return overshoot;
}

const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '—');

async function main(): Promise<void> {
  const external = process.env.CONSUL_HTTP_ADDR;
  const dev = external ? undefined : await startDevServer({ port: 0 });
  const address = external ? (external.includes('://') ? external : `http://${external}`) : dev!.url;
  process.stdout.write(`lock benchmark against ${external ? `agent ${address}` : 'the embedded dev server'}: ${CONTENDERS} contenders, ${ROUNDS} acquisitions per implementation\n`);
  try {
    const impls: Impl[] = ['consul-recipes', 'go api.Lock (double)'];
    const results: Record<string, unknown> = {};
    const rows: string[][] = [];
    for (const impl of impls) {
      process.stdout.write(`  handoff: ${impl} …\n`);
      const h = await handoff(address, impl);
      const s = summarize(h.handoffMs);
      results[`handoff:${impl}`] = { ...s, acquisitionsPerSecond: h.perSecond };
      rows.push([impl, 'handoff ms', fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max), h.perSecond.toFixed(1)]);
    }
    if (dev) {
      for (const impl of impls) {
        process.stdout.write(`  lock-delay overshoot: ${impl} (${DELAY_ROUNDS} rounds of ${LOCK_DELAY_MS} ms) …\n`);
        const o = summarize(await lockDelayOvershoot(dev, impl));
        results[`lockDelayOvershoot:${impl}`] = o;
        rows.push([impl, `overshoot ms (lockDelay ${LOCK_DELAY_MS})`, fmt(o.p50), fmt(o.p90), fmt(o.p99), fmt(o.max), '']);
      }
    }
    const header = ['implementation', 'metric', 'p50', 'p90', 'p99', 'max', 'acq/s'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    process.stdout.write(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);

    const ratio = (metric: string): number | undefined => {
      const a = results[`${metric}:consul-recipes`] as { p50: number } | undefined;
      const b = results[`${metric}:go api.Lock (double)`] as { p50: number } | undefined;
      return a && b ? b.p50 / a.p50 : undefined;
    };
    const ratios = { handoffP50GoOverOurs: ratio('handoff'), lockDelayOvershootP50GoOverOurs: ratio('lockDelayOvershoot') };
    process.stdout.write(`\nratios (Go double ÷ ours, p50): ${JSON.stringify(ratios)}\n`);
    mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
    writeFileSync(
      RESULTS,
      `${JSON.stringify({ date: new Date().toISOString(), target: external ? 'agent' : 'dev-server', node: process.version, cpus: cpus().length, contenders: CONTENDERS, rounds: ROUNDS, results, ratios }, null, 2)}\n`,
    );
    process.stdout.write(`wrote ${RESULTS}\n`);
  } finally {
    await dev?.close();
  }
}

await main();
