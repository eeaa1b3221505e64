/** Semaphore against a live server: layout, limit, pruning, conflicts, loss, cleanup, options. */
import { describe, expect, it } from 'vitest';
import { ClosedError, ConfigError, IllegalStateError, LockConflictError, LockLostError, LockTimeoutError } from '../../src/errors.js';
import { SEMAPHORE_FLAG_VALUE, Semaphore } from '../../src/recipes/semaphore/semaphore.js';
import { Lock } from '../../src/recipes/lock/lock.js';
import { Session } from '../../src/session/session.js';
import { consulFetch, kvPath } from '../support/target.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

function record(value: Buffer | null | undefined): { Limit: number; Holders: Record<string, boolean> } {
  return JSON.parse(value?.toString() ?? 'null') as { Limit: number; Holders: Record<string, boolean> };
}

describe('acquiring and releasing a permit', () => {
  it('writes Go’s layout: a contender key per session and the .lock record, both with the semaphore flag', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const sem = new Semaphore(coord, `${prefix}/`, { limit: 3, ttl: fx.ttl, value: 'worker-1' });
    expect(sem.prefix).toBe(prefix);
    const permit = await sem.acquire();
    const sid = permit.session.id;
    expect(permit.prefix).toBe(prefix);

    const contender = (await coord.api.kv.get(`${prefix}/${sid}`)).pair;
    expect(contender?.flags).toBe(0xe0f69a2baa414de0n);
    expect(contender?.session).toBe(sid);
    expect(contender?.value?.toString()).toBe('worker-1');

    const lock = (await coord.api.kv.get(`${prefix}/.lock`)).pair;
    expect(lock?.flags).toBe(SEMAPHORE_FLAG_VALUE);
    expect(lock?.session).toBeUndefined();
    expect(lock?.value?.toString()).toBe(`{"Limit":3,"Holders":{"${sid}":true}}`);
    expect(permit.fencingToken).toBe(lock?.modifyIndex);

    const raw = await consulFetch(fx.target, 'GET', kvPath(`${prefix}/.lock`));
    expect(raw.text).toMatch(/"Flags":\s*16210313421097356768\b/);

    if (fx.isDev) {
      const info = fx.dev.state.listSessions().find((s) => s.id === sid);
      expect(info?.behavior).toBe('delete');
    }

    await permit.release();
    expect(await fx.contenderKeys(prefix)).toEqual([]);
    expect(record((await coord.api.kv.get(`${prefix}/.lock`)).pair?.value)).toEqual({ Limit: 3, Holders: {} });
    expect(await fx.sessions()).not.toContain(sid);
  });

  it('admits at most `limit` holders; the next waits and gets the slot freed by a release', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const sems = [0, 1, 2, 3].map(() => new Semaphore(coord, prefix, { limit: 3, ttl: fx.ttl }));
    const permits = await Promise.all(sems.slice(0, 3).map((s) => s.acquire()));
    expect(await sems[3]!.tryAcquire()).toBeNull();
    expect(sems[3]!.state).toBe('idle');
    expect(await fx.contenderKeys(prefix)).toHaveLength(3);

    const waiting = nextEvent(sems[3]!, 'waiting');
    const pending = sems[3]!.acquire({ timeout: '10s' });
    await waiting;
    await permits[1]!.release();
    const fourth = await pending;
    expect(fourth.fencingToken).toBeGreaterThan(Math.max(...permits.map((p) => p.fencingToken)));
    const holders = Object.keys(record((await coord.api.kv.get(`${prefix}/.lock`)).pair?.value).Holders).sort();
    expect(holders).toEqual([permits[0]!.session.id, permits[2]!.session.id, fourth.session.id].sort());
    await Promise.all([permits[0]!.release(), permits[2]!.release(), fourth.release()]);
  });

  it.runIf(fx.isDev)('prunes a dead holder: its slot goes to a waiter, and the dead holder learns it lost', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const a = new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl });
    const permitA = await a.acquire();
    const b = new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl });
    const waiting = nextEvent(b, 'waiting');
    const pending = b.acquire({ timeout: '10s' });
    await waiting;
    const lost = nextEvent<[LockLostError]>(a, 'lost');
    // Behavior delete: invalidation deletes A's contender key; A stays in .lock until pruned.
    fx.dev.invalidateSession(permitA.session.id);
    const permitB = await pending;
    await lost;
    expect(permitA.signal.aborted).toBe(true);
    expect(Object.keys(record((await coord.api.kv.get(`${prefix}/.lock`)).pair?.value).Holders)).toEqual([permitB.session.id]);
    await permitB.release();
  });

  it('does not wait forever behind an earlier contender that never takes its slot', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    // A contender that entered first and then stopped trying (as a Go acquire aborted with its
    // own session leaves its key): it is ahead in line for the only slot.
    const stale = await Session.create(coord, { ttl: fx.ttl, behavior: 'delete' });
    await coord.api.kv.put(`${prefix}/${stale.id}`, null, { flags: SEMAPHORE_FLAG_VALUE, acquire: stale.id });
    const sem = new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl, waitTime: '300ms' });
    const waiting = nextEvent(sem, 'waiting');
    const pending = sem.acquire({ timeout: '10s' });
    await waiting;
    const permit = await pending;
    await permit.release();
    await stale.destroy();
  });

  it('rejects illegal calls with IllegalStateError and everything after close() with ClosedError', async () => {
    const sem = new Semaphore(fx.coord(), fx.key('db'), { limit: 1, ttl: fx.ttl });
    await expect(sem.release()).rejects.toThrow(IllegalStateError);
    const permit = await sem.acquire();
    await expect(sem.acquire()).rejects.toThrow(IllegalStateError);
    await permit.release();
    await permit.release();
    await sem.close();
    await expect(sem.acquire()).rejects.toThrow(ClosedError);
  });

  it('works with a caller-provided session and leaves it alive', async () => {
    const coord = fx.coord();
    const session = await Session.create(coord, { ttl: fx.ttl, behavior: 'delete' });
    const sem = new Semaphore(coord, fx.key('db'), { limit: 2, session });
    const permit = await sem.acquire();
    expect(permit.session).toBe(session);
    await permit.release();
    expect(session.isAlive()).toBe(true);
    expect(await fx.contenderKeys(fx.key('db'))).toEqual([]);
    await session.destroy();
  });
});

