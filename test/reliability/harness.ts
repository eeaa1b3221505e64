/**
 * One nemesis trial: a dev server, a fenced store, K worker child processes each behind its own
 * fault proxy, and a nemesis that injects one fault (or a pair) at a time on a seeded schedule,
 * heals it, and waits for every recipe to make progress before the next. At the end the workers
 * stop; once their sessions ended, a drain consumer in this process takes and acks what is left
 * in the queue (its claims returned by dead consumers included) and the queue's end state is
 * recorded; the server must hold no session, no held key and no agent check, and the history goes
 * to the checker.
 *
 * Fault durations are the schedule itself (a partition lasts this long); every other wait is on an
 * observed condition (a history line, a process exit, the server's state).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Coordinator, RecipeError } from '../../src/index.js';
import { startDevServer, startFaultProxy, type DevServer, type FaultProxy } from '../../src/testing/index.js';
import { checkHistory, type CheckResult } from './checker.js';
import { startFencedStore } from './fenced-store.js';
import { append, HistoryTail, mono, parseHistory, progressOf, QUEUE_MAX_ATTEMPTS, RECIPES, type FaultKind, type Line, type Recipe } from './history.js';
import { mulberry32 } from './random.js';
import type { WorkerConfig } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export const ALL_FAULTS: readonly FaultKind[] = ['partition', 'pause', 'kill', 'destroy-session', 'leaderless', 'latency', 'restart'];

export interface TrialOptions {
  seed: number;
  /** How long the nemesis injects faults, ms. */
  durationMs: number;
  /** @default 5 */
  workers?: number;
  /** Worker ids (w1…) that ignore their signal. @default none */
  broken?: readonly string[];
  /** @default ALL_FAULTS */
  faults?: readonly FaultKind[];
  /** Chance that a step injects two faults at once. @default 0.3 */
  pairChance?: number;
  /** @default RECIPES */
  recipes?: readonly Recipe[];
  /** Session TTL of every hold, ms. @default 1000 */
  ttlMs?: number;
  /** Lock-delay of every hold, ms (≥ ttl, see guarantees.md: covers an operator's destroy). @default 1500 */
  lockDelayMs?: number;
  /** Writes per hold: 1..maxWrites. @default 5 */
  maxWrites?: number;
  /** Every recipe writes again within this long after a heal. @default 10000 */
  progressBoundMs?: number;
  /** Progress lines go here. @default silent */
  log?: (line: string) => void;
}

export interface TrialResult extends CheckResult {
  seed: number;
  history: string;
  records: Line[];
  /** What the server still held after the workers stopped (must be empty). */
  leftovers: string[];
  /** Last stderr bytes of every worker, for failure reports. */
  stderr: Record<string, string>;
}

interface WorkerProc {
  id: string;
  child: ChildProcess;
  exited: Promise<void>;
  stderr: string;
  /** Set before the nemesis kills it or the trial stops it. */
  expectExit: boolean;
}

