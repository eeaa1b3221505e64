/** Lock against a live server: lifecycle, handles, sessions, conflicts, cleanup, loss, options. */
import { describe, expect, it } from 'vitest';
import {
  ClosedError,
  ConfigError,
  IllegalStateError,
  LockConflictError,
  LockLostError,
  LockTimeoutError,
} from '../../src/errors.js';
import { LOCK_FLAG_VALUE, Lock } from '../../src/recipes/lock/lock.js';
import { Semaphore } from '../../src/recipes/semaphore/semaphore.js';
import { Session } from '../../src/session/session.js';
import { consulFetch, kvPath } from '../support/target.js';
import { aborted, nextEvent, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

describe('acquiring and releasing', () => {
  it('takes a free key with the lock flags, our value and our session', async () => {
    const coord = fx.coord();
    const lock = new Lock(coord, fx.key('orders'), { ttl: fx.ttl, value: { owner: 'worker-1' } });
    const handle = await lock.acquire();

    expect(handle.key).toBe(fx.key('orders'));
    expect(handle.signal.aborted).toBe(false);
    const { pair } = await coord.api.kv.get(fx.key('orders'));
    expect(pair?.flags).toBe(0x2ddccbc058a50c18n);
    expect(pair?.flags).toBe(LOCK_FLAG_VALUE);
    expect(pair?.session).toBe(handle.session.id);
    expect(JSON.parse(pair?.value?.toString() ?? '')).toEqual({ owner: 'worker-1' });
    expect(handle.fencingToken).toBe(pair?.modifyIndex);

    // Read back by a client that does not parse numbers: the exact uint64 digits.
    const raw = await consulFetch(fx.target, 'GET', kvPath(fx.key('orders')));
    expect(raw.text).toMatch(/"Flags":\s*3304740253564472344\b/);

    await handle.release();
    const after = await coord.api.kv.get(fx.key('orders'));
    expect(after.pair?.session).toBeUndefined();
    expect(after.pair?.flags).toBe(LOCK_FLAG_VALUE);
    expect(await fx.sessions()).not.toContain(handle.session.id);
  });

  it('moves through idle → acquiring → held → releasing → idle and emits acquired/released', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl });
    const seen: string[] = [];
    lock.on('acquired', () => seen.push(`acquired:${lock.state}`));
    lock.on('released', () => seen.push(`released:${lock.state}`));
    expect(lock.state).toBe('idle');
    const pending = lock.acquire();
    expect(lock.state).toBe('acquiring');
    const handle = await pending;
    expect(lock.state).toBe('held');
    const releasing = handle.release();
    expect(lock.state).toBe('releasing');
    // The holder is told to stop as soon as release starts.
    expect(handle.signal.aborted).toBe(true);
    expect((handle.signal.reason as Error).name).toBe('AbortError');
    await releasing;
    expect(lock.state).toBe('idle');
    expect(seen).toEqual(['acquired:held', 'released:idle']);
  });

  it('tryAcquire returns null at once while another session holds the key', async () => {
    const coord = fx.coord();
    const holder = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const handle = await holder.acquire();
    const other = new Lock(coord, fx.key(), { ttl: fx.ttl });
    expect(await other.tryAcquire()).toBeNull();
    expect(other.state).toBe('idle');
    expect(await fx.sessions()).toEqual(fx.isDev ? [handle.session.id] : expect.arrayContaining([handle.session.id]));
    await handle.release();
    const mine = await other.tryAcquire();
    expect(mine).not.toBeNull();
    expect(other.state).toBe('held');
    await mine?.release();
  });

  it('hands over to a waiter on release without waiting for lock-delay', async () => {
    const coord = fx.coord();
    // A lock-delay far longer than the waiter's timeout: the waiter can only succeed if a
    // clean release applies none.
    const options = { ttl: fx.ttl, lockDelay: '1m' };
    const first = await new Lock(coord, fx.key(), options).acquire();
    const waiter = new Lock(coord, fx.key(), options);
    const waiting = nextEvent(waiter, 'waiting');
    const pending = waiter.acquire({ timeout: '10s' });
    await waiting;
    await first.release();
    const second = await pending;
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    await second.release();
  });

  it('gives strictly increasing fencing tokens to successive holders', async () => {
    const coord = fx.coord();
    const locks = [0, 1, 2].map(() => new Lock(coord, fx.key(), { ttl: fx.ttl }));
    const tokens: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const lock of locks) {
        const handle = await lock.acquire();
        tokens.push(handle.fencingToken);
        await handle.release();
      }
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number);
  });

  it('can be acquired again after a release', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl });
    const a = await lock.acquire();
    await a.release();
    const b = await lock.acquire();
    expect(b.session.id).not.toBe(a.session.id);
    await lock.release();
    expect(lock.state).toBe('idle');
  });
});