describe('conflicts', () => {
  it('rejects a different limit with LockConflictError and leaves no contender key or session', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const permit = await new Semaphore(coord, prefix, { limit: 3, ttl: fx.ttl }).acquire();
    const other = new Semaphore(coord, prefix, { limit: 2, ttl: fx.ttl });
    const error = await other.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockConflictError);
    expect((error as Error).message).toMatch(/limit conflict \(record: 3, local: 2\)/);
    expect(await fx.contenderKeys(prefix)).toEqual([`${prefix}/${permit.session.id}`]);
    if (fx.isDev) expect(await fx.sessions()).toEqual([permit.session.id]);
    await permit.release();
  });

  it('rejects a .lock key written by a Lock (wrong flags)', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const handle = await new Lock(coord, `${prefix}/.lock`, { ttl: fx.ttl }).acquire();
    await expect(new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl }).acquire()).rejects.toThrow(LockConflictError);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
    await handle.release();
  });

  it('rejects an undecodable record', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    await coord.api.kv.put(`${prefix}/.lock`, 'garbage', { flags: SEMAPHORE_FLAG_VALUE });
    await expect(new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl }).tryAcquire()).rejects.toThrow(/not JSON/);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  });
});

describe('timeout and abort', () => {
  it('times out with LockTimeoutError, deleting its contender key and session', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const holder = await new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl }).acquire();
    const waiter = new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl });
    await expect(waiter.acquire({ timeout: '300ms' })).rejects.toThrow(LockTimeoutError);
    expect(await fx.contenderKeys(prefix)).toEqual([`${prefix}/${holder.session.id}`]);
    if (fx.isDev) expect(await fx.sessions()).toEqual([holder.session.id]);
    await holder.release();
  });

  it('rejects with the abort reason, deleting its contender key and session', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const holder = await new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl }).acquire();
    const waiter = new Semaphore(coord, prefix, { limit: 1, ttl: fx.ttl });
    const controller = new AbortController();
    const waiting = nextEvent(waiter, 'waiting');
    const pending = waiter.acquire({ signal: controller.signal });
    await waiting;
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(await fx.contenderKeys(prefix)).toEqual([`${prefix}/${holder.session.id}`]);
    if (fx.isDev) expect(await fx.sessions()).toEqual([holder.session.id]);
    await holder.release();
  });
});

