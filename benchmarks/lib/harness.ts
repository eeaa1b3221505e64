/**
 * Child processes for the benchmarks: the server under test runs in its own process (so client
 * and server never share an event loop, as in production), and memory is measured in a fresh
 * process. A tiny request/reply protocol over the IPC channel drives them.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface Call {
  id: number;
  method: string;
  params: unknown;
}
interface Answer {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}
interface Ready {
  ready: unknown;
}

export class Child {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;

  constructor(
    readonly proc: ChildProcess,
    readonly info: unknown,
  ) {
    proc.on('message', (m) => {
      const a = m as Answer;
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      if (a.ok) p.resolve(a.value);
      else p.reject(new Error(a.error));
    });
    proc.once('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`child exited (${code ?? signal}) before answering`));
      this.pending.clear();
    });
  }

  call<T>(method: string, params?: unknown): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`child has exited; cannot call ${method}`));
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, method, params } satisfies Call);
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export interface SpawnOptions {
  /** Extra Node flags (e.g. `--expose-gc`, `--cpu-prof`). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Forks a TypeScript child (through tsx) and resolves once it reported ready. */
export async function spawnChild(script: string, args: string[] = [], options: SpawnOptions = {}): Promise<Child> {
  const proc = fork(script, args, {
    execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...options.env },
  });
  const info = await new Promise<unknown>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${script} not ready within ${options.timeoutMs ?? 30_000} ms`));
    }, options.timeoutMs ?? 30_000);
    const onMessage = (m: unknown): void => {
      if (typeof m === 'object' && m !== null && 'ready' in m) {
        clearTimeout(timer);
        proc.off('message', onMessage);
        proc.off('exit', onExit);
        resolve((m as Ready).ready);
      }
    };
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before it was ready`));
    };
    proc.on('message', onMessage);
    proc.once('exit', onExit);
  });
  return new Child(proc, info);
}

/** Child side: answer calls with `handlers`, then report `ready`. Exits on SIGTERM after `onClose`. */
export function serveCalls(
  handlers: Record<string, (params: never) => unknown>,
  ready: unknown,
  onClose: () => Promise<void> | void = () => undefined,
): void {
  process.on('message', (m) => {
    const c = m as Call;
    const handler = handlers[c.method];
    void (async () => {
      try {
        if (!handler) throw new Error(`unknown call ${c.method}`);
        const value = await handler(c.params as never);
        process.send?.({ id: c.id, ok: true, value } satisfies Answer);
      } catch (err) {
        process.send?.({ id: c.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies Answer);
      }
    })();
  });
  let closing = false;
  process.on('SIGTERM', () => {
    if (closing) return;
    closing = true;
    void Promise.resolve(onClose()).finally(() => process.exit(0));
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.send?.({ ready });
}
