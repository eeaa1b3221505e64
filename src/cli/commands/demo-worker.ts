/**
 * One worker process of `consul-recipes demo` (started by the demo as
 * `consul-recipes demo-worker '<config JSON>'`, Consul address and token in its environment):
 * it campaigns for leadership and, at the same time, contends for a lock, each with its own
 * session bound to a heartbeated health check, and reports every step to the demo over IPC.
 *
 * SIGTERM (or the demo going away): resign, release, close, report `stopped`, exit 0 — the
 * graceful path whose hand-over the demo measures. SIGKILL is the crash path: nothing runs, and
 * Consul notices when the health checks stop being heartbeated.
 */
import { Coordinator } from '../../coordinator.js';
import { ClosedError } from '../../errors.js';
import { sleep } from '../../internal/abort.js';
import { Lock, type LockHandle } from '../../recipes/lock/lock.js';
import { type CommandIo } from '../args.js';
import { EXIT } from '../exit-codes.js';
import { holderInfo } from '../holder-info.js';

export interface DemoWorkerConfig {
  readonly id: string;
  readonly electionKey: string;
  readonly lockKey: string;
  readonly ttl: string;
  readonly healthCheckTtl: string;
  readonly lockDelay: string;
}

export type DemoReport =
  | { type: 'started'; pid: number }
  | { type: 'waiting'; what: 'leadership' | 'lock' }
  | { type: 'elected'; token: number; sessionId: string }
  | { type: 'deposed'; token: number; reason: string }
  | { type: 'acquired'; token: number; sessionId: string }
  | { type: 'lost'; reason: string }
  | { type: 'stopping'; signal: string }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

/** Pause before trying again after a failed campaign or acquire (Consul unreachable…). */
const RETRY_AFTER_ERROR_MS = 500;

/** Waits `ms` before the next try; a stop cuts the wait short and the loop's condition then ends it. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, signal).catch(() => {
    // Rejected only with the stop's abort reason: stopping is the expected way out of the wait.
  });
}

/** Longest a stop may take before the worker exits regardless. */
const STOP_BUDGET_MS = 5_000;

/** Cap of the retry delay while a key is in lock-delay: what failover overshoots lock-delay by. */
const RETRY_TIME = '100ms';

/** Reports to the demo; resolves once sent, or at once when the demo is gone. */
function send(report: DemoReport): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    // A message queued on a channel that is closing never gets its callback: 'disconnect' ends the wait.
    const done = (): void => {
      process.off('disconnect', done);
      resolve();
    };
    process.once('disconnect', done);
    try {
      process.send(report, undefined, {}, done);
    } catch {
      done(); // ERR_IPC_CHANNEL_CLOSED: the demo is gone
    }
  });
}

export async function runDemoWorker(argv: readonly string[], io: CommandIo): Promise<number> {
  let config: DemoWorkerConfig;
  try {
    config = JSON.parse(argv[0] ?? '') as DemoWorkerConfig;
  } catch {
    io.err('consul-recipes demo-worker: internal command of the demo; run consul-recipes demo');
    return EXIT.USAGE;
  }
  const coord = Coordinator.fromEnv({ retry: { retries: 2, minTimeout: 50, maxTimeout: 200 } });
  const sessionOptions = { ttl: config.ttl, lockDelay: config.lockDelay, healthCheckTtl: config.healthCheckTtl };
  const election = coord.election(config.electionKey, {
    value: holderInfo(config.id),
    sessionName: `consul-recipes demo ${config.id} (election)`,
    retryTime: RETRY_TIME,
    ...sessionOptions,
  });
  const lock = new Lock(coord, config.lockKey, {
    value: holderInfo(config.id),
    sessionName: `consul-recipes demo ${config.id} (lock)`,
    retryTime: RETRY_TIME,
    ...sessionOptions,
  });
  const stopping = new AbortController();
  const error = (err: unknown): void => void send({ type: 'error', message: err instanceof Error ? err.message : String(err) });

  election.on('waiting', () => void send({ type: 'waiting', what: 'leadership' }));
  election.on('elected', (term) => void send({ type: 'elected', token: term.fencingToken, sessionId: term.sessionId }));
  election.on('deposed', (_reason, d) => {
    if (d.reason !== 'resigned' && d.reason !== 'closed') void send({ type: 'deposed', token: d.fencingToken, reason: d.reason });
  });
  election.on('error', error);
  lock.on('waiting', () => void send({ type: 'waiting', what: 'lock' }));
  lock.on('lost', (err) => void send({ type: 'lost', reason: err.message }));
  lock.on('error', error);

  const campaigning = (async () => {
    while (!stopping.signal.aborted) {
      try {
        const term = await election.campaign({ signal: stopping.signal });
        await new Promise<void>((resolve) => {
          const signals = [term.signal, stopping.signal];
          if (signals.some((s) => s.aborted)) return resolve();
          const done = (): void => {
            for (const s of signals) s.removeEventListener('abort', done);
            resolve();
          };
          for (const s of signals) s.addEventListener('abort', done, { once: true });
        });
      } catch (err) {
        if (stopping.signal.aborted || err instanceof ClosedError) return;
        error(err);
        await pause(RETRY_AFTER_ERROR_MS, stopping.signal);
      }
    }
  })();
  let handle: LockHandle | undefined;
  const locking = (async () => {
    while (!stopping.signal.aborted) {
      try {
        handle = await lock.acquire({ signal: stopping.signal });
        await send({ type: 'acquired', token: handle.fencingToken, sessionId: handle.session.id });
        const held = handle.signal;
        await new Promise<void>((resolve) => {
          if (held.aborted || stopping.signal.aborted) return resolve();
          const done = (): void => {
            held.removeEventListener('abort', done);
            stopping.signal.removeEventListener('abort', done);
            resolve();
          };
          held.addEventListener('abort', done, { once: true });
          stopping.signal.addEventListener('abort', done, { once: true });
        });
      } catch (err) {
        if (stopping.signal.aborted || err instanceof ClosedError) return;
        error(err);
        await pause(RETRY_AFTER_ERROR_MS, stopping.signal);
      }
    }
  })();

  const stopped = new Promise<void>((resolve) => {
    const stop = (why: string): void => {
      if (stopping.signal.aborted) return;
      // A graceful stop needs Consul; if it is gone too (the demo's embedded server died with
      // the demo), give up after a bound rather than retry forever: the sessions expire anyway.
      // Unref'd: a stop that completes must not wait for it (main.ts keeps us alive meanwhile).
      setTimeout(() => process.exit(EXIT.OK), STOP_BUDGET_MS).unref();
      void (async () => {
        await send({ type: 'stopping', signal: why });
        stopping.abort();
        // Resign first: it deletes the leader key, so the next worker is elected at once.
        await election.resign().catch(error);
        await handle?.release().catch(error);
        await Promise.allSettled([campaigning, locking]);
        await coord.close();
        await send({ type: 'stopped' });
        resolve();
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // The demo went away (it crashed, was killed, or its output was closed): do not outlive it.
    // If it died before we ran, the channel is already closed and no 'disconnect' will come.
    process.once('disconnect', () => stop('demo gone'));
    if (!process.connected) stop('demo gone');
  });

  await send({ type: 'started', pid: process.pid });
  await stopped;
  if (process.connected) process.disconnect();
  return EXIT.OK;
}
