/**
 * Interoperability with Consul's Go recipes: test doubles that follow `api/lock.go` and
 * `api/semaphore.go` step by step over raw HTTP contend with our Lock and Semaphore on the same
 * keys. Exclusion is checked by a shared counter, not by timing.
 */
import { describe, expect, it } from 'vitest';
import { LockConflictError } from '../../src/errors.js';
import { Lock } from '../../src/recipes/lock/lock.js';
import { Semaphore } from '../../src/recipes/semaphore/semaphore.js';
import { consulFetch, kvPath } from '../support/target.js';
import { GO_LOCK_FLAG, GO_SEMAPHORE_FLAG, GoLock, GoSemaphore } from './go-recipes.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

/** Go sessions keep Go's default TTL on real Consul; the dev server accepts a shorter one. */
const goTtl = (): string => (fx.isDev ? '10s' : '15s');

describe('with api.Lock (lock.go)', () => {
  it('a Go holder makes our lock wait, and our holder makes the Go lock wait', async () => {
    const key = fx.key('shared');
    const go = new GoLock(fx.target, key, { sessionTtl: goTtl(), lockRetryMs: 500 });
    expect(await go.lock()).toBe(true);

    const ours = new Lock(fx.coord(), key, { ttl: fx.ttl });
    expect(await ours.tryAcquire()).toBeNull();
    const waiting = nextEvent(ours, 'waiting');
    const pending = ours.acquire({ timeout: '10s' });
    await waiting;
    await go.unlock();
    const handle = await pending;

    // Now the Go contender must wait for us: it blocks on the key until we release.
    const stop = new AbortController();
    const goPending = go.lock(stop.signal);
    let goHeld = false;
    void goPending.then((held) => {
      goHeld = held;
    });
    // Its first read sees our session and it blocks; prove it has not got in while we hold.
    const raw = await consulFetch(fx.target, 'GET', kvPath(key));
    expect(raw.text).toContain(handle.session.id);
    expect(goHeld).toBe(false);
    await handle.release();
    expect(await goPending).toBe(true);
    await go.unlock();
  });

  it('Go and Node contenders never hold the key together', async () => {
    const key = fx.key('mutex');
    let inside = 0;
    let maxInside = 0;
    const critical = async (): Promise<void> => {
      inside += 1;
      maxInside = Math.max(maxInside, inside);
      await new Promise((resolve) => setImmediate(resolve));
      inside -= 1;
    };
    const goContender = async (): Promise<void> => {
      const go = new GoLock(fx.target, key, { sessionTtl: goTtl(), lockRetryMs: 200 });
      for (let round = 0; round < 6; round++) {
        expect(await go.lock()).toBe(true);
        await critical();
        await go.unlock();
      }
    };
    const coord = fx.coord();
    const nodeContender = async (): Promise<void> => {
      const lock = new Lock(coord, key, { ttl: fx.ttl });
      for (let round = 0; round < 6; round++) {
        const handle = await lock.acquire({ timeout: '20s' });
        await critical();
        await handle.release();
      }
    };
    await Promise.all([goContender(), goContender(), nodeContender(), nodeContender()]);
    expect(maxInside).toBe(1);
  });

  it('writes flags Go reads back as exactly LockFlagValue, and Go’s flags read back as our bigint', async () => {
    const coord = fx.coord();
    const handle = await new Lock(coord, fx.key('ours')).acquire();
    const raw = await consulFetch(fx.target, 'GET', kvPath(fx.key('ours')));
    expect(/"Flags":\s*(\d+)/.exec(raw.text)?.[1]).toBe(GO_LOCK_FLAG);
    await handle.release();

    const go = new GoLock(fx.target, fx.key('theirs'), { sessionTtl: goTtl() });
    await go.lock();
    expect((await coord.api.kv.get(fx.key('theirs'))).pair?.flags).toBe(0x2ddccbc058a50c18n);
    await go.unlock();
  });

  it('a Go lock on our semaphore record gets ErrLockConflict; a Go semaphore on our lock gets ErrSemaphoreConflict', async () => {
    const prefix = fx.key('sem');
    const permit = await new Semaphore(fx.coord(), prefix, { limit: 2, ttl: fx.ttl }).acquire();
    await expect(new GoLock(fx.target, `${prefix}/.lock`, { sessionTtl: goTtl() }).lock()).rejects.toThrow(/does not match lock use/);
    await permit.release();

    const handle = await new Lock(fx.coord(), `${fx.key('other')}/.lock`, { ttl: fx.ttl }).acquire();
    await expect(new GoSemaphore(fx.target, fx.key('other'), 1, { sessionTtl: goTtl() }).acquire()).rejects.toThrow(/does not match semaphore use/);
    await handle.release();
  });
});