export async function runTrial(options: TrialOptions): Promise<TrialResult> {
  const {
    seed,
    durationMs,
    workers: k = 5,
    broken = [],
    faults = ALL_FAULTS,
    pairChance = 0.3,
    recipes = RECIPES,
    ttlMs = 1000,
    lockDelayMs = 1500,
    maxWrites = 5,
    progressBoundMs = 10_000,
    log = () => undefined,
  } = options;
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const between = (lo: number, hi: number): number => Math.round(lo + rand() * (hi - lo));

  const dir = mkdtempSync(join(tmpdir(), 'consul-recipes-nemesis-'));
  const history = join(dir, 'history.jsonl');
  append(history, { type: 'exit', w: 'nemesis', t: mono() }); // creates the file; ignored by the checker
  const dev: DevServer = await startDevServer({ sessionTtlMin: '100ms' });
  const store = await startFencedStore(history);
  const prefix = `reliability/${seed}`;
  const keys: Record<Recipe, string> = {
    lock: `${prefix}/lock`,
    semaphore: `${prefix}/semaphore`,
    election: `${prefix}/leader`,
    rwlock: `${prefix}/rwlock`,
    queue: `${prefix}/queue`,
  };
  const ids = Array.from({ length: k }, (_, i) => `w${i + 1}`);
  const proxies = new Map<string, FaultProxy>();
  for (const id of ids) proxies.set(id, await startFaultProxy({ target: dev.url }));
  const procs = new Map<string, WorkerProc>();
  let spawned = 0;

  const spawn = (id: string): WorkerProc => {
    spawned += 1;
    const config: WorkerConfig = {
      id,
      address: proxies.get(id)!.url,
      history,
      store: store.url,
      seed: (seed * 1000 + spawned) >>> 0,
      keys,
      ttl: `${ttlMs}ms`,
      lockDelay: `${lockDelayMs}ms`,
      recipes: [...recipes],
      broken: broken.includes(id),
      maxWrites,
    };
    const child = fork(WORKER, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const proc: WorkerProc = {
      id,
      child,
      stderr: '',
      expectExit: false,
      exited: new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          append(history, { type: 'gone', w: id, pid: child.pid ?? 0, code, signal, expected: proc.expectExit, t: mono() });
          resolve();
        }),
      ),
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (proc.stderr = (proc.stderr + d).slice(-4000)));
    procs.set(id, proc);
    return proc;
  };

  // The nemesis follows the history to know who holds what.
  const tail = new HistoryTail(history);
  const holders = new Map<string, { w: string; recipe: Recipe; session: string }>();
  const follow = (): Line[] => {
    const fresh = tail.poll();
    for (const r of fresh) {
      if (r.type === 'acquired') holders.set(r.hold, { w: r.w, recipe: r.recipe, session: r.session });
      if (r.type === 'lost' || r.type === 'released') holders.delete(r.hold);
      // A consumer holding a message counts as a holder (its session is looked up on the server).
      if (r.type === 'taken') holders.set(r.delivery, { w: r.w, recipe: 'queue', session: '' });
      if (r.type === 'msg-lost' || r.type === 'acked' || r.type === 'nacked' || r.type === 'settle-refused') holders.delete(r.delivery);
    }
    return fresh;
  };
  /** The consumer sessions that hold a message now, by worker (their session is named after it). */
  const queueClaims = (): Array<{ w: string; recipe: Recipe; session: string }> => {
    const names = new Map(dev.state.listSessions().map((s) => [s.id, s.name]));
    return dev.state
      .listKeys(`${keys.queue}/msg/`)
      .flatMap((e) => (e.session ? [{ w: (names.get(e.session) ?? '').replace(/^queue /, ''), recipe: 'queue' as const, session: e.session }] : []))
      .filter((c) => ids.includes(c.w));
  };
  const forget = (w: string): void => {
    for (const [hold, h] of holders) if (h.w === w) holders.delete(hold);
  };
  /** Waits until every recipe has an access checked (queue: an ack) after `since`; false after `limitMs`. */
  const progressed = async (since: number, limitMs: number): Promise<boolean> => {
    const until = mono() + limitMs;
    const pending = new Set(recipes);
    const seen = (r: Line): void => {
      const recipe = progressOf(r);
      if (recipe && ('tCheck' in r ? r.tCheck : r.t) > since) pending.delete(recipe);
    };
    tail.records.forEach(seen);
    while (pending.size > 0) {
      if (mono() > until) return false;
      await delay(100);
      follow().forEach(seen);
    }
    return true;
  };

  let faultId = 0;
  const record = (id: number, fault: FaultKind, target: string, detail: string, phase: 'start' | 'heal'): void => {
    append(history, { type: 'nemesis', id, fault, target, detail, phase, t: mono() });
    if (phase === 'start') log(`  fault ${id}: ${fault} ${target} ${detail}`);
  };

  /** Starts one fault; resolves with its heal. `busy` holds the workers other faults act on. */
  const start = async (fault: FaultKind, busy: Set<string>): Promise<{ heal: () => Promise<void>; ms: number } | undefined> => {
    follow();
    const id = ++faultId;
    const free = ids.filter((w) => !busy.has(w));
    // The other fault of a pair may already act on every worker.
    if (free.length === 0 && fault !== 'leaderless' && fault !== 'restart') return undefined;
    const holdersOf = (pred: (h: { w: string; recipe: Recipe }) => boolean): string[] => [...new Set([...holders.values()].filter(pred).map((h) => h.w))];
    const lease = 2 * ttlMs + lockDelayMs;
    switch (fault) {
      case 'partition': {
        // Mostly a current holder: cutting off an idle worker proves little.
        const holding = holdersOf((h) => !busy.has(h.w));
        const target = holding.length > 0 && rand() < 0.75 ? pick(holding) : pick(free);
        const mode = rand() < 0.7 ? 'hold' : 'drop';
        const ms = between(1.5 * ttlMs, lease + ttlMs);
        busy.add(target);
        proxies.get(target)!.partition(mode);
        record(id, fault, target, `${mode} ${ms}ms`, 'start');
        return { ms, heal: async () => (proxies.get(target)!.heal(), record(id, fault, target, '', 'heal')) };
      }
      case 'pause': {
        // A holder of a fenced resource when there is one: its in-flight writes become stale.
        const fenced = holdersOf((h) => h.recipe !== 'semaphore' && !busy.has(h.w));
        const target = fenced.length > 0 ? pick(fenced) : pick(free);
        const ms = between(lease, lease + 2 * ttlMs);
        busy.add(target);
        procs.get(target)!.child.kill('SIGSTOP');
        record(id, fault, target, `${ms}ms`, 'start');
        return { ms, heal: async () => (procs.get(target)!.child.kill('SIGCONT'), record(id, fault, target, '', 'heal')) };
      }
      case 'kill': {
        const busyHolders = holdersOf((h) => !busy.has(h.w));
        const target = busyHolders.length > 0 ? pick(busyHolders) : pick(free);
        busy.add(target);
        const proc = procs.get(target)!;
        proc.expectExit = true;
        proc.child.kill('SIGKILL');
        record(id, fault, target, 'SIGKILL', 'start');
        await proc.exited;
        forget(target);
        const ms = between(0, ttlMs);
        return { ms, heal: async () => (spawn(target), record(id, fault, target, 'restarted', 'heal')) };
      }
      case 'destroy-session': {
        // An operator destroys a holder's session (Lock, LeaderElection and a queue consumer's
        // claims: lock-delay covers them; guarantees.md gives a semaphore slot and a read-write
        // lock contender no margin against this).
        const candidates = [
          ...[...holders.values()].filter((h) => h.recipe !== 'semaphore' && h.recipe !== 'rwlock' && h.recipe !== 'queue'),
          ...(recipes.includes('queue') ? queueClaims() : []),
        ].filter((h) => !busy.has(h.w));
        if (candidates.length === 0) return undefined;
        const victim = pick(candidates);
        busy.add(victim.w);
        await fetch(`${dev.url}/v1/session/destroy/${victim.session}`, { method: 'PUT' });
        record(id, fault, victim.w, `${victim.recipe} session ${victim.session}`, 'start');
        return { ms: 0, heal: async () => record(id, fault, victim.w, '', 'heal') };
      }
      case 'leaderless': {
        const ms = between(300, 2 * ttlMs);
        dev.leaderless();
        record(id, fault, 'server', `${ms}ms`, 'start');
        return { ms, heal: async () => (dev.restoreLeader(), record(id, fault, 'server', '', 'heal')) };
      }
      case 'latency': {
        const targets = rand() < 0.5 ? [pick(free)] : free;
        const lag = between(50, 400);
        const ms = between(ttlMs, 3 * ttlMs);
        for (const t of targets) proxies.get(t)!.delay(lag);
        const target = targets.length === 1 ? targets[0]! : 'all';
        for (const t of targets) busy.add(t);
        record(id, fault, target, `${lag}ms for ${ms}ms`, 'start');
        return { ms, heal: async () => (targets.forEach((t) => proxies.get(t)!.delay(0)), record(id, fault, target, '', 'heal')) };
      }
      case 'restart': {
        await dev.restart({ keepState: true });
        record(id, fault, 'server', 'state kept', 'start');
        return { ms: 0, heal: async () => record(id, fault, 'server', '', 'heal') };
      }
    }
  };

  try {
    for (const id of ids) spawn(id);
    log(`seed ${seed}: ${k} workers, history ${history}`);
    if (!(await progressed(0, 60_000))) throw new Error(`workers made no progress at start-up; stderr:\n${[...procs.values()].map((p) => `${p.id}: ${p.stderr}`).join('\n')}`);

    const endAt = mono() + durationMs;
    while (mono() < endAt) {
      const first = pick(faults);
      const kinds: FaultKind[] = [first];
      if (rand() < pairChance) {
        // Lock-delay lives in memory: a restart forgets the one an operator's destroy set, so
        // that pair is outside what guarantees.md promises.
        const second = pick(faults.filter((f) => f !== first && !(f === 'restart' && first === 'destroy-session') && !(f === 'destroy-session' && first === 'restart')));
        if (second) kinds.push(second);
      }
      const busy = new Set<string>();
      const started: Array<{ heal: () => Promise<void>; ms: number }> = [];
      for (const kind of kinds) {
        const s = await start(kind, busy);
        if (s) started.push(s);
      }
      if (started.length === 0) {
        await delay(200);
        continue;
      }
      await delay(Math.max(...started.map((s) => s.ms)));
      for (const s of started.reverse()) await s.heal();
      const healedAt = mono();
      if (!(await progressed(healedAt, progressBoundMs + 2_000))) log(`  no progress within ${progressBoundMs} ms after fault ${faultId}`);
      await delay(between(200, 1_000));
    }
  } finally {
    for (const p of proxies.values()) {
      p.heal();
      p.delay(0);
    }
    dev.restoreLeader();
    for (const p of procs.values()) p.child.kill('SIGCONT');
  }

  // Stop: SIGTERM, then SIGKILL whoever is still around after the budget.
  const stoppingAt = mono();
  for (const p of procs.values()) {
    p.expectExit = true;
    p.child.kill('SIGTERM');
  }
  const all = Promise.all([...procs.values()].map((p) => p.exited));
  const timer = setTimeout(() => procs.forEach((p) => p.child.kill('SIGKILL')), 20_000);
  await all;
  clearTimeout(timer);

  // Once every worker session ended, what is left in the queue must still be deliverable.
  const ended = mono() + 4 * ttlMs + lockDelayMs + 5_000;
  while (dev.state.listSessions().length > 0 && mono() < ended) await delay(200);
  if (recipes.includes('queue')) await drain(dev, keys.queue, history, 20_000);
  const leftovers = await leftoversAfter(dev, prefix, keys, 5_000);
  for (const p of proxies.values()) await p.close();
  await store.close();
  await dev.close();

  const records = parseHistory(readFileSync(history, 'utf8'));
  const result = checkHistory(records, { pauseMs: ttlMs, progressBoundMs, progressUntil: stoppingAt, recipes });
  const stderr = Object.fromEntries([...procs.values()].map((p) => [p.id, p.stderr]));
  if (result.violations.length === 0 && leftovers.length === 0 && !process.env.RELIABILITY_KEEP_HISTORY) rmSync(dir, { recursive: true, force: true });
  return { ...result, seed, history, records, leftovers, stderr };
}

