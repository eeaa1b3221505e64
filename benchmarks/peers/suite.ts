/**
 * consul-recipes side by side with etcd3 and redis-semaphore, same shapes, same loops, same run.
 * Loaded by run.ts once this folder's dependencies are installed.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { measure as failover } from '../failover.js';
import { unique, within } from '../lib/measure.js';
import { spawnChild } from '../lib/harness.js';
import { writeResult, type Machine } from '../lib/results.js';
import { log, size, type Profile } from '../lib/scenario.js';
import { BenchServer } from '../lib/server.js';
import { summarize, type Summary } from '../lib/stats.js';
import { formatTable, type Row } from '../lib/table.js';
import { floor } from '../scenarios/floor.js';
import { contended, contendedAcross, contendedBursts, electionHandoff, handoffNote, lockCycle, oursCandidate, oursMutex, oursSemaphore, type Handoffs, type Measured, type RequestCounter } from '../lib/shapes.js';
import { etcdCandidate, etcdClient, etcdLock, redisMutex, redisSemaphore } from './adapters.js';
import { findBinary, startEtcd, startRedis, type PeerServer } from './servers.js';
import type { MutexSpec } from '../lib/mutexes.js';

const row = (scenario: string, system: string, metric: string, m: Measured | (Measured & { handoff: Handoffs }) | Summary, note?: string): Row => {
  if (!('stats' in m)) return { scenario, case: system, metric, stats: m, ...(note ? { note } : {}) };
  const text = note ?? ('handoff' in m ? handoffNote(m.handoff) : undefined);
  return { scenario, case: system, metric, stats: m.stats, opsPerSecond: m.opsPerSecond, requestsPerOp: m.requestsPerOp, ...(text ? { note: text } : {}) };
};

/**
 * The 10-contender handoff as workers run it: each holds 1–5 ms, then works 1–5 ms outside the
 * lock before asking again, so every handoff goes to a contender that was waiting. (In the hot
 * loop of `handoff N = …` the releaser asks again at once, and a lock that lets it barge — Redis
 * with a 10 ms retry poll — mostly hands the lock back to itself.)
 */
const WORKERS = 'handoff N = 10, workers';
/**
 * The 10-contender handoff as the issue measured it first (redis-semaphore 6.6 ms at p50, p99
 * 11 ms): all ten ask at one moment, each once (workers woken together for one job), so every
 * waiter polls from the same start and nobody can ask again.
 */
const BURSTS = 'handoff N = 10, bursts';
/** Our contenders' lock options in the handoff runs: a session per hold, lock-delay 0 (as oursMutex). */
const LOCK_OPTIONS = { ttl: '10s', lockDelay: 0 } as const;

/** How our Lock is run in the contended shapes: fair or not, one session per worker or a session per hold. */
type OurMode = readonly [fair: boolean, workerSession: boolean];
const OUR_MODES: readonly OurMode[] = [
  [false, false],
  [true, false],
  [true, true],
];
const modeName = ([fair, workerSession]: OurMode): string => `${fair ? 'fair' : 'default'}, ${workerSession ? 'one session per worker' : 'a session per hold'}`;

/** Our Lock on `key` in `mode` (a worker session: ttl 10 s and lock-delay 0, as LOCK_OPTIONS). */
function oursSpec(address: string, key: string, [fair, workerSession]: OurMode): MutexSpec {
  return workerSession
    ? { system: 'consul-recipes', address, key, options: { fair }, workerSession }
    : { system: 'consul-recipes', address, key, options: { ...LOCK_OPTIONS, fair } };
}
const THINK_MS = [1, 5] as const;

// ---- etcd3 -------------------------------------------------------------------------------------

const ETCD_CANDIDATE = fileURLToPath(new URL('./etcd-candidate.ts', import.meta.url));

/** A leader process campaigns (lease TTL 2 s, etcd's minimum), a follower here waits; SIGKILL → follower elected. */
async function etcdCrashFailover(address: string, rounds: number): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const name = unique('peers-crash');
    const leader = await spawnChild(ETCD_CANDIDATE, [address, name, '2']);
    const follower = etcdCandidate(address, name, 2);
    try {
      await leader.call('lead');
      const { blocked, elected } = follower.campaign();
      await blocked;
      const t0 = performance.now();
      leader.proc.kill('SIGKILL');
      await within(elected, 60_000, 'the etcd follower elected after the leader was killed');
      samples.push(performance.now() - t0);
    } finally {
      await follower.close();
      await leader.close();
    }
  }
  return summarize(samples);
}

// ---- floors of the peers -----------------------------------------------------------------------

async function roundTrips(rounds: number, op: () => Promise<unknown>): Promise<Summary> {
  for (let i = 0; i < Math.min(200, rounds); i++) await op();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await op();
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}

