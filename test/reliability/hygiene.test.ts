/**
 * Resource hygiene: many lock cycles, watcher open/close cycles and election campaign/resign
 * cycles leave no session on the server, no growth in the process's active handles, and heap
 * growth under a stated bound (measured after a forced GC, printed).
 *
 * CI mode runs 300 / 500 / 100 cycles; `RELIABILITY_SECONDS=… npm run test:reliability` runs the
 * full 10,000 / 1,000 / 1,000.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigWatcher, Coordinator, LeaderElection, Lock } from '../../src/index.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';

const LONG = Number(process.env.RELIABILITY_SECONDS ?? 0) > 0;
const LOCK_CYCLES = LONG ? 10_000 : 300;
const WATCHER_CYCLES = LONG ? 1_000 : 500;
const ELECTION_CYCLES = LONG ? 1_000 : 100;
/** Heap growth allowed over a whole run of cycles (the dev server lives in this process too). */
const HEAP_BOUND_MB = 16;
/** Active handles may differ by a few pooled keep-alive sockets between two moments. */
const HANDLE_SLACK = 4;
const OPTIONS = { ttl: '2s', lockDelay: 0 } as const;

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

let dev: DevServer;
beforeAll(async () => {
  dev = await startDevServer({ sessionTtlMin: '100ms' });
});
afterAll(async () => {
  await dev.close();
});

interface Footprint {
  heapMb: number;
  handles: number;
}
function footprint(): Footprint {
  gc();
  gc();
  return { heapMb: process.memoryUsage().heapUsed / 2 ** 20, handles: process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length };
}

/** Runs `cycles` cycles after a warm-up of 20, measuring the footprint around them. */
async function measure(name: string, cycles: number, cycle: (i: number) => Promise<void>): Promise<{ before: Footprint; after: Footprint }> {
  for (let i = 0; i < 20; i++) await cycle(i);
  const before = footprint();
  const started = Date.now();
  for (let i = 0; i < cycles; i++) await cycle(i);
  const after = footprint();
  console.log(
    `${name}: ${cycles} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s; heap ${before.heapMb.toFixed(1)} → ${after.heapMb.toFixed(1)} MB ` +
      `(+${(after.heapMb - before.heapMb).toFixed(1)}, bound +${HEAP_BOUND_MB}); active handles ${before.handles} → ${after.handles}; sessions left ${dev.state.listSessions().length}`,
  );
  return { before, after };
}

describe('resource hygiene', () => {
  it(
    `${LOCK_CYCLES} lock acquire/release cycles`,
    async () => {
      const coord = new Coordinator({ address: dev.url });
      const lock = new Lock(coord, 'hygiene/lock', OPTIONS);
      const { before, after } = await measure('lock', LOCK_CYCLES, async () => {
        const handle = await lock.acquire();
        await handle.release();
      });
      // release() resolves once the key is free; the hold's session is destroyed right after, in
      // the background: at most the last one is still on its way, and close() awaits it.
      expect(dev.state.listSessions().length).toBeLessThanOrEqual(1);
      await lock.close();
      expect(dev.state.listSessions()).toEqual([]);
      expect(after.handles).toBeLessThanOrEqual(before.handles + HANDLE_SLACK);
      expect(after.heapMb - before.heapMb).toBeLessThan(HEAP_BOUND_MB);
      await coord.close();
    },
    LONG ? 1_800_000 : 300_000,
  );

  it(
    `${WATCHER_CYCLES} config watcher open/ready/close cycles`,
    async () => {
      const coord = new Coordinator({ address: dev.url });
      await coord.api.kv.put('hygiene/config/a', '1');
      const { before, after } = await measure('watcher', WATCHER_CYCLES, async () => {
        const watcher = new ConfigWatcher(coord, 'hygiene/config/');
        await watcher.ready();
        expect(watcher.get('a')).toBe('1');
        await watcher.close();
      });
      expect(after.handles).toBeLessThanOrEqual(before.handles + HANDLE_SLACK);
      expect(after.heapMb - before.heapMb).toBeLessThan(HEAP_BOUND_MB);
      await coord.close();
    },
    LONG ? 600_000 : 120_000,
  );

  it(
    `${ELECTION_CYCLES} election campaign/resign cycles`,
    async () => {
      const coord = new Coordinator({ address: dev.url });
      const election = new LeaderElection(coord, 'hygiene/leader', OPTIONS);
      const { before, after } = await measure('election', ELECTION_CYCLES, async () => {
        await election.campaign();
        await election.resign();
      });
      expect(dev.state.listSessions().length).toBeLessThanOrEqual(1);
      expect(dev.state.getKey('hygiene/leader')).toBeUndefined();
      await election.close();
      expect(dev.state.listSessions()).toEqual([]);
      expect(after.handles).toBeLessThanOrEqual(before.handles + HANDLE_SLACK);
      expect(after.heapMb - before.heapMb).toBeLessThan(HEAP_BOUND_MB);
      await coord.close();
    },
    LONG ? 600_000 : 120_000,
  );
});