describe('illegal calls', () => {
  it('rejects a second acquire while acquiring or held', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl });
    const first = lock.acquire();
    await expect(lock.acquire()).rejects.toThrow(IllegalStateError);
    const handle = await first;
    await expect(lock.acquire()).rejects.toMatchObject({ code: 'ERR_LOCK_STATE', state: 'held' });
    await expect(lock.tryAcquire()).rejects.toThrow(IllegalStateError);
    await handle.release();
  });

  it('rejects release() when nothing is held', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl });
    await expect(lock.release()).rejects.toMatchObject({ code: 'ERR_LOCK_STATE', state: 'idle' });
  });

  it('makes handle.release() idempotent, and a stale handle never releases a newer hold', async () => {
    const coord = fx.coord();
    const lock = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const old = await lock.acquire();
    await Promise.all([old.release(), old.release()]);
    await old.release();
    const current = await lock.acquire();
    await old.release();
    expect(lock.state).toBe('held');
    expect((await coord.api.kv.get(fx.key())).pair?.session).toBe(current.session.id);
    await current.release();
  });

  it('rejects everything with ClosedError after close()', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl });
    await lock.close();
    await lock.close();
    expect(lock.state).toBe('closed');
    await expect(lock.acquire()).rejects.toThrow(ClosedError);
    await expect(lock.tryAcquire()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});

describe('a caller-provided session', () => {
  it('holds the lock with it and leaves it alive after release', async () => {
    const coord = fx.coord();
    const session = await Session.create(coord, { ttl: fx.ttl });
    const lock = new Lock(coord, fx.key(), { session });
    const handle = await lock.acquire();
    expect(handle.session).toBe(session);
    expect((await coord.api.kv.get(fx.key())).pair?.session).toBe(session.id);
    await handle.release();
    expect(session.isAlive()).toBe(true);
    expect(await fx.sessions()).toContain(session.id);
    expect((await coord.api.kv.get(fx.key())).pair?.session).toBeUndefined();
    await lock.close();
    expect(session.isAlive()).toBe(true);
    await session.destroy();
  });

  it('reclaims a key already held by the same session (as Go’s LockReclaimLock)', async () => {
    const coord = fx.coord();
    const session = await Session.create(coord, { ttl: fx.ttl });
    const a = await new Lock(coord, fx.key(), { session }).acquire();
    const b = await new Lock(coord, fx.key(), { session }).acquire({ timeout: '5s' });
    expect(b.fencingToken).toBe(a.fencingToken);
    await b.release();
    await aborted(a.signal);
    await session.destroy();
  });

  it('makes the lock lost when the session is destroyed', async () => {
    const coord = fx.coord();
    const session = await Session.create(coord, { ttl: fx.ttl });
    const lock = new Lock(coord, fx.key(), { session });
    const handle = await lock.acquire();
    const lost = nextEvent<[LockLostError]>(lock, 'lost');
    await session.destroy();
    const [error] = await lost;
    expect(error).toBeInstanceOf(LockLostError);
    expect(handle.signal.reason).toBe(error);
    expect(lock.state).toBe('lost');
  });
});

describe('when the key is not a lock', () => {
  it('rejects with LockConflictError for plain data and leaves nothing behind', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(fx.key('data'), 'hello');
    const lock = new Lock(coord, fx.key('data'), { ttl: fx.ttl });
    const error = await lock.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockConflictError);
    expect(error).toMatchObject({ code: 'ERR_LOCK_CONFLICT', key: fx.key('data') });
    await expect(lock.tryAcquire()).rejects.toThrow(LockConflictError);
    expect(lock.state).toBe('idle');
    if (fx.isDev) expect(await fx.sessions()).toEqual([]);
    expect((await coord.api.kv.get(fx.key('data'))).pair?.value?.toString()).toBe('hello');
  });

  it('rejects with LockConflictError on a semaphore’s .lock record (Go’s TestAPI_LockConflict)', async () => {
    const coord = fx.coord();
    const permit = await new Semaphore(coord, fx.key('sem'), { limit: 2, ttl: fx.ttl }).acquire();
    await expect(new Lock(coord, fx.key('sem/.lock'), { ttl: fx.ttl }).acquire()).rejects.toThrow(LockConflictError);
    await permit.release();
  });
});