// ---- the run -----------------------------------------------------------------------------------

export async function runPeers(profile: Profile, started?: Machine): Promise<Row[]> {
  const rows: Row[] = [];
  const versions: Record<string, string> = {};
  const cycles = size(profile, 400, 15);
  const handoffPlan = size(
    profile,
    [
      { n: 2, seconds: 1.5 },
      { n: 10, seconds: 1.5 },
      { n: 50, seconds: 2 },
      { n: 200, seconds: 3 },
    ],
    [{ n: 10, seconds: 0.3 }],
  );
  const workerSeconds = size(profile, 2, 0.3);
  const burstRounds = size(profile, 40, 2);
  const semContenders = size(profile, 100, 10);
  const semAcquisitions = size(profile, 150, 20);
  const electionRounds = size(profile, 200, 5);
  const crashRounds = size(profile, 10, 1);
  const floorRounds = size(profile, 4000, 200);

  /** A peer's contended shapes: the hot loop at every N, workers, bursts (each on a fresh key). */
  const peerContended = async (system: string, spec: (key: string) => MutexSpec, counter: RequestCounter): Promise<void> => {
    for (const { n, seconds } of handoffPlan) {
      log(`  handoff N = ${n}`);
      rows.push(row(`handoff N = ${n}`, system, 'handoff ms', await contendedAcross(spec(unique(`peers-handoff-${n}`)), n, seconds, counter)));
    }
    log(`  workers: N = 10, ${THINK_MS.join('–')} ms between holds`);
    rows.push(row(WORKERS, system, 'handoff ms', await contendedAcross(spec(unique('peers-workers')), 10, workerSeconds, counter, THINK_MS)));
    log(`  bursts: N = 10 asking together, ${burstRounds} rounds`);
    rows.push(row(BURSTS, system, 'handoff ms', await contendedBursts(spec(unique('peers-bursts')), 10, burstRounds, counter)));
  };

  // consul-recipes, in this same run.
  log('consul-recipes');
  rows.push(...(await floor.run(profile)));
  {
    const server = await BenchServer.start({ sessionTtlMin: '100ms' });
    const counter: RequestCounter = async () => (await server.requests()).total;
    try {
      log('  lock cycle');
      const m = oursMutex(server.url, unique('peers-cycle'));
      rows.push(row('lock cycle', 'consul-recipes Lock (own session)', 'cycle ms', await lockCycle(m, cycles, counter)));
      await m.close();
      for (const { n, seconds } of handoffPlan) {
        log(`  handoff N = ${n}`);
        rows.push(row(`handoff N = ${n}`, 'consul-recipes Lock', 'handoff ms', await contendedAcross(oursSpec(server.url, unique(`peers-handoff-${n}`), [false, false]), n, seconds, counter)));
        const fairWorkers: OurMode = [true, true];
        rows.push(row(`handoff N = ${n}`, `consul-recipes Lock (${modeName(fairWorkers)})`, 'handoff ms', await contendedAcross(oursSpec(server.url, unique(`peers-handoff-fair-${n}`), fairWorkers), n, seconds, counter)));
      }
      for (const mode of OUR_MODES) {
        log(`  workers: N = 10, ${THINK_MS.join('–')} ms between holds, ${modeName(mode)}`);
        rows.push(row(WORKERS, `consul-recipes Lock (${modeName(mode)})`, 'handoff ms', await contendedAcross(oursSpec(server.url, unique('peers-workers'), mode), 10, workerSeconds, counter, THINK_MS)));
      }
      for (const mode of OUR_MODES) {
        log(`  bursts: N = 10 asking together, ${burstRounds} rounds, ${modeName(mode)}`);
        rows.push(row(BURSTS, `consul-recipes Lock (${modeName(mode)})`, 'handoff ms', await contendedBursts(oursSpec(server.url, unique('peers-bursts'), mode), 10, burstRounds, counter)));
      }
      log(`  semaphore ${semContenders} contenders, limit 5`);
      const prefix = unique('peers-semaphore');
      rows.push(row('semaphore 5', `consul-recipes Semaphore, ${semContenders} contenders`, 'release→acquire ms', await contended(() => oursSemaphore(server.url, prefix, 5), semContenders, semAcquisitions, counter, 5)));
      const fairPrefix = unique('peers-semaphore-fair');
      rows.push(row('semaphore 5', `consul-recipes Semaphore (fair), ${semContenders} contenders`, 'release→acquire ms', await contended(() => oursSemaphore(server.url, fairPrefix, 5, true), semContenders, semAcquisitions, counter, 5)));
      log('  election graceful handoff');
      const key = unique('peers-election');
      const [a, b] = [oursCandidate(server.url, key), oursCandidate(server.url, key)];
      rows.push(row('election handoff', 'consul-recipes LeaderElection', 'resign→elected ms', await electionHandoff(a, b, electionRounds, counter)));
      await Promise.all([a.close(), b.close()]);
      log(`  crash failover (SIGKILL of a worker process, healthCheckTtl 1s, lockDelay 0): ${crashRounds} rounds`);
      const samples = await failover(server.url, { name: 'hc 1s, delay 0', options: { ttl: '10s', healthCheckTtl: '1s', lockDelay: 0 } }, 'SIGKILL', 0, crashRounds, 3);
      process.stdout.write('\n');
      rows.push(row('crash failover', 'consul-recipes (hc 1s, lockDelay 0)', 'crash→elected ms', summarize(samples.map((s) => s.failoverMs)), 'worker process SIGKILLed'));
    } finally {
      await server.close();
    }
  }

  // etcd3 against etcd.
  const etcdBinary = findBinary('etcd', 'etcd-server');
  if (etcdBinary) {
    log('etcd3');
    const etcd: PeerServer = await startEtcd(etcdBinary);
    versions.etcd = etcd.version;
    const counter: RequestCounter = () => etcd.requests();
    try {
      const client = etcdClient(etcd.address);
      rows.push(row('floor', 'etcd put round trip', 'round trip ms', await roundTrips(floorRounds, () => client.put('bench/floor').value('x'))));
      client.close();
      log('  lock cycle');
      const m = etcdLock(etcd.address, unique('peers-cycle'));
      rows.push(row('lock cycle', 'etcd3 Lock', 'cycle ms', await lockCycle(m, cycles, counter)));
      await m.close();
      await peerContended('etcd3 Election as a queue', (key) => ({ system: 'etcd3', address: etcd.address, key }), counter);

      log('  election graceful handoff');
      const key = unique('peers-election');
      const [a, b] = [etcdCandidate(etcd.address, key, 10), etcdCandidate(etcd.address, key, 10)];
      rows.push(row('election handoff', 'etcd3 Election', 'resign→elected ms', await electionHandoff(a, b, electionRounds, counter)));
      await Promise.all([a.close(), b.close()]);
      log(`  crash failover (SIGKILL of the leader process, lease TTL 2 s): ${crashRounds} rounds`);
      rows.push(row('crash failover', 'etcd3 Election (lease ttl 2s)', 'crash→elected ms', await etcdCrashFailover(etcd.address, crashRounds), 'leader process SIGKILLed'));
    } finally {
      await etcd.stop();
    }
  }

  // redis-semaphore against Redis.
  const redisBinary = findBinary('redis-server', 'redis-server');
  if (redisBinary) {
    log('redis-semaphore');
    const redis = await startRedis(redisBinary, (port) => {
      const r = new Redis(port, '127.0.0.1', { lazyConnect: true });
      r.on('error', () => undefined); // refused until the server is up
      return { command: async (args) => String(await r.call(args[0] as string, ...args.slice(1))), close: async () => void (await r.quit()) };
    });
    versions.redis = redis.version;
    const counter: RequestCounter = () => redis.requests();
    try {
      const client = new Redis(redis.address);
      rows.push(row('floor', 'redis SET round trip', 'round trip ms', await roundTrips(floorRounds, () => client.set('bench/floor', 'x'))));
      await client.quit();
      log('  lock cycle');
      const m = redisMutex(redis.address, unique('peers-cycle'));
      rows.push(row('lock cycle', 'redis-semaphore Mutex', 'cycle ms', await lockCycle(m, cycles, counter)));
      await m.close();
      await peerContended('redis-semaphore Mutex (10 ms retry)', (key) => ({ system: 'redis-semaphore', address: redis.address, key }), counter);
      log(`  semaphore ${semContenders} contenders, limit 5`);
      const key = unique('peers-semaphore');
      rows.push(row('semaphore 5', `redis-semaphore Semaphore, ${semContenders} contenders`, 'release→acquire ms', await contended(() => redisSemaphore(redis.address, key, 5), semContenders, semAcquisitions, counter, 5)));
    } finally {
      await redis.stop();
    }
  }

  const order = ['floor', 'lock cycle', ...handoffPlan.map((p) => `handoff N = ${p.n}`), WORKERS, BURSTS, 'semaphore 5', 'election handoff', 'crash failover'];
  const sorted = [...rows].sort((x, y) => order.indexOf(x.scenario) - order.indexOf(y.scenario));
  writeResult('peers', { rows: sorted, versions, profile }, started);
  process.stdout.write(`\n${formatTable(sorted)}\n`);
  return sorted;
}
