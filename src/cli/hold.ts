/**
 * "Run a command while holding X", shared by `lock`, `semaphore` and `elect` — Consul's
 * `command/lock` run loop, with the lock, permit or leadership abstracted as a {@link Hold}:
 *
 * 1. Acquire (with `--timeout`). SIGINT/SIGTERM/SIGHUP meanwhile abort the wait: exit 128+N.
 * 2. Start the command with `CONSUL_LOCK_HELD=true`, the fencing token and the session in its
 *    environment.
 * 3. Wait for whichever comes first:
 *    - the command exits → release, exit with its code;
 *    - the hold is lost → SIGTERM the command, SIGKILL after the grace period, release what is
 *      left, exit 125 (whatever the command then returned: it was stopped, not finished);
 *    - a signal arrives → forwarded to the command; we keep waiting for it to exit.
 * 4. Release (a clean release sets no lock-delay, so the next holder starts at once), run the
 *    recipe's cleanup, close the connection.
 *
 * The hazard Consul documents holds here too: the command is told, not stopped instantly. It may
 * act for up to the grace period after the loss; lock-delay (15s by default) is the margin that
 * keeps the next holder out meanwhile, so keep `--grace` below `--lock-delay`.
 */
import type { CommandIo } from './args.js';
import { explain } from './args.js';
import { Child, type ChildOptions } from './child.js';
import { EXIT, signalExitCode } from './exit-codes.js';

/** A lock, permit or term, as the run loop needs it. */
export interface Hold {
  readonly fencingToken: number;
  readonly sessionId: string;
  /** Aborted when the hold ends; before `release()` that means it was lost. */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

export interface HeldRunOptions {
  readonly io: CommandIo;
  /** Command name, for messages (`lock`, `semaphore`, `elect`). */
  readonly name: string;
  /** What is held, for messages: `lock "jobs/.lock"`. */
  readonly what: string;
  readonly verbose: boolean;
  /** Acquires; rejects with the signal's reason when `signal` aborts, with `LockTimeoutError` after `--timeout`. */
  acquire(signal: AbortSignal): Promise<Hold>;
  readonly child: Omit<ChildOptions, 'env'>;
  /** Extra variables for the command, e.g. `CONSUL_LOCK_HELD`. */
  env(hold: Hold): Record<string, string>;
  readonly graceMs: number;
  /** After release: best-effort removal of what is no longer in use (Consul's `Destroy`). */
  cleanup?(): Promise<void>;
  /** Closes the connection (destroys sessions left over). */
  close(): Promise<void>;
}

/** Signals that abort the wait, or are forwarded to the command once it runs (as `consul lock`). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function runWhileHeld(o: HeldRunOptions): Promise<number> {
  const say = (line: string): void => o.io.err(`consul-recipes ${o.name}: ${line}`);
  const verbose = (line: string): void => {
    if (o.verbose) say(line);
  };
  const interrupted = new AbortController();
  let received: NodeJS.Signals | undefined;
  let child: Child | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (child) {
      verbose(`${signal} received, forwarding it to the command (pid ${child.pid})`);
      child.signal(signal);
      return;
    }
    received ??= signal;
    interrupted.abort(new Error(`${signal} received`));
  };
  for (const s of FORWARDED) process.on(s, onSignal);

  let hold: Hold | undefined;
  try {
    verbose(`acquiring ${o.what}`);
    try {
      hold = await o.acquire(interrupted.signal);
    } catch (err) {
      if (received) {
        say(`${received} received while waiting for ${o.what}; nothing was started`);
        return signalExitCode(received);
      }
      if (err instanceof Error && 'code' in err && err.code === 'ERR_LOCK_TIMEOUT') {
        say(`${explain(err)}; the command was not started`);
        return EXIT.TIMEOUT;
      }
      throw err;
    }
    if (received) {
      // The signal raced the grant: honour it without starting anything.
      say(`${received} received while acquiring ${o.what}; nothing was started`);
      return signalExitCode(received);
    }
    verbose(`acquired ${o.what} (session ${hold.sessionId}, fencing token ${hold.fencingToken})`);

    const lost = hold.signal;
    const current = new Child({ ...o.child, env: o.env(hold) });
    child = current;
    if (!current.running) {
      const exit = await current.exited;
      say(exit.description);
      return exit.code;
    }
    verbose(`started the command (pid ${current.pid})`);

    const lostOrExited = await new Promise<'lost' | 'exited'>((resolve) => {
      if (lost.aborted) return resolve('lost');
      const onLost = (): void => resolve('lost');
      lost.addEventListener('abort', onLost, { once: true });
      void current.exited.then(() => {
        lost.removeEventListener('abort', onLost);
        resolve('exited');
      });
    });
    if (lostOrExited === 'lost') {
      say(`${explain(lost.reason)}; stopping the command (SIGTERM, then SIGKILL after ${o.graceMs}ms)`);
      const exit = await current.terminate(o.graceMs);
      say(`the command ${exit.description}; exiting with ${EXIT.LOST} (lost)`);
      return EXIT.LOST;
    }
    const exit = await current.exited;
    verbose(`the command ${exit.description}; releasing ${o.what}`);
    return exit.code;
  } finally {
    for (const s of FORWARDED) process.off(s, onSignal);
    if (hold) {
      try {
        await hold.release();
        verbose(`released ${o.what}`);
      } catch (err) {
        // The session is destroyed by close() below, or expires: the hold cannot outlive it.
        say(`warning: release failed (${explain(err)}); the session will be destroyed or expire`);
      }
    }
    if (o.cleanup) {
      try {
        await o.cleanup();
      } catch (err) {
        // Cosmetic (an unused key stays behind), as Consul's own cleanup error is for `consul lock`.
        verbose(`cleanup skipped: ${explain(err)}`);
      }
    }
    await o.close();
  }
}
