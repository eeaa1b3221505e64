/**
 * Fair (FIFO) mode of Lock and Semaphore: first come, first served among fair waiters, each
 * blocked only on the waiter just ahead of it, so a release wakes one waiter — shown by counting
 * the requests per handoff, which stay the same from 2 to 50 waiters (default mode: grows with N).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../src/coordinator.js';
import { Lock, type LockHandle } from '../../src/recipes/lock/lock.js';
import { Semaphore, type Permit } from '../../src/recipes/semaphore/semaphore.js';
import { countRequests, type RequestCounter } from '../support/request-counter.js';
import { consulFetch, kvPath } from '../support/target.js';
import { waitFor } from '../support/wait.js';
import { GoLock, GoSemaphore } from './go-recipes.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';
import { Occupancy } from '../support/occupancy.js';

const fx = useLockFixture();
/** Long enough that no renewal lands in a count. */
const TTL = '60s';

let counter: RequestCounter | undefined;
afterEach(() => {
  counter?.stop();
  counter = undefined;
});

/** Keys under `prefix` (raw read: what an operator would see). */
async function keysUnder(prefix: string): Promise<Array<{ Key: string; Session?: string }>> {
  const res = await consulFetch(fx.target, 'GET', kvPath(prefix, 'recurse'));
  return res.status === 404 ? [] : (res.json() as Array<{ Key: string; Session?: string }>);
}

/** Starts `acquire` on each contender in turn, each only once the previous one waits: a known arrival order. */
async function lineUp<H>(contenders: Array<Lock | Semaphore>): Promise<Array<Promise<H>>> {
  const pending: Array<Promise<H>> = [];
  for (const c of contenders) {
    const waiting = nextEvent(c, 'waiting');
    pending.push(c.acquire() as Promise<H>);
    await waiting;
  }
  return pending;
}

