/**
 * A nemesis-suite worker: one child process that loops over the mutual-exclusion recipes (Lock,
 * Semaphore, LeaderElection, both sides of a ReadWriteLock) and the work queue through the public
 * API, talking to the dev server through its own fault proxy.
 *
 * Each round: pick a recipe (seeded), acquire it (with a timeout), then a few times: read the
 * clock, check the hold **synchronously** (`signal.aborted`, which checks the session deadline),
 * and only then append `write(token)` to the shared history; send the same write to the fenced
 * store after a short "network" delay (not awaited: it is in flight while the worker goes on);
 * do some random work. Then let the writes land and release. Losses are logged from the signal's abort listener, with the
 * session's local deadline. A read-write lock round takes a reader (60%) or a writer and records
 * `read(token)` or `write(token)` accesses the same way; the fenced store fences reads against
 * writes only.
 *
 * A queue round puts one uniquely numbered message (`<w>/<pid>/<n>`), or takes one:
 * records `taken(id, attempt)`, logs `msg-lost` from `msg.signal`'s abort listener when the claim
 * is lost, works a random while, then acks (or, one time in seven, nacks) it **without** checking
 * `msg.signal` first: the queue itself must refuse a settle whose claim is gone.
 *
 * `broken: true` makes a worker that ignores its signal: it never checks the hold before writing.
 * The checker must catch it.
 *
 * SIGTERM: stop after the current round, release, close, append `exit`, exit 0.
 *
 * Usage: node --import tsx worker.ts '<WorkerConfig JSON>'
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { ClaimLostError, Coordinator, LeaderElection, Lock, Semaphore, RecipeError, type LeaderTerm, type LockHandle, type Permit, type QueueMessage } from '../../src/index.js';
import { append, mono, QUEUE_MAX_ATTEMPTS, type HoldRecipe, type Mode, type Recipe } from './history.js';
import { mulberry32 } from './random.js';

export interface WorkerConfig {
  id: string;
  /** The worker's fault proxy in front of the dev server. */
  address: string;
  history: string;
  /** `http://127.0.0.1:port` of the fenced store. */
  store: string;
  seed: number;
  keys: Record<Recipe, string>;
  ttl: string;
  lockDelay: string;
  recipes: Recipe[];
  broken?: boolean;
  /** Writes per hold: 1..maxWrites. @default 5 */
  maxWrites?: number;
  /** Work between writes, ms: 0..maxWorkMs. @default 100 */
  maxWorkMs?: number;
}

const config = JSON.parse(process.argv[2] ?? '') as WorkerConfig;
const w = config.id;
const rand = mulberry32(config.seed);
const perfOffset = mono() - performance.now();
const log = (r: Parameters<typeof append>[1]): void => append(config.history, r);

const crash = (err: unknown): void => {
  log({ type: 'crash', w, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err), t: mono() });
  process.exit(1);
};
process.on('unhandledRejection', crash);
process.on('uncaughtException', crash);

const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());

const debug = (level: string) => (fields: unknown, message?: string) => {
  if (process.env.RELIABILITY_DEBUG) process.stderr.write(`[${w} ${mono().toFixed(0)} ${level}] ${message ?? ''} ${JSON.stringify(fields)}\n`);
};
const coord = new Coordinator({
  address: config.address,
  retry: { retries: 2, minTimeout: 50, maxTimeout: 200 },
  timeout: '3s',
  logger: { debug: debug('debug'), info: debug('info'), warn: debug('warn'), error: debug('error') },
});
const holderOptions = { ttl: config.ttl, lockDelay: config.lockDelay, waitTime: '2s' };
// Odd workers wait in fair mode (a queue, hand-overs), even ones in Go's: both on the one key.
const lock = new Lock(coord, config.keys.lock, { ...holderOptions, retryTime: '200ms', value: { w }, fair: /[13579]$/.test(w) });
const semaphore = new Semaphore(coord, config.keys.semaphore, { ...holderOptions, limit: 2, value: { w } });
const election = new LeaderElection(coord, config.keys.election, { ...holderOptions, retryTime: '200ms', value: { w } });
lock.on('error', () => undefined);
semaphore.on('error', () => undefined);
election.on('error', () => undefined);
const rwlock = coord.readWriteLock(config.keys.rwlock, { ttl: config.ttl, lockDelay: config.lockDelay, waitTime: '2s' });
const queue = coord.queue<string>(config.keys.queue, { ttl: config.ttl, lockDelay: config.lockDelay, waitTime: '2s', maxAttempts: QUEUE_MAX_ATTEMPTS, sessionName: `queue ${w}` });
queue.on('error', () => undefined);

interface Held {
  /** Only for the rwlock: which side. */
  mode?: Mode;
  token: number;
  session: string;
  /** A getter: reading it checks the session deadline, as the recipes' own getters do. */
  readonly signal: AbortSignal;
  /** performance.now() of the session's local deadline. */
  validUntil(): number;
  release(): Promise<void>;
}

async function acquire(recipe: HoldRecipe, signal: AbortSignal): Promise<Held> {
  const opts = { timeout: '3s', signal };
  switch (recipe) {
    case 'rwlock': {
      const mode: Mode = rand() < 0.6 ? 'read' : 'write';
      const side = mode === 'read' ? rwlock.read() : rwlock.write();
      side.on('error', () => undefined);
      let h;
      try {
        h = await side.acquire(opts);
      } catch (err) {
        await side.close();
        throw err;
      }
      const handle = h;
      return {
        mode,
        token: handle.fencingToken,
        session: handle.session.id,
        get signal() {
          return handle.signal;
        },
        validUntil: () => handle.session.validUntil,
        release: async () => {
          try {
            await handle.release();
          } finally {
            await side.close();
          }
        },
      };
    }
    case 'lock': {
      const h: LockHandle = await lock.acquire(opts);
      return { token: h.fencingToken, session: h.session.id, get signal() { return h.signal; }, validUntil: () => h.session.validUntil, release: () => h.release() };
    }
    case 'semaphore': {
      const p: Permit = await semaphore.acquire(opts);
      return { token: p.fencingToken, session: p.session.id, get signal() { return p.signal; }, validUntil: () => p.session.validUntil, release: () => p.release() };
    }
    case 'election': {
      const term: LeaderTerm = await election.campaign(opts);
      return { token: term.fencingToken, session: term.sessionId, get signal() { return term.signal; }, validUntil: () => term.validUntil, release: () => election.resign() };
    }
  }
}