describe('timeout and abort', () => {
  it('times out with LockTimeoutError and removes the session it made', async () => {
    const coord = fx.coord();
    const holder = await new Lock(coord, fx.key(), { ttl: fx.ttl }).acquire();
    const waiter = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const error = await waiter.acquire({ timeout: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(error).toMatchObject({ code: 'ERR_LOCK_TIMEOUT', key: fx.key(), timeoutMs: 300 });
    expect(waiter.state).toBe('idle');
    expect(await fx.sessions()).toEqual(fx.isDev ? [holder.session.id] : expect.not.arrayContaining(['']));
    await holder.release();
  });

  it('rejects with the signal’s reason on abort and removes the session it made', async () => {
    const coord = fx.coord();
    const holder = await new Lock(coord, fx.key(), { ttl: fx.ttl }).acquire();
    const waiter = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const controller = new AbortController();
    const waiting = nextEvent(waiter, 'waiting');
    const pending = waiter.acquire({ signal: controller.signal });
    await waiting;
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    if (fx.isDev) expect(await fx.sessions()).toEqual([holder.session.id]);
    await holder.release();
  });

  it('rejects at once, creating nothing, when the signal is already aborted', async () => {
    const waiter = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl });
    await expect(waiter.acquire({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(waiter.state).toBe('idle');
    if (fx.isDev) expect(await fx.sessions()).toEqual([]);
  });

  it('rejects a waiting acquire with ClosedError on close()', async () => {
    const coord = fx.coord();
    const holder = await new Lock(coord, fx.key(), { ttl: fx.ttl }).acquire();
    const waiter = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const waiting = nextEvent(waiter, 'waiting');
    const pending = waiter.acquire();
    await waiting;
    await waiter.close();
    await expect(pending).rejects.toThrow(ClosedError);
    if (fx.isDev) expect(await fx.sessions()).toEqual([holder.session.id]);
    await holder.release();
  });
});

describe('when the hold is lost', () => {
  it.runIf(fx.isDev)('aborts the signal and emits lost when the server invalidates the session', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl, lockDelay: 0 });
    const handle = await lock.acquire();
    const order: string[] = [];
    handle.signal.addEventListener('abort', () => order.push('signal'));
    const lost = nextEvent<[LockLostError]>(lock, 'lost');
    lock.on('lost', () => order.push('lost'));
    expect(fx.dev.invalidateSession(handle.session.id)).toBe(true);
    const [error] = await lost;
    expect(order).toEqual(['signal', 'lost']);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ code: 'ERR_LOCK_LOST', key: fx.key() });
    expect(handle.signal.reason).toBe(error);
    expect(lock.state).toBe('lost');
    // release() after a loss is harmless: it waits for the cleanup.
    await handle.release();
    expect(lock.state).toBe('lost');
    const again = await lock.acquire();
    expect(again.fencingToken).toBeGreaterThan(handle.fencingToken);
    await again.release();
  });

  it('is lost when an operator deletes the key', async () => {
    const coord = fx.coord();
    const lock = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const handle = await lock.acquire();
    const lost = nextEvent<[LockLostError]>(lock, 'lost');
    await consulFetch(fx.target, 'DELETE', kvPath(fx.key()));
    const [error] = await lost;
    expect(error.reason).toMatch(/deleted/);
    expect(handle.signal.aborted).toBe(true);
    // The cleanup's `?release` does not bring the key back.
    await lock.close();
    expect((await coord.api.kv.get(fx.key())).pair).toBeNull();
  });

  it('is lost when another session takes the key', async () => {
    const coord = fx.coord();
    const lock = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const handle = await lock.acquire();
    const thief = await Session.create(coord, { ttl: fx.ttl });
    const lost = nextEvent<[LockLostError]>(lock, 'lost');
    // An operator moving the lock in one transaction: unlock ours, lock theirs.
    const result = await coord.api.txn([
      { verb: 'unlock', key: fx.key(), session: handle.session.id, flags: LOCK_FLAG_VALUE },
      { verb: 'lock', key: fx.key(), session: thief.id, flags: LOCK_FLAG_VALUE },
    ]);
    expect(result.ok).toBe(true);
    const [error] = await lost;
    expect(error.reason).toMatch(new RegExp(`taken by session ${thief.id}`));
    await thief.destroy();
  });

  it('is lost when another client releases it with our session', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl });
    const handle = await lock.acquire();
    const lost = nextEvent<[LockLostError]>(lock, 'lost');
    await consulFetch(fx.target, 'PUT', kvPath(fx.key(), `release=${handle.session.id}`));
    const [error] = await lost;
    expect(error.reason).toMatch(/released/);
  });

  it.runIf(fx.isDev)('is lost when the cluster has no leader for longer than the monitor tolerates', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: fx.ttl, lockDelay: 0, monitorRetries: 0 });
    const handle = await lock.acquire();
    const lost = nextEvent<[LockLostError]>(lock, 'lost');
    fx.dev.leaderless();
    const [error] = await lost;
    expect(error).toBeInstanceOf(LockLostError);
    expect(handle.signal.aborted).toBe(true);
    fx.dev.restoreLeader();
  });

  it('never reports held once the session is past its deadline, even before any timer runs', async () => {
    const coord = fx.coord();
    const session = await Session.create(coord, { ttl: fx.ttl });
    const lock = new Lock(coord, fx.key(), { session });
    const handle = await lock.acquire();
    // Block the event loop past the session's local deadline: no timer can fire meanwhile.
    const until = session.validUntil;
    while (performance.now() < until + 5) {
      // busy wait
    }
    expect(lock.state).toBe('lost');
    expect(handle.signal.aborted).toBe(true);
    await session.destroy();
  });
});