describe('when the permit is lost', () => {
  it.runIf(fx.isDev)('aborts the signal and emits lost when the server invalidates the session', async () => {
    const sem = new Semaphore(fx.coord(), fx.key('db'), { limit: 2, ttl: fx.ttl });
    const permit = await sem.acquire();
    const lost = nextEvent<[LockLostError]>(sem, 'lost');
    fx.dev.invalidateSession(permit.session.id);
    const [error] = await lost;
    expect(permit.signal.reason).toBe(error);
    expect(sem.state).toBe('lost');
    await permit.release();
  });

  it('is lost when an operator deletes the .lock record', async () => {
    const coord = fx.coord();
    const sem = new Semaphore(coord, fx.key('db'), { limit: 2, ttl: fx.ttl });
    await sem.acquire();
    const lost = nextEvent<[LockLostError]>(sem, 'lost');
    await coord.api.kv.delete(`${fx.key('db')}/.lock`);
    const [error] = await lost;
    expect(error.reason).toMatch(/record .* deleted/);
  });

  it('is lost when another client removes us from the holders', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const sem = new Semaphore(coord, prefix, { limit: 2, ttl: fx.ttl });
    await sem.acquire();
    const lost = nextEvent<[LockLostError]>(sem, 'lost');
    const { pair } = await coord.api.kv.get(`${prefix}/.lock`);
    await coord.api.kv.put(`${prefix}/.lock`, '{"Limit":2,"Holders":{}}', { flags: SEMAPHORE_FLAG_VALUE, cas: pair!.modifyIndex });
    const [error] = await lost;
    expect(error.reason).toMatch(/removed from the semaphore holders/);
    // The cleanup after the loss deletes our contender key.
    await sem.close();
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  });
});

describe('close()', () => {
  it('coord.close() leaves zero sessions and zero contender keys', async () => {
    const coord = fx.coord();
    const prefix = fx.key('db');
    const sems = [0, 1, 2, 3].map(() => new Semaphore(coord, prefix, { limit: 2, ttl: fx.ttl }));
    await Promise.all(sems.slice(0, 2).map((s) => s.acquire()));
    const waiting = nextEvent(sems[2]!, 'waiting');
    const pending = sems[2]!.acquire().catch((e: unknown) => e);
    await waiting;
    await coord.close();
    expect(await pending).toBeInstanceOf(ClosedError);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
    if (fx.isDev) expect(await fx.sessions()).toEqual([]);
    const probe = fx.coord();
    expect(record((await probe.api.kv.get(`${prefix}/.lock`)).pair?.value).Holders).toEqual({});
  });
});

describe('options', () => {
  it('throws ConfigError synchronously for a bad limit or prefix', () => {
    const coord = fx.coord();
    for (const limit of [-1, 0, 1.5, Number.NaN, '3', undefined]) {
      expect(() => new Semaphore(coord, fx.key('db'), { limit } as never), String(limit)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', option: 'limit' }));
    }
    for (const prefix of ['', '/x', 'a/../b', '..']) {
      expect(() => new Semaphore(coord, prefix, { limit: 1 }), prefix).toThrow(ConfigError);
    }
    expect(() => new Semaphore(coord, fx.key('db'), { limit: 1, ttl: 'abc' })).toThrow(expect.objectContaining({ option: 'ttl' }));
    expect(() => new Semaphore(coord, fx.key('db'), undefined as never)).toThrow(ConfigError);
  });
});