/**
 * Takes and acks every message left in the queue (recorded as worker `drain`), until a take times
 * out on an empty queue or `limitMs` passed; then records the queue's end state.
 */
async function drain(dev: DevServer, prefix: string, history: string, limitMs: number): Promise<void> {
  const until = mono() + limitMs;
  const coord = new Coordinator({ address: dev.url });
  const queue = coord.queue<string>(prefix, { ttl: '10s', lockDelay: 0, waitTime: '1s', maxAttempts: QUEUE_MAX_ATTEMPTS, sessionName: 'queue drain' });
  queue.on('error', () => undefined);
  try {
    for (let n = 1; mono() < until; n++) {
      let msg;
      try {
        msg = await queue.take({ timeout: '2s' });
      } catch (err) {
        if (!(err instanceof RecipeError && err.code === 'ERR_TIMEOUT')) throw err;
        if ((await queue.size()) === 0) break;
        continue;
      }
      const delivery = `drain/0/${n}`;
      append(history, { type: 'taken', w: 'drain', delivery, id: msg.id, payload: msg.payload, attempt: msg.attempt, t: mono() });
      const tCall = mono();
      await msg.ack();
      append(history, { type: 'acked', w: 'drain', delivery, id: msg.id, payload: msg.payload, tCall, t: mono() });
    }
  } finally {
    await coord.close();
  }
  const payloadOf = (value: Buffer | null): string => {
    try {
      return String((JSON.parse(value?.toString('utf8') ?? '') as { payload?: unknown }).payload);
    } catch {
      return '';
    }
  };
  const remaining = dev.state.listKeys(`${prefix}/msg/`).map((e) => ({ id: e.key.slice(`${prefix}/msg/`.length), payload: payloadOf(e.value), ...(e.session ? { session: e.session } : {}) }));
  const dead = dev.state.listKeys(`${prefix}/dead/`).map((e) => ({ id: e.key.slice(`${prefix}/dead/`.length), payload: payloadOf(e.value) }));
  append(history, { type: 'queue-end', remaining, dead, t: mono() });
}

