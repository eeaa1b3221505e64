/** withLock / withSemaphore: acquire, run, release on return and on throw; loss and timeouts. */
import { describe, expect, it } from 'vitest';
import { ConfigError, LockLostError, LockTimeoutError } from '../../src/errors.js';
import { Lock } from '../../src/recipes/lock/lock.js';
import { withLock, withSemaphore } from '../../src/recipes/lock/with-lock.js';
import { aborted, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

describe('withLock', () => {
  it('runs fn while holding the lock and releases it on return', async () => {
    const coord = fx.coord();
    const key = fx.key();
    const result = await withLock(
      coord,
      key,
      async ({ signal, fencingToken }) => {
        expect(signal.aborted).toBe(false);
        const { pair } = await coord.api.kv.get(key);
        expect(pair?.session).toBeDefined();
        expect(fencingToken).toBe(pair?.modifyIndex);
        return 'done';
      },
      { ttl: fx.ttl },
    );
    expect(result).toBe('done');
    expect((await coord.api.kv.get(key)).pair?.session).toBeUndefined();
    if (fx.isDev) expect(await fx.sessions()).toEqual([]);
  });

  it('releases on throw and rejects with fn’s error', async () => {
    const coord = fx.coord();
    const failure = new Error('boom');
    await expect(withLock(coord, fx.key(), () => Promise.reject(failure), { ttl: fx.ttl })).rejects.toBe(failure);
    expect((await coord.api.kv.get(fx.key())).pair?.session).toBeUndefined();
    // The key is free for the next caller at once.
    expect(await withLock(coord, fx.key(), () => 1, { ttl: fx.ttl, timeout: '5s' })).toBe(1);
  });

  it('serialises callers on one key', async () => {
    const coord = fx.coord();
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((n) =>
        withLock(
          coord,
          fx.key(),
          async () => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            order.push(n);
            await new Promise((resolve) => setImmediate(resolve));
            inside -= 1;
          },
          { ttl: fx.ttl, timeout: '20s' },
        ),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it.runIf(fx.isDev)('aborts fn’s signal when the lock is lost and rejects with LockLostError after fn settles', async () => {
    const coord = fx.coord();
    let settled = false;
    const call = withLock(
      coord,
      fx.key(),
      async ({ signal }) => {
        const session = fx.dev.state.getKey(fx.key())?.session as string;
        fx.dev.invalidateSession(session);
        const reason = await aborted(signal);
        expect(reason).toBeInstanceOf(LockLostError);
        settled = true;
        return 'finished anyway';
      },
      { ttl: fx.ttl, lockDelay: 0 },
    );
    const error = await call.catch((e: unknown) => e);
    expect(settled).toBe(true);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ code: 'ERR_LOCK_LOST', key: fx.key() });
  });

  it('rejects with LockTimeoutError, without running fn, when the lock stays busy', async () => {
    const coord = fx.coord();
    const holder = await new Lock(coord, fx.key(), { ttl: fx.ttl }).acquire();
    let ran = false;
    const error = await withLock(
      coord,
      fx.key(),
      () => {
        ran = true;
      },
      { ttl: fx.ttl, timeout: 200 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(ran).toBe(false);
    if (fx.isDev) expect(await fx.sessions()).toEqual([holder.session.id]);
    await holder.release();
  });

  it('passes the caller’s abort on to fn’s signal', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const call = withLock(
      fx.coord(),
      fx.key(),
      async ({ signal }) => {
        controller.abort(reason);
        return aborted(signal);
      },
      { ttl: fx.ttl, signal: controller.signal },
    );
    await expect(call).resolves.toBe(reason);
  });

  it('throws ConfigError synchronously for bad arguments', () => {
    const coord = fx.coord();
    expect(() => withLock(coord, '', () => 1)).toThrow(ConfigError);
    expect(() => withLock(coord, 'a/../b', () => 1)).toThrow(ConfigError);
    expect(() => withLock(coord, fx.key(), () => 1, { ttl: 'abc' })).toThrow(expect.objectContaining({ option: 'ttl' }));
    expect(() => withLock(coord, fx.key(), () => 1, { timeout: 'soon' })).toThrow(expect.objectContaining({ option: 'timeout' }));
    expect(() => withLock(coord, fx.key(), 'nope' as never)).toThrow(expect.objectContaining({ option: 'fn' }));
  });
});

describe('withSemaphore', () => {
  it('never runs more than `limit` callers at once and cleans up after all of them', async () => {
    const coord = fx.coord();
    const prefix = fx.key('sem');
    let inside = 0;
    let maxInside = 0;
    const tokens: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withSemaphore(coord, prefix, { limit: 2, ttl: fx.ttl, timeout: '20s' }, async ({ fencingToken }) => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          tokens.push(fencingToken);
          await new Promise((resolve) => setImmediate(resolve));
          inside -= 1;
        }),
      ),
    );
    expect(maxInside).toBeLessThanOrEqual(2);
    expect(new Set(tokens).size).toBe(8);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
    if (fx.isDev) expect(await fx.sessions()).toEqual([]);
  });

  it('releases on throw', async () => {
    const coord = fx.coord();
    const prefix = fx.key('sem');
    await expect(withSemaphore(coord, prefix, { limit: 1, ttl: fx.ttl }, () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await fx.contenderKeys(prefix)).toEqual([]);
    expect(await withSemaphore(coord, prefix, { limit: 1, ttl: fx.ttl }, () => 'again', { timeout: '5s' })).toBe('again');
  });

  it.runIf(fx.isDev)('rejects with LockLostError when the permit is lost mid-way', async () => {
    const coord = fx.coord();
    const prefix = fx.key('sem');
    const call = withSemaphore(coord, prefix, { limit: 1, ttl: fx.ttl }, async ({ signal }) => {
      const holder = fx.dev.state.listKeys(`${prefix}/`).find((e) => e.session)?.session as string;
      fx.dev.invalidateSession(holder);
      await aborted(signal);
    });
    await expect(call).rejects.toThrow(LockLostError);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  });

  it('throws ConfigError synchronously for a bad limit', () => {
    const coord = fx.coord();
    expect(() => withSemaphore(coord, fx.key('sem'), { limit: -1 }, () => 1)).toThrow(expect.objectContaining({ option: 'limit' }));
    expect(() => withSemaphore(coord, fx.key('sem'), { limit: 1, ttl: 'abc' }, () => 1)).toThrow(ConfigError);
  });
});
