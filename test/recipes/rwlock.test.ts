/**
 * ReadWriteLock: readers share, a writer holds alone, writers are not starved by later readers,
 * and under concurrent contenders in separate Coordinators no writer ever holds with anyone else
 * (a checker over the recorded history). Runs on the dev server, or real Consul with CONSUL_HTTP_ADDR.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, LockConflictError, LockLostError } from '../../src/errors.js';
import type { Coordinator } from '../../src/coordinator.js';
import { aborted, nextEvent, useLockFixture } from './lock-fixture.js';
import { checkReadWriteHistory, type HistoryEvent } from './rwlock-history.js';

const fx = useLockFixture();
const rw = (coord: Coordinator, prefix: string) => coord.readWriteLock(prefix, { ttl: fx.ttl, lockDelay: 0 });

describe('the history checker', () => {
  const ev = (who: string, mode: 'read' | 'write', kind: 'enter' | 'exit', token = 0): HistoryEvent => ({ who, mode, kind, token });

  it('accepts readers together and writers alone', () => {
    expect(checkReadWriteHistory([ev('a', 'read', 'enter'), ev('b', 'read', 'enter'), ev('a', 'read', 'exit'), ev('b', 'read', 'exit'), ev('w', 'write', 'enter', 5), ev('w', 'write', 'exit')])).toEqual([5]);
  });

  it('rejects a writer with a reader, a reader with a writer, two writers', () => {
    expect(() => checkReadWriteHistory([ev('a', 'read', 'enter'), ev('w', 'write', 'enter')])).toThrow(/w wrote under a write hold while a's read hold was valid/);
    expect(() => checkReadWriteHistory([ev('w', 'write', 'enter'), ev('a', 'read', 'enter')])).toThrow(/a read under a read hold while w's write hold was valid/);
    expect(() => checkReadWriteHistory([ev('w', 'write', 'enter'), ev('v', 'write', 'enter')])).toThrow(/v wrote under a write hold while w's write hold was valid/);
    expect(() => checkReadWriteHistory([ev('w', 'write', 'enter', 5), ev('w', 'write', 'exit'), ev('v', 'write', 'enter', 4)])).toThrow(/token 4 does not exceed the previous hold's 5/);
  });
});

describe('read-write lock', () => {
  it('lets readers hold together and makes a writer wait for them', async () => {
    const prefix = fx.key('rw');
    const r1 = await rw(fx.coord(), prefix).read().acquire();
    const r2 = await rw(fx.coord(), prefix).read().acquire({ timeout: '5s' });
    const writer = rw(fx.coord(), prefix).write();
    const waiting = nextEvent(writer, 'waiting');
    const writing = writer.acquire({ timeout: '20s' });
    await waiting;
    expect(await rw(fx.coord(), prefix).write().tryAcquire()).toBeNull();
    await r1.release();
    expect(writer.state).toBe('acquiring');
    await r2.release();
    const w = await writing;
    expect(w.mode).toBe('write');
    expect(w.fencingToken).toBeGreaterThan(r2.fencingToken);
    expect(await rw(fx.coord(), prefix).read().tryAcquire()).toBeNull();
    await w.release();
  });

  it('does not let later readers overtake a waiting writer', async () => {
    const prefix = fx.key('rw');
    const first = await rw(fx.coord(), prefix).read().acquire();
    const writer = rw(fx.coord(), prefix).write();
    const writerWaits = nextEvent(writer, 'waiting');
    const writing = writer.acquire({ timeout: '20s' });
    await writerWaits;
    const late = rw(fx.coord(), prefix).read();
    const lateWaits = nextEvent(late, 'waiting');
    const reading = late.acquire({ timeout: '20s' });
    await lateWaits; // a reader behind a waiting writer queues, although only readers hold
    await first.release();
    const w = await writing;
    expect(late.state).toBe('acquiring');
    await w.release();
    const r = await reading;
    expect(r.fencingToken).toBeGreaterThan(w.fencingToken);
    await r.release();
  });

  it('never has a writer with anyone else under concurrent readers and writers', async () => {
    const prefix = fx.key('rw');
    const history: HistoryEvent[] = [];
    const worker = async (who: string, mode: 'read' | 'write', rounds: number) => {
      const lock = rw(fx.coord(), prefix);
      for (let i = 0; i < rounds; i++) {
        const side = mode === 'read' ? lock.read() : lock.write();
        const handle = await side.acquire({ timeout: '60s' });
        history.push({ who, mode, kind: 'enter', token: handle.fencingToken });
        // Hold across a few round trips so overlaps, if the lock allowed them, would show.
        await fx.coord().api.kv.get(`${prefix}-probe`);
        history.push({ who, mode, kind: 'exit', token: handle.fencingToken });
        await handle.release();
        await side.close();
      }
    };
    await Promise.all([worker('r1', 'read', 6), worker('r2', 'read', 6), worker('r3', 'read', 6), worker('w1', 'write', 4), worker('w2', 'write', 4)]);
    expect(history).toHaveLength(2 * (18 + 8));
    expect(checkReadWriteHistory(history)).toHaveLength(8);
    // Readers did share: at some moment two readers held together.
    let reading = 0;
    let maxReading = 0;
    for (const e of history) {
      if (e.mode !== 'read') continue;
      reading += e.kind === 'enter' ? 1 : -1;
      maxReading = Math.max(maxReading, reading);
    }
    expect(maxReading).toBeGreaterThan(1);
  }, 120_000);

  it('withWriteLock runs fn with the fencing token and releases', async () => {
    const prefix = fx.key('rw');
    const lock = rw(fx.coord(), prefix);
    const token = await lock.withWriteLock(async ({ fencingToken, signal }) => {
      expect(signal.aborted).toBe(false);
      return fencingToken;
    });
    expect(token).toBeGreaterThan(0);
    expect(await lock.withReadLock(() => 'read')).toBe('read');
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  });

  it('aborts the handle signal with LockLostError when the contender key is deleted', async () => {
    const prefix = fx.key('rw');
    const coord = fx.coord();
    const side = rw(coord, prefix).write();
    const handle = await side.acquire();
    await coord.api.kv.delete(`${prefix}/${handle.session.id}`);
    expect(await aborted(handle.signal)).toBeInstanceOf(LockLostError);
    expect(side.state).toBe('lost');
    await handle.release();
  });

  it('refuses a key that is not a contender, unknown options and a session', async () => {
    const prefix = fx.key('rw');
    const coord = fx.coord();
    await coord.api.kv.put(`${prefix}/plain`, 'data');
    await expect(rw(coord, prefix).read().acquire({ timeout: '5s' })).rejects.toBeInstanceOf(LockConflictError);
    await coord.api.kv.delete(`${prefix}/plain`);
    expect(() => coord.readWriteLock(prefix, { tll: 1 } as never)).toThrow(/did you mean 'ttl'/);
    expect(() => coord.readWriteLock(prefix, { session: {} } as never)).toThrow(ConfigError);
  });
});
