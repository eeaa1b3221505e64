/**
 * Failover benchmark for LeaderElection: how long from the moment the leader process is
 * SIGKILLed (crash), SIGTERMed (graceful stop) or SIGSTOPped (frozen: GC pause, VM stall) until
 * another process reports `elected`, as percentiles over N rounds, for a few settings of ttl /
 * healthCheckTtl / lockDelay.
 *
 *   npm run bench:failover                 # dev server in this process
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npm run bench:failover   # a real agent (ttl-only setting skipped)
 *   npm run bench:failover -- --rounds 20 --workers 3
 *
 * Method. Three workers (the process-test fixture `test/process/fixtures/election-worker.ts`, run
 * with tsx) campaign on one key. Each round waits until every follower reports `waiting` (blocked
 * on the key), stamps t0 on CLOCK_MONOTONIC, signals the leader, and takes the `t` of the next
 * `elected` report from another worker (stamped by that worker on the same clock). A killed or
 * terminated worker is replaced before the next round; a stopped one is resumed (it reports
 * `deposed` from its own deadline and rejoins as a follower). For SIGSTOP the table also shows the
 * safety margin: new leader's `elected` minus the old leader's local deadline (must be > 0).
 *
 * Prints a table and writes `benchmarks/results/failover.json`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startDevServer, type DevServer } from '../src/testing/index.js';
import type { ElectionOptions } from '../src/recipes/election/election.js';
import type { WorkerConfig, WorkerReport } from '../test/process/fixtures/election-worker.js';

const WORKER = fileURLToPath(new URL('../test/process/fixtures/election-worker.ts', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/failover.json', import.meta.url));

export interface Setting {
  name: string;
  options: ElectionOptions;
  /** Needs a TTL below Consul's 10 s minimum: dev server only. */
  devOnly?: boolean;
}

const SETTINGS: Setting[] = [
  { name: 'hc 500ms, delay 0', options: { ttl: '10s', healthCheckTtl: '500ms', lockDelay: 0 } },
  { name: 'hc 1s, delay 1s', options: { ttl: '10s', healthCheckTtl: '1s', lockDelay: '1s' } },
  { name: 'hc 3s, delay 1s (example)', options: { ttl: '15s', healthCheckTtl: '3s', lockDelay: '1s' } },
  { name: 'ttl 2s only, delay 500ms', options: { ttl: '2s', lockDelay: '500ms' }, devOnly: true },
];

export type Mode = 'SIGKILL' | 'SIGTERM' | 'SIGSTOP';
const MODES: Mode[] = ['SIGKILL', 'SIGTERM', 'SIGSTOP'];

const mono = (): number => Number(process.hrtime.bigint()) / 1e6;

// -------------------------------------------------------------------------------------------------
// Workers

interface Child {
  id: string;
  proc: ChildProcess;
  alive: boolean;
}

class Cluster {
  private readonly children = new Map<string, Child>();
  private readonly waiters = new Set<(r: WorkerReport) => void>();
  private counter = 0;
  /** Every report, for the SIGSTOP margin and for diagnostics. */
  readonly reports: WorkerReport[] = [];

  constructor(
    private readonly address: string,
    private readonly key: string,
    private readonly options: ElectionOptions,
  ) {}

