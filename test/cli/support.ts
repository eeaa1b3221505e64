/**
 * Harness of the CLI tests: the real built binary run as a child process against a Consul target
 * (the embedded dev server, or CONSUL_HTTP_ADDR), a scratch directory per test for the wrapped
 * command's marker files (fixtures/child.cjs), and helpers that wait for output or files instead
 * of sleeping. `afterEach` kills every CLI still running and checks no session is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect, vi } from 'vitest';
import { consulFetch, startTarget, type Target } from '../support/target.js';
import { CLI, ensureBuilt } from './build.js';

export { CLI } from './build.js';

export const CHILD = fileURLToPath(new URL('./fixtures/child.cjs', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<CliResult>;
  /** Resolves once stdout or stderr (as named) matches. */
  waitForOutput(pattern: RegExp, stream?: 'stdout' | 'stderr', timeout?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

export interface CliFixture {
  readonly target: Target;
  /** Scratch directory of the current test. */
  readonly dir: string;
  /** A key prefix unique to the current test. */
  readonly prefix: string;
  /** Environment pointing the CLI at the target. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  start(args: readonly string[], options?: { env?: NodeJS.ProcessEnv }): CliProcess;
  run(args: readonly string[], options?: { env?: NodeJS.ProcessEnv; timeout?: number }): Promise<CliResult>;
  /** `node fixtures/child.cjs <dir> <name> …`: the words after `--`. */
  child(name: string, exitCode?: number, onSigterm?: 'exit' | 'exit42' | 'ignore'): string[];
  /** Lets the child named `name` finish. */
  release(name: string): void;
  /** The child's record (pid, lock variables), once it has started. */
  started(name: string, timeout?: number): Promise<{ pid: number; held: string | null; leader: string | null; token: string | null; session: string | null }>;
  /** Lines of the shared log, e.g. ["start a", "end a", "start b"]. */
  log(): string[];
  consul<T = unknown>(method: string, urlPath: string, body?: object | string | Buffer): Promise<{ status: number; json: () => T; text: string }>;
}

/** Runs the binary once; resolves when it exits. */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    notify();
  });
  const exited = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
      notify();
    });
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForOutput(pattern, stream = 'stderr', timeout = 15_000) {
      const text = (): string => (stream === 'stdout' ? stdout : stderr);
      if (pattern.test(text())) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(text())) {
            finish();
            resolve();
          } else if (ended) {
            finish();
            reject(new Error(`the CLI exited before printing ${pattern} on ${stream}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no ${pattern} on ${stream} within ${timeout} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        }, timeout);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      });
    },
    kill(signal) {
      if (!ended) child.kill(signal);
    },
  };
}

/** True while a process with this pid exists. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function useCliFixture(devOptions: Parameters<typeof startTarget>[0] = {}): CliFixture {
  let target: Target | undefined;
  let dir = '';
  let prefix = '';
  let counter = 0;
  const running = new Set<CliProcess>();

  beforeAll(async () => {
    await ensureBuilt();
    target = await startTarget(devOptions);
  }, 180_000);

  afterAll(async () => {
    await target?.close();
  });

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'consul-recipes-cli-'));
    counter += 1;
    prefix = `cli-test/${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
  });

  afterEach(async () => {
    const leftovers = [...running];
    for (const cli of leftovers) cli.kill('SIGKILL');
    await Promise.all(leftovers.map((c) => c.exited));
    running.clear();
    const list = await fx.consul<Array<{ ID: string; Name: string }>>('GET', '/v1/session/list');
    // On a shared real agent other test files hold sessions of their own at the same time: only
    // count the sessions of this test's prefix there (every CLI session name carries it).
    const shared = target?.kind !== 'dev';
    const ours = list.json().filter((s) => s.Name.startsWith('consul-recipes') && (!shared || s.Name.includes(prefix)));
    if (leftovers.length > 0) {
      // A test that failed midway: clear the way for the next one; its own failure says why.
      for (const s of ours) await fx.consul('PUT', `/v1/session/destroy/${s.ID}`);
    } else {
      // Every CLI destroys its sessions before exiting.
      expect(ours, 'sessions left behind').toEqual([]);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const fx: CliFixture = {
    get target() {
      if (!target) throw new Error('target not started');
      return target;
    },
    get dir() {
      return dir;
    },
    get prefix() {
      return prefix;
    },
    env(extra = {}) {
      const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: fx.target.url, ...extra };
      if (fx.target.token !== undefined) env.CONSUL_HTTP_TOKEN = fx.target.token;
      return env;
    },
    start(args, options = {}) {
      const cli = startCli(args, options.env ?? fx.env());
      running.add(cli);
      void cli.exited.then(() => running.delete(cli));
      return cli;
    },
    async run(args, options = {}) {
      const cli = fx.start(args, options);
      const timeout = options.timeout ?? 20_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`consul-recipes ${args.join(' ')} did not exit within ${timeout} ms\nstderr:\n${cli.stderr()}`)), timeout);
      });
      try {
        return await Promise.race([cli.exited, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
    child(name, exitCode = 0, onSigterm = 'exit') {
      return [process.execPath, CHILD, dir, name, String(exitCode), onSigterm];
    },
    release(name) {
      writeFileSync(path.join(dir, `${name}.go`), '');
    },
    async started(name, timeout = 15_000) {
      const file = path.join(dir, `${name}.json`);
      await vi.waitFor(
        () => {
          if (!existsSync(file)) throw new Error(`${name} has not started`);
          JSON.parse(readFileSync(file, 'utf8'));
        },
        { timeout, interval: 20 },
      );
      return JSON.parse(readFileSync(file, 'utf8'));
    },
    log() {
      const file = path.join(dir, 'log');
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    },
    async consul<T>(method: string, urlPath: string, body?: object | string | Buffer) {
      const res = await consulFetch(fx.target, method, urlPath, body === undefined ? {} : { body });
      return { status: res.status, text: res.text, json: () => res.json<T>() };
    },
  };
  return fx;
}
