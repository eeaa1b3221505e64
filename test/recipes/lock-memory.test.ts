/**
 * A Lock acts on the key as its own last release left it: the next acquire sends the acquiring
 * transaction at once, with `check-index` on the ModifyIndex that release's answer carried, instead
 * of reading the key first. Whatever somebody else did to the key in between moved its ModifyIndex
 * (agent/consul/state/kvs.go: every write, lock and unlock sets ModifyIndex to its Raft index; a
 * re-created key gets a new one), so Consul refuses that transaction and the acquire does what it
 * did before: read the key, then refuse a key that is not a lock, wait for a holder, or take a
 * free (or deleted) key. These tests prove the remembered key is never trusted over the real one.
 */
import { describe, expect, it } from 'vitest';
import { LockConflictError } from '../../src/errors.js';
import { LOCK_FLAG_VALUE, Lock } from '../../src/recipes/lock/lock.js';
import { countRequests } from '../support/request-counter.js';
import { GoLock } from './go-recipes.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

/** Go sessions keep Go's default TTL on real Consul; the dev server accepts a shorter one. */
const goTtl = (): string => (fx.isDev ? '10s' : '15s');

/** A Lock that has been through one cycle, so it remembers the key its release left. */
async function afterOneCycle(key: string): Promise<{ lock: Lock; releasedAt: number }> {
  const lock = new Lock(fx.coord(), key, { ttl: fx.ttl });
  await (await lock.acquire()).release();
  const { pair } = await fx.coord().api.kv.get(key, { consistent: true });
  expect(pair).toMatchObject({ flags: LOCK_FLAG_VALUE, session: undefined });
  return { lock, releasedAt: pair!.modifyIndex };
}

/**
 * Runs `op` counting its requests on the dev server: the acquiring transaction sent from memory,
 * refused, then the read of today's path. Elsewhere it just runs `op`.
 */
async function fellBack<T>(op: () => Promise<T>): Promise<T> {
  if (!fx.isDev) return op();
  const counter = countRequests(fx.dev.port);
  try {
    const value = await op();
    const routes = counter.take().map((r) => r.route);
    // The transaction from memory went first and was refused; a read followed it.
    expect(routes.slice(0, 2)).toEqual(['PUT /v1/session/create', 'PUT /v1/txn']);
    expect(routes).toContain('GET /v1/kv');
    return value;
  } finally {
    counter.stop();
  }
}

describe('a repeated acquire on one Lock, when somebody touched the key in between', () => {
  it('a plain PUT with other flags: LockConflictError, and the data is left alone', async () => {
    const key = fx.key('data');
    const { lock } = await afterOneCycle(key);
    const coord = fx.coord();
    await coord.api.kv.put(key, 'not a lock any more', { flags: 7n });

    const error = await fellBack(() => lock.acquire().catch((err: unknown) => err));
    expect(error).toBeInstanceOf(LockConflictError);
    expect(lock.state).toBe('idle');
    const { pair } = await coord.api.kv.get(key);
    expect(pair).toMatchObject({ flags: 7n, session: undefined });
    expect(pair?.value?.toString()).toBe('not a lock any more');
    if (fx.isDev) expect(await fx.sessions()).toEqual([]);
  });

  it('a Go api.Lock holding it: waits, and takes it once the Go holder unlocks', async () => {
    const key = fx.key('shared');
    const { lock, releasedAt } = await afterOneCycle(key);
    const go = new GoLock(fx.target, key, { sessionTtl: goTtl() });
    expect(await go.lock()).toBe(true);
    const goSession = go.session!.id;

    const waiting = nextEvent(lock, 'waiting');
    const pending = lock.acquire({ timeout: '10s' });
    await waiting;
    expect(lock.state).toBe('acquiring');
    // Not mis-acquired: the key is still the Go holder's.
    expect((await fx.coord().api.kv.get(key, { consistent: true })).pair?.session).toBe(goSession);

    await go.unlock();
    const handle = await pending;
    const { pair } = await fx.coord().api.kv.get(key, { consistent: true });
    expect(pair).toMatchObject({ session: handle.session.id, flags: LOCK_FLAG_VALUE, modifyIndex: handle.fencingToken });
    expect(handle.fencingToken).toBeGreaterThan(releasedAt);
    await handle.release();
  });

  it('a Go api.Lock that came and went: takes the free key after reading it', async () => {
    const key = fx.key('visited');
    const { lock, releasedAt } = await afterOneCycle(key);
    const go = new GoLock(fx.target, key, { sessionTtl: goTtl() });
    expect(await go.lock()).toBe(true);
    await go.unlock();

    const handle = await fellBack(() => lock.acquire({ timeout: '10s' }));
    expect(handle.fencingToken).toBeGreaterThan(releasedAt);
    expect((await fx.coord().api.kv.get(key, { consistent: true })).pair?.session).toBe(handle.session.id);
    await handle.release();
  });

  it('a delete: takes the key again, created anew', async () => {
    const key = fx.key('deleted');
    const { lock, releasedAt } = await afterOneCycle(key);
    await fx.coord().api.kv.delete(key);

    const handle = await fellBack(() => lock.acquire({ timeout: '10s' }));
    const { pair } = await fx.coord().api.kv.get(key, { consistent: true });
    expect(pair).toMatchObject({ session: handle.session.id, flags: LOCK_FLAG_VALUE, lockIndex: 1 });
    expect(pair!.createIndex).toBeGreaterThan(releasedAt);
    await handle.release();
  });

  it('nobody touched it: the acquiring transaction from memory takes it, no read', async () => {
    const key = fx.key('quiet');
    const { lock, releasedAt } = await afterOneCycle(key);
    const counter = fx.isDev ? countRequests(fx.dev.port) : undefined;
    try {
      const handle = await lock.acquire();
      if (counter) expect(counter.take().map((r) => r.route).filter((r) => !r.includes('index'))).toEqual(['PUT /v1/session/create', 'PUT /v1/txn']);
      expect(handle.fencingToken).toBeGreaterThan(releasedAt);
      const { pair } = await fx.coord().api.kv.get(key, { consistent: true });
      expect(pair).toMatchObject({ session: handle.session.id, flags: LOCK_FLAG_VALUE, lockIndex: 2 });
      await handle.release();
    } finally {
      counter?.stop();
    }
  });
});