  spawn(): Child {
    this.counter += 1;
    const id = `w${this.counter}`;
    const config: WorkerConfig = { address: this.address, key: this.key, id, actEveryMs: 1000, options: this.options };
    const proc = fork(WORKER, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const child: Child = { id, proc, alive: true };
    proc.on('message', (m) => {
      const r = m as WorkerReport;
      this.reports.push(r);
      for (const w of [...this.waiters]) w(r);
    });
    proc.once('exit', () => {
      child.alive = false;
    });
    this.children.set(id, child);
    return child;
  }

  get(id: string): Child {
    const c = this.children.get(id);
    if (!c) throw new Error(`unknown worker ${id}`);
    return c;
  }

  /** The first report from now on matching `match`. */
  next(match: (r: WorkerReport) => boolean, what: string, timeoutMs = 60_000): Promise<WorkerReport> {
    return new Promise((resolve, reject) => {
      const waiter = (r: WorkerReport): void => {
        if (!match(r)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`benchmark: no "${what}" within ${timeoutMs} ms; last reports:\n${this.reports.slice(-20).map((r) => JSON.stringify(r)).join("\n")}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Resolves once each of `ids` follows a leader: it reported `waiting` after its latest
   * `campaigning` (`waiting` is reported once per campaign, and a follower keeps its campaign
   * across leader changes).
   */
  async followersReady(ids: string[]): Promise<void> {
    const ready = (id: string): boolean => {
      const own = this.reports.filter((r) => r.id === id && (r.type === 'campaigning' || r.type === 'waiting'));
      return own.at(-1)?.type === 'waiting';
    };
    const pending = new Set(ids.filter((id) => !ready(id)));
    if (pending.size === 0) return;
    await this.next((r) => {
      if (r.type === 'waiting') pending.delete(r.id);
      return pending.size === 0;
    }, `followers waiting (${[...pending].join(', ')})`);
  }

  async close(): Promise<void> {
    const exits: Promise<unknown>[] = [];
    for (const c of this.children.values()) {
      if (!c.alive) continue;
      exits.push(new Promise((r) => c.proc.once('exit', r)));
      c.proc.kill('SIGCONT');
      c.proc.kill('SIGKILL');
    }
    await Promise.all(exits);
  }
}

// -------------------------------------------------------------------------------------------------
// One setting × one mode

export interface Sample {
  failoverMs: number;
  /** SIGSTOP only: new leader's elected − old leader's local deadline. */
  marginMs?: number;
}

/** `rounds` failovers of `workers` election workers on one key; used by the suite's election scenario too. */
export async function measure(address: string, setting: Setting, mode: Mode, keyIndex: number, rounds: number, workers: number): Promise<Sample[]> {
  const cluster = new Cluster(address, `benchmarks/failover/${Date.now().toString(36)}-${keyIndex}`, setting.options);
  const samples: Sample[] = [];
  try {
    const firstElected = cluster.next((r) => r.type === 'elected', 'first leader');
    const ids = Array.from({ length: workers }, () => cluster.spawn().id);
    let leader = (await firstElected) as Extract<WorkerReport, { type: 'elected' }>;
    let members = ids;
    await cluster.followersReady(members.filter((id) => id !== leader.id));

    for (let round = 0; round < rounds; round++) {
      const nextLeader = cluster.next((r) => r.type === 'elected' && r.id !== leader.id, `round ${round + 1}: next leader`);
      const t0 = mono();
      cluster.get(leader.id).proc.kill(mode);
      const elected = (await nextLeader) as Extract<WorkerReport, { type: 'elected' }>;
      const sample: Sample = { failoverMs: elected.t - t0 };

      if (mode === 'SIGSTOP') {
        const old = leader.id;
        const deposed = cluster.next((r) => r.type === 'deposed' && r.id === old, 'stopped leader deposed');
        cluster.get(old).proc.kill('SIGCONT');
        const d = (await deposed) as Extract<WorkerReport, { type: 'deposed' }>;
        sample.marginMs = elected.t - d.deadline;
      } else {
        // The old process is gone (killed, or exited after resigning): replace it.
        members = members.filter((id) => id !== leader.id);
        members.push(cluster.spawn().id);
      }
      samples.push(sample);
      leader = elected;
      await cluster.followersReady(members.filter((id) => id !== leader.id));
      process.stdout.write('.');
    }
  } finally {
    await cluster.close();
  }
  return samples;
}

// -------------------------------------------------------------------------------------------------
// Statistics and output

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

interface Row {
  setting: string;
  options: ElectionOptions;
  mode: Mode;
  rounds: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
  minMarginMs?: number;
}

function summarize(setting: Setting, mode: Mode, samples: Sample[]): Row {
  const values = samples.map((s) => s.failoverMs).sort((a, b) => a - b);
  const round1 = (n: number): number => Math.round(n * 10) / 10;
  const margins = samples.flatMap((s) => (s.marginMs === undefined ? [] : [s.marginMs]));
  return {
    setting: setting.name,
    options: setting.options,
    mode,
    rounds: values.length,
    p50: round1(percentile(values, 50)),
    p90: round1(percentile(values, 90)),
    p99: round1(percentile(values, 99)),
    min: round1(values[0] ?? NaN),
    max: round1(values.at(-1) ?? NaN),
    mean: round1(values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)),
    ...(margins.length > 0 ? { minMarginMs: round1(Math.min(...margins)) } : {}),
  };
}

function printTable(rows: Row[]): void {
  const header = ['setting', 'mode', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'stop margin ms'];
  const body = rows.map((r) => [r.setting, r.mode, String(r.rounds), String(r.p50), String(r.p90), String(r.p99), String(r.max), r.minMarginMs === undefined ? '' : String(r.minMarginMs)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const row of body) console.log(line(row));
}

// -------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      rounds: { type: 'string', default: '10' },
      workers: { type: 'string', default: '3' },
    },
  });
  const ROUNDS = Number(args.rounds);
  const WORKERS = Number(args.workers);
  const real = process.env.CONSUL_HTTP_ADDR;
  let dev: DevServer | undefined;
  let address: string;
  if (real) {
    address = /^https?:\/\//.test(real) ? real : `http://${real}`;
  } else {
    dev = await startDevServer({ port: 0, host: '127.0.0.1', sessionTtlMin: '100ms' });
    address = dev.url;
  }
  const settings = SETTINGS.filter((s) => !(real && s.devOnly));
  console.log(`failover benchmark: ${real ? `Consul at ${address}` : 'in-process dev server'}, ${WORKERS} workers, ${ROUNDS} rounds per row`);
  const rows: Row[] = [];
  let keyIndex = 0;
  try {
    for (const setting of settings) {
      for (const mode of MODES) {
        process.stdout.write(`${setting.name} / ${mode} `);
        const samples = await measure(address, setting, mode, keyIndex++, ROUNDS, WORKERS);
        const row = summarize(setting, mode, samples);
        rows.push(row);
        process.stdout.write(` p50 ${row.p50} ms\n`);
      }
    }
  } finally {
    await dev?.close();
  }
  console.log('');
  printTable(rows);
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(
    RESULTS,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        target: real ? 'consul' : 'dev-server',
        node: process.version,
        cpus: cpus().length,
        workers: WORKERS,
        rounds: ROUNDS,
        method: 'time from signalling the leader (CLOCK_MONOTONIC) to the next elected report of another worker (same clock)',
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${RESULTS}`);
}

// Run as a script (npm run bench:failover); imported by the suite, it only lends `measure`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
