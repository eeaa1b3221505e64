/**
 * Harness for the election process tests: a dev server in the test process, worker children
 * forked with tsx (loopback only), their IPC reports collected in arrival order, and helpers that
 * await reports instead of time. `afterEach` kills every child (SIGCONT first for a stopped one)
 * and closes the server.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'eventemitter3';
import { afterEach, beforeEach } from 'vitest';
import { startDevServer, type DevServer } from '../../src/testing/index.js';
import type { WorkerConfig, WorkerReport } from './fixtures/election-worker.js';

export type { WorkerReport } from './fixtures/election-worker.js';

const WORKER = fileURLToPath(new URL('./fixtures/election-worker.ts', import.meta.url));

export interface Worker {
  readonly id: string;
  readonly child: ChildProcess;
  /** This worker's reports, in the order it sent them. */
  readonly reports: WorkerReport[];
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

export interface ProcessFixture {
  readonly dev: DevServer;
  readonly key: string;
  /** Every report of every worker, in arrival order. */
  readonly reports: WorkerReport[];
  spawn(id: string, options: WorkerConfig['options'], actEveryMs?: number): Worker;
  /** Resolves with the first report (already received or future) matching `match`. */
  waitFor<R extends WorkerReport>(match: (r: WorkerReport) => r is R, what: string, timeout?: number): Promise<R>;
  waitFor(match: (r: WorkerReport) => boolean, what: string, timeout?: number): Promise<WorkerReport>;
  /** Resolves with the next report arriving from now on that matches. */
  next(match: (r: WorkerReport) => boolean, what: string, timeout?: number): Promise<WorkerReport>;
  worker(id: string): Worker;
}

/** Monotonic ms on the clock the workers stamp their reports with. */
export const mono = (): number => Number(process.hrtime.bigint()) / 1e6;

export function useProcessFixture(): ProcessFixture {
  let dev: DevServer | undefined;
  let workers = new Map<string, Worker>();
  let reports: WorkerReport[] = [];
  const arrivals = new EventEmitter<{ report: [WorkerReport] }>();
  let counter = 0;
  let key = '';

  const await_ = (match: (r: WorkerReport) => boolean, what: string, timeout: number, fromIndex: number): Promise<WorkerReport> => {
    const found = reports.slice(fromIndex).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onReport = (r: WorkerReport): void => {
        if (!match(r)) return;
        clearTimeout(timer);
        arrivals.off('report', onReport);
        resolve(r);
      };
      const timer = setTimeout(() => {
        arrivals.off('report', onReport);
        reject(new Error(`no report "${what}" within ${timeout} ms; reports so far:\n${reports.map((r) => JSON.stringify(r)).join('\n')}`));
      }, timeout);
      arrivals.on('report', onReport);
    });
  };

  const fx: ProcessFixture = {
    get dev() {
      if (!dev) throw new Error('dev server not started');
      return dev;
    },
    get key() {
      return key;
    },
    get reports() {
      return reports;
    },
    spawn(id, options, actEveryMs = 50) {
      const config: WorkerConfig = { address: fx.dev.url, key, id, actEveryMs, options };
      const child = fork(WORKER, [JSON.stringify(config)], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const own: WorkerReport[] = [];
      child.on('message', (m) => {
        const r = m as WorkerReport;
        own.push(r);
        reports.push(r);
        arrivals.emit('report', r);
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
      });
      const worker: Worker = {
        id,
        child,
        reports: own,
        exited,
        kill: (signal) => {
          child.kill(signal);
        },
      };
      workers.set(id, worker);
      return worker;
    },
    waitFor(match: (r: WorkerReport) => boolean, what: string, timeout = 15_000) {
      return await_(match, what, timeout, 0);
    },
    next(match, what, timeout = 15_000) {
      return await_(match, what, timeout, reports.length);
    },
    worker(id) {
      const w = workers.get(id);
      if (!w) throw new Error(`no worker ${id}`);
      return w;
    },
  } as ProcessFixture;

  beforeEach(async () => {
    counter += 1;
    key = `elections/process-${counter}`;
    dev = await startDevServer({ port: 0, host: '127.0.0.1', sessionTtlMin: '100ms' });
  });

  afterEach(async () => {
    const mine = [...workers.values()];
    workers = new Map();
    for (const w of mine) {
      if (w.child.exitCode !== null || w.child.signalCode !== null) continue;
      w.child.kill('SIGCONT');
      w.child.kill('SIGKILL');
    }
    await Promise.all(mine.map((w) => w.exited));
    reports = [];
    await dev?.close();
    dev = undefined;
  });

  return fx;
}

type Acting = Extract<WorkerReport, { type: 'acting' }>;
type Elected = Extract<WorkerReport, { type: 'elected' }>;
type Deposed = Extract<WorkerReport, { type: 'deposed' }>;

export const isElected = (r: WorkerReport): r is Elected => r.type === 'elected';
export const isActing = (r: WorkerReport): r is Acting => r.type === 'acting';
export const isDeposed = (r: WorkerReport): r is Deposed => r.type === 'deposed';

/**
 * The safety invariants, checked from the reports alone (no timing thresholds):
 * - each token was won by exactly one worker, and successive terms have increasing tokens;
 * - every `acting` report names a token its own worker won;
 * - on the shared monotonic clock, the acting moments of different terms never interleave: once
 *   a newer term was elected, no worker acts under an older token;
 * - within each worker, nothing acts under a token after that token was reported deposed.
 * Returns the tokens in election order.
 */
export function checkOneLeaderAtATime(reports: readonly WorkerReport[]): number[] {
  const elected = reports.filter(isElected).sort((a, b) => a.t - b.t);
  const winner = new Map<number, string>();
  for (const e of elected) {
    if (winner.has(e.token)) throw new Error(`token ${e.token} was won twice (${winner.get(e.token)} and ${e.id})`);
    winner.set(e.token, e.id);
  }
  const tokens = elected.map((e) => e.token);
  for (let i = 1; i < tokens.length; i++) {
    if (!((tokens[i] as number) > (tokens[i - 1] as number))) throw new Error(`tokens do not increase in election order: ${tokens.join(', ')}`);
  }
  const timeline = reports.filter((r): r is Acting | Elected => isActing(r) || isElected(r)).sort((a, b) => a.t - b.t);
  let newest = -Infinity;
  for (const r of timeline) {
    if (isElected(r)) {
      newest = Math.max(newest, r.token);
      continue;
    }
    if (winner.get(r.token) !== r.id) throw new Error(`${r.id} acted under token ${r.token}, won by ${winner.get(r.token) ?? 'nobody'}`);
    if (r.token < newest) throw new Error(`${r.id} acted under token ${r.token} at ${r.t} after token ${newest} was elected`);
  }
  const byWorker = new Map<string, WorkerReport[]>();
  for (const r of reports) byWorker.set(r.id, [...(byWorker.get(r.id) ?? []), r]);
  for (const [id, own] of byWorker) {
    const ended = new Set<number>();
    for (const r of own) {
      if (isDeposed(r)) ended.add(r.token);
      if (isActing(r) && ended.has(r.token)) throw new Error(`${id} acted under token ${r.token} after being deposed`);
    }
  }
  return tokens;
}
