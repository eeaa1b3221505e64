/**
 * The wrapped command of `lock`, `semaphore` and `elect`, as Consul's `command/lock` runs it:
 * stdout/stderr inherited, stdin only with `--pass-stdin`, `CONSUL_LOCK_HELD=true` in its
 * environment, signals forwarded, and SIGTERM then SIGKILL after a grace period when it must stop.
 *
 * One difference from `consul lock`: the command is executed directly (argv after `--`), not via
 * a shell. Consul receives the command as one string and needs a shell to split it; we already
 * have the words, and re-joining them for `sh -c` would re-interpret quotes. `--shell` restores
 * Consul's behaviour (`$SHELL -c "<words joined by spaces>"`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EXIT, signalExitCode } from './exit-codes.js';

/** How the command ended. */
export interface ChildExit {
  /** The exit code to report: the command's, 128+N when a signal killed it, 126/127 when it never ran. */
  readonly code: number;
  /** A readable account: "exited with 3", "killed by SIGKILL", "not found". */
  readonly description: string;
}

export interface ChildOptions {
  readonly command: readonly string[];
  readonly shell: boolean;
  readonly passStdin: boolean;
  /** Variables added to the inherited environment. */
  readonly env: Readonly<Record<string, string>>;
}

/** Consul's `lockKillGracePeriod`: time between SIGTERM and SIGKILL (based on the 15s lock-delay). */
export const DEFAULT_GRACE_MS = 5_000;

export class Child {
  /** Resolves once the process has ended (or failed to start); never rejects. */
  readonly exited: Promise<ChildExit>;
  private readonly process: ChildProcess;
  private ended: ChildExit | undefined;

  constructor(options: ChildOptions) {
    const [file, ...args] = options.shell
      ? [process.env.SHELL || '/bin/sh', '-c', options.command.join(' ')]
      : options.command;
    this.process = spawn(file as string, args, {
      stdio: [options.passStdin ? 'inherit' : 'ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...options.env },
    });
    this.exited = new Promise<ChildExit>((resolve) => {
      const done = (exit: ChildExit): void => {
        if (this.ended) return;
        this.ended = exit;
        resolve(exit);
      };
      this.process.on('error', (err: NodeJS.ErrnoException) => {
        // Only a failure to start ends it here; an error from kill() on a live child does not.
        if (this.process.pid !== undefined && err.code !== 'ENOENT' && err.code !== 'EACCES') return;
        if (err.code === 'ENOENT') done({ code: EXIT.NOT_FOUND, description: `${file}: command not found` });
        else if (err.code === 'EACCES') done({ code: EXIT.CANNOT_EXECUTE, description: `${file}: permission denied` });
        else done({ code: EXIT.CANNOT_EXECUTE, description: `${file}: ${err.message}` });
      });
      this.process.once('exit', (code, signal) => {
        if (signal) done({ code: signalExitCode(signal), description: `killed by ${signal}` });
        else done({ code: code ?? EXIT.ERROR, description: `exited with ${code ?? '?'}` });
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** True when the process was started (Node knows at once; a failure is reported by `exited`). */
  get running(): boolean {
    return this.process.pid !== undefined && this.ended === undefined;
  }

  /** Sends `signal` if the process is still running. */
  signal(signal: NodeJS.Signals): void {
    if (this.ended || this.process.pid === undefined) return;
    try {
      this.process.kill(signal);
    } catch {
      // ESRCH: it exited between our check and the kill; `exited` reports how.
    }
  }

  /**
   * SIGTERM, then SIGKILL if it is still running after `graceMs` (Consul's `killChild`). Resolves
   * with how it ended.
   */
  async terminate(graceMs: number): Promise<ChildExit> {
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, graceMs);
    });
    try {
      await Promise.race([this.exited, killed]);
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