describe('close()', () => {
  it('releases a held lock, destroys its session and is idempotent', async () => {
    const coord = fx.coord();
    const lock = new Lock(coord, fx.key(), { ttl: fx.ttl });
    const handle = await lock.acquire();
    const released = nextEvent(lock, 'released');
    await Promise.all([lock.close(), lock.close()]);
    await released;
    expect(lock.state).toBe('closed');
    expect(handle.signal.aborted).toBe(true);
    expect((await coord.api.kv.get(fx.key())).pair?.session).toBeUndefined();
    expect(await fx.sessions()).not.toContain(handle.session.id);
  });

  it('coord.close() releases every lock before its session dies (no loss reported)', async () => {
    const coord = fx.coord();
    const locks = [fx.key('a'), fx.key('b'), fx.key('c')].map((k) => new Lock(coord, k, { ttl: fx.ttl }));
    const lostEvents: unknown[] = [];
    for (const lock of locks) lock.on('lost', (e) => lostEvents.push(e));
    await Promise.all(locks.map((l) => l.acquire()));
    await coord.close();
    expect(lostEvents).toEqual([]);
    for (const lock of locks) expect(lock.state).toBe('closed');
    if (fx.isDev) {
      expect(await fx.sessions()).toEqual([]);
      for (const k of ['a', 'b', 'c']) {
        expect(fx.dev.state.getKey(fx.key(k))?.session).toBeUndefined();
        // A clean release sets no lock-delay.
        expect(fx.dev.state.lockDelayMs(fx.key(k))).toBe(0);
      }
    }
    expect(() => new Lock(coord, fx.key(), {})).toThrow(ClosedError);
  });
});

describe('options', () => {
  it('throws ConfigError synchronously for bad keys', () => {
    const coord = fx.coord();
    for (const key of ['', '/abs', '../x', 'a/../b', 'a/..', 'x'.repeat(513), 42]) {
      expect(() => new Lock(coord, key as string)).toThrow(ConfigError);
    }
  });

  it('throws ConfigError synchronously for bad options, naming the option', () => {
    const coord = fx.coord();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ttl: 'abc' }, 'ttl'],
      [{ ttl: -1 }, 'ttl'],
      [{ lockDelay: '-1s' }, 'lockDelay'],
      [{ healthCheckTtl: 'soon' }, 'healthCheckTtl'],
      [{ monitorRetries: -1 }, 'monitorRetries'],
      [{ monitorRetries: 1.5 }, 'monitorRetries'],
      [{ waitTime: 'x' }, 'waitTime'],
      [{ retryTime: 0 }, 'retryTime'],
      [{ session: 'abc' }, 'session'],
    ];
    for (const [options, option] of cases) {
      expect(() => new Lock(coord, fx.key(), options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', option }));
    }
    const lock = new Lock(coord, fx.key(), {});
    expect(() => lock.acquire({ timeout: 'abc' })).toThrow(ConfigError);
  });

  it('refuses session options next to a caller-provided session', async () => {
    const coord = fx.coord();
    const session = await Session.create(coord, { ttl: fx.ttl });
    expect(() => new Lock(coord, fx.key(), { session, ttl: '10s' })).toThrow(expect.objectContaining({ option: 'ttl' }));
    await session.destroy();
  });

  it.runIf(fx.isDev)('sends lockDelay 0 as 0 and creates its session as asked', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: '2s', lockDelay: 0, sessionName: 'orders-lock' });
    const handle = await lock.acquire();
    const info = fx.dev.state.listSessions().find((s) => s.id === handle.session.id);
    expect(info).toMatchObject({ name: 'orders-lock', ttl: '2s', lockDelayMs: 0, behavior: 'release' });
    await handle.release();
  });
});
