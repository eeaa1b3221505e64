/**
 * A double-barrier participant SIGKILLed inside the barrier is counted out when Consul ends its
 * session: the others' leave() completes without it, and nothing of it is left on the server.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';

const WORKER = fileURLToPath(new URL('./fixtures/barrier-worker.ts', import.meta.url));

describe('a double barrier with a participant killed', () => {
  let dev: DevServer;
  let coord: Coordinator;

  beforeEach(async () => {
    dev = await startDevServer({ port: 0, host: '127.0.0.1', sessionTtlMin: '100ms' });
    coord = new Coordinator({ address: dev.url });
  });

  afterEach(async () => {
    await coord.close();
    await dev.close();
  });

  it('lets the others leave once the killed participant’s session ends', async () => {
    const prefix = 'barriers/killed';
    const child = fork(WORKER, [JSON.stringify({ address: dev.url, prefix, count: 3, ttl: '1s' })], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    try {
      const entered = new Promise<void>((resolve) => child.once('message', () => resolve()));
      // TTLs long enough that a participant starved by a loaded machine keeps its session.
      const others = [coord.doubleBarrier(prefix, { count: 3, ttl: '1s' }), coord.doubleBarrier(prefix, { count: 3, ttl: '1s' })];
      await Promise.all([...others.map((b) => b.enter({ timeout: '30s' })), entered]);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await Promise.all(others.map((b) => b.leave({ timeout: '30s' })));
      expect(others.map((b) => b.state)).toEqual(['idle', 'idle']);
      expect(dev.state.listKeys(`${prefix}/`)).toEqual([]);
      expect(dev.state.listSessions()).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  }, 60_000);
});