describe('fair lock', () => {
  it('serves fair waiters first come, first served, and leaves no queue entry behind', async () => {
    const coord = fx.coord();
    const key = fx.key('fifo');
    const holder = await new Lock(coord, key, { ttl: fx.ttl, fair: true }).acquire();
    const waiters = Array.from({ length: 5 }, () => new Lock(coord, key, { ttl: fx.ttl, fair: true }));
    const pending = await lineUp<LockHandle>(waiters);
    const order: number[] = [];
    const done = pending.map(async (p, i) => {
      const handle = await p;
      order.push(i);
      await handle.release();
    });
    await holder.release();
    await Promise.all(done);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(await keysUnder(`${key}.fair/`)).toEqual([]);
  });

  it('a waiter that is aborted leaves the queue and the one behind it moves up', async () => {
    const coord = fx.coord();
    const key = fx.key('abort');
    const holder = await new Lock(coord, key, { ttl: fx.ttl, fair: true }).acquire();
    const [first, second] = [new Lock(coord, key, { ttl: fx.ttl, fair: true }), new Lock(coord, key, { ttl: fx.ttl, fair: true })];
    const controller = new AbortController();
    const firstWaiting = nextEvent(first, 'waiting');
    const aborted = first.acquire({ signal: controller.signal });
    await firstWaiting;
    const [secondPending] = await lineUp<LockHandle>([second]);
    // In line: the holder, the first waiter, the second (by CreateIndex).
    const line = async (): Promise<string[]> =>
      ((await keysUnder(`${key}.fair/`)) as Array<{ Key: string; CreateIndex: number }>).sort((a, b) => a.CreateIndex - b.CreateIndex).map((e) => e.Key);
    const before = await line();
    expect(before).toHaveLength(3);

    controller.abort(new Error('gave up'));
    await expect(aborted).rejects.toThrow('gave up');
    expect(await line()).toEqual([before[0], before[2]]);

    await holder.release();
    const handle = await secondPending!;
    expect(handle.signal.aborted).toBe(false);
    await handle.release();
  });

  it('tryAcquire() does not overtake anybody in line, and never joins the line', async () => {
    const coord = fx.coord();
    const key = fx.key('try');
    // Somebody in line (a raw entry locked by a live session) while the key itself is free.
    const created = await consulFetch(fx.target, 'PUT', '/v1/session/create', { body: JSON.stringify({ TTL: '60s', LockDelay: '0s' }) });
    const waiting = (created.json() as { ID: string }).ID;
    await consulFetch(fx.target, 'PUT', kvPath(`${key}.fair/${waiting}`, `acquire=${waiting}`), { body: '' });
    const lock = new Lock(coord, key, { ttl: fx.ttl, fair: true });
    expect(await lock.tryAcquire()).toBeNull();
    expect((await keysUnder(`${key}.fair/`)).map((e) => e.Key)).toEqual([`${key}.fair/${waiting}`]);
    // Its session ends: the entry is dead, nobody is in line, the try takes the key.
    await consulFetch(fx.target, 'PUT', `/v1/session/destroy/${waiting}`);
    const handle = await lock.tryAcquire();
    expect(handle).not.toBeNull();
    await handle!.release();
    await consulFetch(fx.target, 'DELETE', kvPath(`${key}.fair/${waiting}`));
  });

  it('a waiter whose session dies (a crashed process) is skipped, and its entry removed', async () => {
    const coord = fx.coord();
    const key = fx.key('crash');
    const holder = await new Lock(coord, key, { ttl: fx.ttl, fair: true }).acquire();
    // A fair waiter of a process that then crashed: its entry, locked by its session.
    const created = await consulFetch(fx.target, 'PUT', '/v1/session/create', { body: JSON.stringify({ TTL: '60s', LockDelay: '0s', Behavior: 'release' }) });
    const crashed = (created.json() as { ID: string }).ID;
    const locked = await consulFetch(fx.target, 'PUT', kvPath(`${key}.fair/${crashed}`, `acquire=${crashed}`), { body: '' });
    expect(locked.text.trim()).toBe('true');
    const behind = new Lock(coord, key, { ttl: fx.ttl, fair: true });
    const [pending] = await lineUp<LockHandle>([behind]);

    // The crash: Consul ends the session (here destroyed; a TTL expiry does the same), which
    // unlocks its entry. The waiter behind it moves up to first in line.
    await consulFetch(fx.target, 'PUT', `/v1/session/destroy/${crashed}`);
    await waitFor(async () => !(await keysUnder(`${key}.fair/`)).some((e) => e.Key.endsWith(crashed)), { message: 'the dead entry was removed' });

    await holder.release();
    const handle = await pending!;
    expect(handle.signal.aborted).toBe(false);
    await handle.release();
  });

  describe('hand-over', () => {
    /** A fair Lock on `key` with a session of its own making (kept: a release destroys nothing). */
    async function fairLock(coord: Coordinator, key: string, value: string): Promise<{ lock: Lock; sessionId: string }> {
      const session = await coord.session({ ttl: TTL, lockDelay: 0 });
      return { lock: new Lock(coord, key, { session, fair: true, value }), sessionId: session.id };
    }

    /** `a` holds; `rest` line up behind it; `a` releases, so `rest[0]` takes the key and sees who waits behind it. */
    async function holderWithHeir(key: string, names: string[]): Promise<{ holder: LockHandle; pending: Array<Promise<LockHandle>>; locks: Array<{ lock: Lock; sessionId: string }> }> {
      const coord = fx.coord();
      const locks = await Promise.all(names.map((n) => fairLock(coord, key, n)));
      const first = await locks[0]!.lock.acquire();
      const pending = await lineUp<LockHandle>(locks.slice(1).map((l) => l.lock));
      await first.release();
      return { holder: await pending[0]!, pending: pending.slice(1), locks };
    }

    it.runIf(fx.isDev)('a holder that knows the next waiter hands the key over in one transaction: the heir writes nothing to get it', async () => {
      const key = fx.key('hand-over');
      const c = countRequests(fx.dev.port);
      counter = c;
      const { holder, pending, locks } = await holderWithHeir(key, ['a', 'b', 'c']);
      await waitFor(() => c.parked === 2, { message: 'the holder monitors, the heir waits' });
      c.take();
      const released = holder.release();
      const heir = await pending[0]!;
      // Up to the heir's acquire resolving, the server saw one request: the hand-over.
      expect(c.takeRoutes()).toEqual(['PUT /v1/txn']);
      await released;
      const res = await consulFetch(fx.target, 'GET', kvPath(key));
      const [entry] = res.json() as Array<{ Session?: string; ModifyIndex: number; Flags: number; Value: string }>;
      expect(entry!.Session).toBe(locks[2]!.sessionId);
      expect(entry!.ModifyIndex).toBe(heir.fencingToken);
      expect(Buffer.from(entry!.Value, 'base64').toString()).toBe('c');
      expect(heir.fencingToken).toBeGreaterThan(holder.fencingToken);
      await heir.release();
      await Promise.all(locks.map((l) => l.lock.close()));
      expect(await keysUnder(`${key}.fair/`)).toEqual([]);
    });

    it('a hand-over to a waiter that has left is refused, and the release wakes the one behind it', async () => {
      const key = fx.key('hand-over-left');
      const coord = fx.coord();
      const [a, b, cLock, d] = await Promise.all(['a', 'b', 'c', 'd'].map((n) => fairLock(coord, key, n)));
      const first = await a!.lock.acquire();
      const [bPending] = await lineUp<LockHandle>([b!.lock]);
      const leave = new AbortController();
      const cWaiting = nextEvent(cLock!.lock, 'waiting');
      const cPending = cLock!.lock.acquire({ signal: leave.signal });
      await cWaiting;
      const [dPending] = await lineUp<LockHandle>([d!.lock]);
      await first.release();
      const holder = await bPending!; // saw c (its heir) and d behind it
      leave.abort(new Error('gave up'));
      await expect(cPending).rejects.toThrow('gave up');
      await holder.release();
      const next = await dPending!;
      expect(next.signal.aborted).toBe(false);
      const [entry] = (await consulFetch(fx.target, 'GET', kvPath(key))).json() as Array<{ Session?: string }>;
      expect(entry!.Session).toBe(d!.sessionId);
      await next.release();
      await Promise.all([a, b, cLock, d].map((l) => l!.lock.close()));
      expect(await keysUnder(`${key}.fair/`)).toEqual([]);
    });

    it('a waiter aborted after the key was handed to it gives the key back', async () => {
      const key = fx.key('hand-over-abort');
      const coord = fx.coord();
      const [a, b] = await Promise.all(['a', 'b'].map((n) => fairLock(coord, key, n)));
      const holder = await a!.lock.acquire();
      const leave = new AbortController();
      const bWaiting = nextEvent(b!.lock, 'waiting');
      const bPending = b!.lock.acquire({ signal: leave.signal });
      await bWaiting;
      // A hand-over whose marker the waiter has not seen yet: the key is locked for its session.
      const lockFlags = '3304740253564472344'; // 0x2ddccbc058a50c18
      const txn = await consulFetch(fx.target, 'PUT', '/v1/txn', {
        body: `[{"KV":{"Verb":"unlock","Key":${JSON.stringify(key)},"Flags":${lockFlags},"Session":"${a!.sessionId}"}},{"KV":{"Verb":"lock","Key":${JSON.stringify(key)},"Flags":${lockFlags},"Session":"${b!.sessionId}"}}]`,
      });
      expect(txn.status).toBe(200);
      leave.abort(new Error('gave up'));
      await expect(bPending).rejects.toThrow('gave up');
      const [entry] = (await consulFetch(fx.target, 'GET', kvPath(key))).json() as Array<{ Session?: string }>;
      expect(entry!.Session).toBeUndefined();
      expect((await keysUnder(`${key}.fair/`)).map((e) => e.Key)).not.toContain(`${key}.fair/${b!.sessionId}`);
      // (The holder saw its key taken: lost, it left the line.)
      expect(holder.signal.aborted).toBe(true);
      await Promise.all([a, b].map((l) => l!.lock.close()));
    });

    it('a holder that asks again right after handing over waits behind everybody already in line', async () => {
      const key = fx.key('hand-over-again');
      const coord = fx.coord();
      // The heir is slow (its connection delays every chunk), so the holder asks again long before
      // the heir could delete the marker its entry became: the new entry must not keep the old place.
      const proxy = await fx.proxy();
      const slow = fx.coord({ via: proxy.url });
      const [a, b, d] = await Promise.all(['a', 'b', 'd'].map((n) => fairLock(coord, key, n)));
      const cLock = await fairLock(slow, key, 'c');
      const first = await a!.lock.acquire();
      const [bPending, cPending, dPending] = await lineUp<LockHandle>([b!.lock, cLock.lock, d!.lock]);
      await first.release();
      const holder = await bPending!; // its heir: c
      proxy.delay(40);
      const order: string[] = [];
      const c = cPending!.then((h) => (order.push('c'), h));
      const dDone = dPending!.then(async (h) => (order.push('d'), await h.release()));
      await holder.release();
      const bAgain = b!.lock.acquire().then(async (h) => (order.push('b'), await h.release()));
      await (await c).release();
      await Promise.all([dDone, bAgain]);
      expect(order).toEqual(['c', 'd', 'b']);
      proxy.delay(0);
      await Promise.all([a, b, cLock, d].map((l) => l!.lock.close()));
      expect(await keysUnder(`${key}.fair/`)).toEqual([]);
    });
  });

  it('10 fair contenders × 10 rounds never hold the lock together; tokens strictly increase', async () => {
    const coords = [fx.coord(), fx.coord()];
    const key = fx.key('fair-mutex');
    const occupancy = new Occupancy();
    const tokens: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async (_, n) => {
        const lock = new Lock(coords[n % 2]!, key, { ttl: fx.ttl, lockDelay: 0, fair: true });
        for (let round = 0; round < 10; round++) {
          const handle = await lock.acquire({ timeout: '30s' });
          tokens.push(handle.fencingToken);
          await occupancy.visit(() => expect(handle.signal.aborted).toBe(false));
          await handle.release();
        }
      }),
    );
    expect(occupancy.max).toBe(1);
    expect(tokens).toHaveLength(100);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    expect(await keysUnder(`${key}.fair/`)).toEqual([]);
  }, 60_000);

  it('fair waiters and a Go api.Lock that barges in never hold the lock together', async () => {
    const key = fx.key('mixed');
    const occupancy = new Occupancy();
    const coords = [fx.coord(), fx.coord()];
    const fair = Array.from({ length: 4 }, async (_, n) => {
      const lock = new Lock(coords[n % 2]!, key, { ttl: fx.ttl, lockDelay: 0, fair: true });
      for (let round = 0; round < 8; round++) {
        const handle = await lock.acquire({ timeout: '30s' });
        expect(handle.signal.aborted).toBe(false);
        await occupancy.visit();
        await handle.release();
      }
    });
    const go = (async () => {
      const lock = new GoLock(fx.target, key, { sessionTtl: fx.isDev ? '10s' : '15s', lockRetryMs: 50, waitTime: '2s' });
      for (let round = 0; round < 8; round++) {
        expect(await lock.lock()).toBe(true);
        await occupancy.visit();
        await lock.unlock();
      }
    })();
    await Promise.all([...fair, go]);
    expect(occupancy.max).toBe(1);
  }, 60_000);

  describe.runIf(fx.isDev)('requests per handoff', () => {
    /**
     * One holder and `n` waiters (each its own session), lined up; then `handoffs` handoffs, each
     * counted from the holder's release until the next holder's monitor has parked and every
     * waiter is blocked again. Returns the routes of each handoff.
     */
    async function handoffs(n: number, fair: boolean, rounds = 2): Promise<string[][]> {
      const coord: Coordinator = fx.coord();
      const key = fx.key(`handoff-${n}-${fair}`);
      const c = countRequests(fx.dev.port);
      counter = c;
      const options = { ttl: TTL, lockDelay: 0, fair };
      let handle = await new Lock(coord, key, options).acquire();
      const waiters = Array.from({ length: n }, () => new Lock(coord, key, options));
      const pending = await lineUp<LockHandle>(waiters);
      // Everybody parked: the holder's monitor and one blocking read per waiter.
      await waitFor(() => c.parked === n + 1, { message: 'all waiters parked' });
      const counts: string[][] = [];
      for (let i = 0; i < rounds; i++) {
        c.take();
        await handle.release();
        handle = await pending[i]!;
        // The new holder's monitor parks, and every waiter left is parked again.
        const stillWaiting = n - 1 - i;
        // (The released hold's session is destroyed after release() resolves, and a hand-over's
        // marker is deleted by the new holder after it acquired: wait for those too.)
        await waitFor(
          () =>
            c.requests.some((r) => r.route === 'GET /v1/kv?index&consistent') &&
            c.requests.some((r) => r.route === 'PUT /v1/session/destroy') &&
            c.parked === 1 + stillWaiting &&
            fx.dev.state.listKeys(`${key}.fair/`).every((e) => e.session !== undefined),
          { message: 'everybody parked again' },
        );
        counts.push(c.takeRoutes());
      }
      await handle.release();
      for (const p of pending.slice(rounds)) await (await p).release();
      return counts;
    }

    it('a fair release wakes one waiter: the same requests per handoff with 2 and with 50 waiters', async () => {
      const two = await handoffs(2, true, 2);
      const fifty = await handoffs(50, true, 3);
      // The first holder took the key before anybody waited, so it knows no heir: release-and-leave,
      // destroy; the next in line, woken at the release's index, takes the key with a transaction
      // checked at that index (no look first; it reads the queue too), and parks its monitor.
      const released = ['GET /v1/kv?index&consistent', 'PUT /v1/session/destroy', 'PUT /v1/txn', 'PUT /v1/txn'];
      // That holder saw the next waiter in its transaction's answer: it hands the key over (one
      // transaction), its session is destroyed; the heir wakes holding the key, looks for its own
      // heir, deletes the hand-over's marker and parks its monitor.
      const handedOver = ['DELETE /v1/kv?cas', 'GET /v1/kv?index&consistent', 'PUT /v1/session/destroy', 'PUT /v1/txn', 'PUT /v1/txn'];
      expect(two).toEqual([released, handedOver]);
      expect(fifty).toEqual([released, handedOver, handedOver]);
    }, 60_000);

    it('in default mode every waiter wakes: requests per handoff grow with the number of waiters', async () => {
      const [two] = await handoffs(2, false, 1);
      const [fifty] = await handoffs(50, false, 1);
      expect(two!.length).toBeLessThan(10);
      // Each of the 49 waiters left reads the key again after the release.
      expect(fifty!.length).toBeGreaterThanOrEqual(49);
    }, 60_000);
  });
});