const inFlight = new Set<Promise<void>>();

/** Sends a checked write to the fenced store after `ms` of "network"; awaited only before release. */
function sendToStore(recipe: HoldRecipe, hold: string, token: number, tCheck: number, ms: number, mode?: Mode): void {
  const p = (async () => {
    await delay(ms);
    try {
      await fetch(`${config.store}/write`, { method: 'POST', body: JSON.stringify({ w, recipe, hold, token, tCheck, mode }) });
    } catch {
      // The store lives in the parent; at the end of a trial it may be gone already.
    }
  })();
  inFlight.add(p);
  void p.finally(() => inFlight.delete(p));
}

/** Why a call ended without a result: a typed error's code, or the stop; anything else crashes. */
function reasonOf(err: unknown): string {
  const reason = err instanceof RecipeError ? err.code : stop.signal.aborted ? 'stopping' : `untyped: ${String(err)}`;
  if (reason.startsWith('untyped')) crash(err);
  return reason;
}

let puts = 0;
/** One queue round: put a message, or take one, work, and ack or nack it. */
async function queueRound(round: number): Promise<void> {
  // Fewer puts than takes, so the queue does not grow a backlog: takers often find it empty.
  if (rand() < 0.45) {
    const payload = `${w}/${process.pid}/${++puts}`;
    try {
      const id = await queue.put(payload, { signal: stop.signal });
      log({ type: 'put', w, payload, id, t: mono() });
    } catch (err) {
      log({ type: 'put-failed', w, payload, reason: reasonOf(err), t: mono() });
    }
    return;
  }
  let msg: QueueMessage<string>;
  try {
    msg = await queue.take({ signal: stop.signal, timeout: '1s' });
  } catch (err) {
    log({ type: 'gave-up', w, recipe: 'queue', reason: reasonOf(err), t: mono() });
    return;
  }
  const delivery = `${w}/${process.pid}/${round}`;
  const { id } = msg;
  log({ type: 'taken', w, delivery, id, payload: msg.payload, attempt: msg.attempt, t: mono() });
  const signal = msg.signal;
  const onAbort = (): void => {
    if (signal.reason instanceof ClaimLostError) log({ type: 'msg-lost', w, delivery, id, t: mono() });
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  await delay(Math.floor(rand() * 3 * (config.maxWorkMs ?? 100)));
  const how = rand() < 1 / 7 ? 'nack' : 'ack';
  const tCall = mono();
  try {
    await (how === 'ack' ? msg.ack() : msg.nack());
    log({ type: how === 'ack' ? 'acked' : 'nacked', w, delivery, id, payload: msg.payload, tCall, t: mono() });
  } catch (err) {
    if (!(err instanceof RecipeError)) crash(err);
    log({ type: 'settle-refused', w, delivery, id, how, code: (err as RecipeError).code, tCall, t: mono() });
  }
}

log({ type: 'start', w, pid: process.pid, t: mono() });
let round = 0;
while (!stop.signal.aborted) {
  round += 1;
  const recipe = config.recipes[Math.floor(rand() * config.recipes.length)]!;
  if (recipe === 'queue') {
    await queueRound(round);
    continue;
  }
  let held: Held;
  try {
    held = await acquire(recipe, stop.signal);
  } catch (err) {
    log({ type: 'gave-up', w, recipe, reason: reasonOf(err), t: mono() });
    continue;
  }
  const hold = `${w}/${process.pid}/${round}`;
  log({ type: 'acquired', w, recipe, hold, token: held.token, session: held.session, t: mono(), ...(held.mode ? { mode: held.mode } : {}) });
  let released = false;
  const signal = held.signal;
  signal.addEventListener(
    'abort',
    () => {
      if (released) return;
      log({ type: 'lost', w, recipe, hold, token: held.token, t: mono(), deadline: held.validUntil() + perfOffset });
    },
    { once: true },
  );
  const writes = 1 + Math.floor(rand() * (config.maxWrites ?? 5));
  for (let i = 0; i < writes; i++) {
    const tCheck = mono();
    if (!config.broken && held.signal.aborted) break;
    log({ type: held.mode === 'read' ? 'read' : 'write', w, recipe, hold, token: held.token, tCheck, t: mono() });
    if (recipe !== 'semaphore') sendToStore(recipe, hold, held.token, tCheck, Math.floor(rand() * 40), held.mode);
    await delay(Math.floor(rand() * (config.maxWorkMs ?? 100)));
  }
  // A careful writer lets its writes land before it lets go; only a loss leaves them in flight.
  await Promise.allSettled([...inFlight]);
  const tCall = mono();
  released = !held.signal.aborted;
  try {
    await held.release();
  } catch (err) {
    if (!(err instanceof RecipeError)) crash(err);
  }
  if (released) log({ type: 'released', w, recipe, hold, token: held.token, tCall, t: mono() });
}

await Promise.allSettled([...inFlight]);
await coord.close();
log({ type: 'exit', w, t: mono() });
process.exit(0);
