/**
 * After `coord.close()`, nothing the Coordinator made is left: no timer (unref()ed ones
 * included), no socket, no session, no heartbeat service, no registered service. The dev server
 * runs in a child process so every handle in this process belongs to the client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/index.js';
import { settle, trackResources } from '../recipes/watch-fixture.js';

let child: ChildProcess;
let url: string;

beforeAll(async () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  child = spawn(process.execPath, ['--import', 'tsx', cli, 'dev', '--port', '0', '--session-ttl-min', '100ms'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  url = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`dev server exited with ${code}`)));
  });
}, 30_000);

afterAll(() => {
  child.kill('SIGTERM');
});

async function get<T>(path: string): Promise<T> {
  return (await fetch(`${url}${path}`)).json() as Promise<T>;
}

describe('Coordinator.close()', () => {
  it('leaves no timer, socket, session or service behind after every recipe ran', async () => {
    const tracker = trackResources();
    try {
      const coord = new Coordinator({ address: url });
      const handle = await coord.lock('leaks/lock', { ttl: '1s', lockDelay: 0, healthCheckTtl: '500ms' }).acquire();
      const permit = await coord.semaphore('leaks/sem', { limit: 2, ttl: '1s' }).acquire();
      const election = coord.election('leaks/leader', { ttl: '1s' });
      await election.campaign();
      const observed = election.observe();
      await observed.next();
      const config = coord.configWatcher('leaks/config/');
      await config.ready();
      const reg = await coord.registerService({ name: 'leaks-svc', port: 1, check: { ttl: '1s' } });
      const instances = coord.serviceWatcher('leaks-svc');
      await instances.ready();
      const events = coord.events.watch('leaks-event');
      await events.ready();
      const queue = coord.queue('leaks/queue', { ttl: '1s' });
      await queue.put('unsettled');
      const unsettled = await queue.take();
      const waitingTake = queue.take().catch((err: unknown) => err);
      const write = await coord.readWriteLock('leaks/rw', { ttl: '1s' }).write().acquire();
      await coord.barrier('leaks/barrier').set();
      const barrierWait = coord.barrier('leaks/barrier').wait().catch((err: unknown) => err);
      const round = coord.doubleBarrier('leaks/double', { count: 1, ttl: '1s' });
      await round.enter();
      await coord.counter('leaks/counter').add(1);
      expect(unsettled.signal.aborted).toBe(false);
      expect(write.signal.aborted).toBe(false);
      expect(handle.signal.aborted).toBe(false);
      expect(permit.signal.aborted).toBe(false);
      expect(reg.id).toBeTruthy();
      expect(tracker.live().length).toBeGreaterThan(0);

      await coord.close();
      expect(await waitingTake).toMatchObject({ code: 'ERR_CLOSED' });
      expect(await barrierWait).toMatchObject({ code: 'ERR_CLOSED' });
      expect(unsettled.state).toBe('nacked');
      await settle(() => tracker.live().length === 0, { timeout: 5000, message: `no live handles (left: ${tracker.live().join(', ')})` });
    } finally {
      tracker.stop();
    }
    expect(await get<unknown[]>('/v1/session/list')).toEqual([]);
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/services'))).toEqual([]);
    expect(Object.keys(await get<Record<string, unknown>>('/v1/agent/checks'))).toEqual([]);
  });
});