describe('fair semaphore', () => {
  it('serves fair waiters first come, first served', async () => {
    const coord = fx.coord();
    const prefix = fx.key('sem-fifo');
    const options = { limit: 2, ttl: fx.ttl, fair: true };
    const holders = await Promise.all([new Semaphore(coord, prefix, options).acquire(), new Semaphore(coord, prefix, options).acquire()]);
    const waiters = Array.from({ length: 4 }, () => new Semaphore(coord, prefix, options));
    const pending = await lineUp<Permit>(waiters);
    const order: number[] = [];
    const done = pending.map(async (p, i) => {
      const permit = await p;
      order.push(i);
      // Hold until the next one in line is served, so slots free one at a time.
      await permit.release();
    });
    for (const h of holders) await h.release();
    await Promise.all(done);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  });

  it('fair waiters and a Go api.Semaphore that takes free slots first never exceed the limit', async () => {
    const prefix = fx.key('sem-mixed');
    const limit = 2;
    const occupancy = new Occupancy();
    const coords = [fx.coord(), fx.coord()];
    const fair = Array.from({ length: 4 }, async (_, n) => {
      const sem = new Semaphore(coords[n % 2]!, prefix, { limit, ttl: fx.ttl, fair: true });
      for (let round = 0; round < 6; round++) {
        const permit = await sem.acquire({ timeout: '30s' });
        expect(permit.signal.aborted).toBe(false);
        await occupancy.visit();
        await permit.release();
      }
    });
    const go = Array.from({ length: 2 }, async () => {
      const sem = new GoSemaphore(fx.target, prefix, limit, { sessionTtl: fx.isDev ? '10s' : '15s', waitTime: '2s' });
      for (let round = 0; round < 6; round++) {
        expect(await sem.acquire()).toBe(true);
        await occupancy.visit();
        await sem.release();
      }
    });
    await Promise.all([...fair, ...go]);
    expect(occupancy.max).toBeLessThanOrEqual(limit);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  }, 60_000);

  it.runIf(fx.isDev)('a freed slot wakes one waiter: the same requests per handoff with 2 and with 30 waiters', async () => {
    async function handoff(n: number): Promise<string[]> {
      const coord = fx.coord();
      const prefix = fx.key(`sem-handoff-${n}`);
      const c = countRequests(fx.dev.port);
      counter = c;
      const options = { limit: 1, ttl: TTL, lockDelay: 0, fair: true };
      const holder = await new Semaphore(coord, prefix, options).acquire();
      const pending = await lineUp<Permit>(Array.from({ length: n }, () => new Semaphore(coord, prefix, options)));
      await waitFor(() => c.parked === n + 1, { message: 'all waiters parked' });
      c.take();
      await holder.release();
      const next = await pending[0]!;
      // The new holder's monitor parks, and every waiter left is parked again (the next in line,
      // now first, on the prefix).
      await waitFor(() => c.requests.some((r) => r.route === 'GET /v1/kv?index&recurse&consistent') && c.parked === n, { message: 'everybody parked again' });
      const routes = c.takeRoutes();
      c.stop();
      await next.release();
      for (const p of pending.slice(1)) await (await p).release();
      return routes;
    }
    const two = await handoff(2);
    const thirty = await handoff(30);
    // leave, destroy; the first in line takes the slot and parks its monitor; the next in line,
    // woken by that, lists once and blocks on the prefix. Nobody else moves.
    expect(two).toEqual(['GET /v1/kv?index&recurse', 'GET /v1/kv?index&recurse&consistent', 'GET /v1/kv?recurse', 'PUT /v1/session/destroy', 'PUT /v1/txn', 'PUT /v1/txn']);
    expect(thirty).toEqual(two);
  }, 60_000);
});