describe('with api.Semaphore (semaphore.go)', () => {
  it('Go and Node holders never exceed the limit together', async () => {
    const prefix = fx.key('sem');
    const limit = 2;
    let inside = 0;
    let maxInside = 0;
    const critical = async (): Promise<void> => {
      inside += 1;
      maxInside = Math.max(maxInside, inside);
      await new Promise((resolve) => setImmediate(resolve));
      inside -= 1;
    };
    const goContender = async (): Promise<void> => {
      const go = new GoSemaphore(fx.target, prefix, limit, { sessionTtl: goTtl() });
      for (let round = 0; round < 5; round++) {
        expect(await go.acquire()).toBe(true);
        await critical();
        await go.release();
      }
    };
    const coord = fx.coord();
    const nodeContender = async (): Promise<void> => {
      const sem = new Semaphore(coord, prefix, { limit, ttl: fx.ttl });
      for (let round = 0; round < 5; round++) {
        const permit = await sem.acquire({ timeout: '20s' });
        await critical();
        await permit.release();
      }
    };
    await Promise.all([goContender(), goContender(), nodeContender(), nodeContender(), nodeContender()]);
    expect(maxInside).toBeLessThanOrEqual(limit);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  });

  it('a full semaphore held by Go holders makes ours wait until one releases', async () => {
    const prefix = fx.key('sem');
    const goA = new GoSemaphore(fx.target, `${prefix}/`, 2, { sessionTtl: goTtl() });
    const goB = new GoSemaphore(fx.target, `${prefix}/`, 2, { sessionTtl: goTtl() });
    await goA.acquire();
    await goB.acquire();
    const sem = new Semaphore(fx.coord(), prefix, { limit: 2, ttl: fx.ttl });
    expect(await sem.tryAcquire()).toBeNull();
    const waiting = nextEvent(sem, 'waiting');
    const pending = sem.acquire({ timeout: '10s' });
    await waiting;
    await goA.release();
    const permit = await pending;

    // The record, as Go reads it: our session among the holders, flags exact.
    const raw = await consulFetch(fx.target, 'GET', kvPath(`${prefix}/.lock`));
    expect(/"Flags":\s*(\d+)/.exec(raw.text)?.[1]).toBe(GO_SEMAPHORE_FLAG);
    const value = JSON.parse(Buffer.from((raw.json() as Array<{ Value: string }>)[0]!.Value, 'base64').toString()) as {
      Limit: number;
      Holders: Record<string, boolean>;
    };
    expect(value.Limit).toBe(2);
    expect(Object.keys(value.Holders).sort()).toEqual([goB.session!.id, permit.session.id].sort());
    const contender = await consulFetch(fx.target, 'GET', kvPath(`${prefix}/${permit.session.id}`));
    expect(/"Flags":\s*(\d+)/.exec(contender.text)?.[1]).toBe(GO_SEMAPHORE_FLAG);

    await permit.release();
    await goB.release();
  });

  it('reports a limit mismatch with a Go semaphore as LockConflictError, and Go sees ours as a conflict too', async () => {
    const prefix = fx.key('sem');
    const go = new GoSemaphore(fx.target, prefix, 3, { sessionTtl: goTtl() });
    await go.acquire();
    await expect(new Semaphore(fx.coord(), prefix, { limit: 2, ttl: fx.ttl }).acquire()).rejects.toThrow(LockConflictError);
    await go.release();

    const permit = await new Semaphore(fx.coord(), fx.key('other'), { limit: 2, ttl: fx.ttl }).acquire();
    await expect(new GoSemaphore(fx.target, fx.key('other'), 4, { sessionTtl: goTtl() }).acquire()).rejects.toThrow(/limit conflict/);
    await permit.release();
  });
});