/** Waits for the server to hold nothing of the trial; returns what is still there after `limitMs`. */
async function leftoversAfter(dev: DevServer, prefix: string, keys: Record<Recipe, string>, limitMs: number): Promise<string[]> {
  const until = mono() + limitMs;
  for (;;) {
    const found: string[] = [];
    for (const s of dev.state.listSessions()) found.push(`session ${s.id} (${s.name})`);
    for (const e of dev.state.listKeys(`${prefix}/`)) {
      if (e.session) found.push(`key ${e.key} held by ${e.session}`);
      // The lock key stays without a session (as Go's Unlock leaves it); the semaphore's `.lock`
      // record may still list a killed worker's session, pruned by the next contender as in Go.
      // The queue keeps its sequence, its dead letters and any message not taken (the checker
      // judges those); a dead consumer's place in line stays unlocked until a consumer tidies it.
      // So does a killed fair waiter's entry in the lock's queue, or the marker of a hand-over to
      // a waiter killed before it deleted it: unlocked, skipped and deleted by the next waiter.
      else if (e.key !== keys.lock && e.key !== `${keys.semaphore}/.lock` && !e.key.startsWith(`${keys.queue}/`) && !e.key.startsWith(`${keys.lock}.fair/`)) found.push(`key ${e.key}`);
    }
    for (const c of dev.state.listChecks()) if (c.source === 'agent') found.push(`check ${c.checkId}`);
    if (found.length === 0 || mono() > until) return found;
    await delay(200);
  }
}
