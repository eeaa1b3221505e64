/**
 * A waiter whose acquiring transaction lost the race learns from the refusal itself where the
 * key is held (Consul reports every failed op of a transaction), and blocks from there without
 * reading the key again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { heldAtIndex } from '../../src/recipes/hold/txn-outcome.js';
import { LockTimeoutError } from '../../src/errors.js';
import { Lock } from '../../src/recipes/lock/lock.js';
import { acquireOps } from '../../src/recipes/lock/lock-key.js';
import { countRequests, type RequestCounter } from '../support/request-counter.js';
import { waitFor } from '../support/wait.js';
import { useLockFixture } from './lock-fixture.js';

describe('heldAtIndex', () => {
  // Consul's texts: state/kvs.go kvsCheckIndexTxn and state/txn.go txnKVS (KVLock).
  const checkIndex = (key: string, current: number, want: number) => ({ opIndex: 0, what: `failed index check for key ${JSON.stringify(key)}, current modify index ${current} != ${want}` });
  const held = (key: string) => ({ opIndex: 1, what: `failed to lock key ${JSON.stringify(key)}, lock is already held` });

  it('reads the current index when the same answer proves another session holds the key', () => {
    expect(heldAtIndex({ errors: [checkIndex('locks/a', 57, 41), held('locks/a')] }, 'locks/a')).toBe(57n);
  });

  it('proves nothing when the key changed but the lock op went through (the key is free), or for another key', () => {
    expect(heldAtIndex({ errors: [checkIndex('locks/a', 57, 41)] }, 'locks/a')).toBeUndefined();
    expect(heldAtIndex({ errors: [checkIndex('locks/b', 57, 41), held('locks/b')] }, 'locks/a')).toBeUndefined();
    expect(heldAtIndex({ errors: [{ opIndex: 0, what: 'key "locks/a" exists' }, held('locks/a')] }, 'locks/a')).toBeUndefined();
  });
});

const fx = useLockFixture();

describe('a waiter that loses the race for a released key', () => {
  let counter: RequestCounter;
  beforeEach(() => {
    if (fx.isDev) counter = countRequests(fx.dev.port);
  });
  afterEach(() => counter?.stop());

  it('is refused with the index the dev server reports, as Consul does', async () => {
    const coord = fx.coord();
    const key = fx.key();
    const first = await new Lock(coord, key, { lockDelay: 0 }).acquire();
    const { pair } = await coord.api.kv.get(key);
    const session = await coord.session({ lockDelay: 0 });
    // A write based on a look older than the current holder's lock: refused, naming the holder's index.
    const result = await coord.api.txn(acquireOps(key, null, session.id, { modifyIndex: (pair?.modifyIndex ?? 0) - 1 }));
    expect(result.ok).toBe(false);
    expect(heldAtIndex(result, key)).toBe(BigInt(pair?.modifyIndex ?? -1));
    await first.release();
    await session.destroy();
  });

  it.runIf(fx.isDev)('blocks from the refusal\'s index: no read of the key between its refused write and its parked read', async () => {
    const coord = fx.coord();
    const key = fx.key();
    const holder = await new Lock(coord, key, { lockDelay: 0 }).acquire();
    // Two waiters park on the key; the release wakes both, one wins, the other is refused.
    const waiters = [new Lock(coord, key, { lockDelay: 0 }), new Lock(coord, key, { lockDelay: 0 })];
    const pending = waiters.map((w) => w.acquire());
    await waitFor(() => counter.parked >= 3, { message: 'the monitor and both waiters parked' });
    counter.take();
    await holder.release();
    const winner = await Promise.race(pending);
    const loser = waiters.find((w) => w.state === 'acquiring');
    expect(loser).toBeDefined();
    await waitFor(() => counter.parked >= 2, { message: 'the winner\'s monitor and the loser parked again' });
    const routes = counter.takeRoutes();
    // The release, the two woken reads answered, two acquiring transactions (one refused), the
    // winner's monitor and the loser's read parked again from the refusal's index — no plain read.
    expect(routes.filter((r) => r === 'GET /v1/kv')).toEqual([]);
    expect(routes.filter((r) => r === 'PUT /v1/txn')).toHaveLength(3);
    await winner.release();
    await Promise.all(pending);
    await Promise.all(waiters.map((w) => w.close()));
  });

  it('names the holder in a timeout error even when only a refusal, not a read, showed the key held', async () => {
    const coord = fx.coord();
    const key = fx.key();
    // This Lock remembers the key as its own release left it, so its next acquire writes at once.
    const waiter = new Lock(coord, key, { lockDelay: 0 });
    await (await waiter.acquire()).release();
    // Another session takes the key: the remembered look is stale, and the write is refused
    // with the holder's index (no read of the key shows who holds it).
    const holder = await new Lock(coord, key, { lockDelay: 0, sessionName: 'the-holder' }).acquire();
    const err = await waiter.acquire({ timeout: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as LockTimeoutError).holder).toEqual({ sessionId: holder.session.id, sessionName: 'the-holder' });
    await holder.release();
    await waiter.close();
  });
});
