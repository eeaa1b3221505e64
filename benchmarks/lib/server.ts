/** Starts the server process (dev server + floor) and counts the Consul requests an operation costs. */
import { fileURLToPath } from 'node:url';
import type { CheckStatus, DevServerOptions } from '../../src/testing/index.js';
import { spawnChild, type Child } from './harness.js';
import type { RequestCount, ServerInfo } from './server-child.js';

const SERVER_CHILD = fileURLToPath(new URL('./server-child.ts', import.meta.url));

export class BenchServer {
  private constructor(
    private readonly child: Child,
    readonly info: ServerInfo,
  ) {}

  static async start(options: DevServerOptions = {}): Promise<BenchServer> {
    // BENCH_SERVER_CPU_PROF=<dir> profiles the server process (node --cpu-prof).
    const profDir = process.env.BENCH_SERVER_CPU_PROF;
    const execArgv = ['--expose-gc', ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
    const child = await spawnChild(SERVER_CHILD, [JSON.stringify(options)], { execArgv });
    return new BenchServer(child, child.info as ServerInfo);
  }

  get url(): string {
    return this.info.url;
  }

  get floorUrl(): string {
    return this.info.floorUrl;
  }

  /** Requests the dev server received since the last reset. */
  requests(reset = false): Promise<RequestCount> {
    return this.child.call<RequestCount>('count', { reset });
  }

  invalidateSession(id: string): Promise<boolean> {
    return this.child.call<boolean>('invalidateSession', id);
  }

  setCheckStatus(checkId: string, status: CheckStatus): Promise<void> {
    return this.child.call<void>('setCheckStatus', { checkId, status });
  }

  memory(): Promise<NodeJS.MemoryUsage> {
    return this.child.call<NodeJS.MemoryUsage>('memory');
  }

  close(): Promise<void> {
    return this.child.close();
  }
}

/**
 * Runs `fn` and returns its result with the requests the dev server received meanwhile. Other
 * traffic of the run (renewals, parked watchers answering) counts too: that is the cost.
 */
export async function counted<T>(server: BenchServer, fn: () => Promise<T>): Promise<{ value: T; requests: RequestCount }> {
  await server.requests(true);
  const value = await fn();
  const requests = await server.requests(true);
  return { value, requests };
}
