/**
 * Barrier: wait passes at once when unset, blocks while set and passes on remove; timeouts, aborts
 * and close reject with their typed reasons. DoubleBarrier: enter meets `count` participants,
 * leave waits for all, a cancelled enter leaves nothing, and a participant whose session ends is
 * counted out (the SIGKILL case is in test/process/double-barrier.test.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { ClosedError, ConfigError, IllegalStateError, TimeoutError } from '../../src/errors.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';
import { consulFetch } from '../support/target.js';

const fx = useLockFixture();

describe('barrier', () => {
  it('passes at once when not set', async () => {
    const barrier = fx.coord().barrier(fx.key('b'));
    expect(await barrier.isSet()).toBe(false);
    await barrier.wait({ timeout: '5s' });
  });

  it('holds waiters while set and lets every one pass on remove', async () => {
    const key = fx.key('b');
    const owner = fx.coord().barrier(key);
    await owner.set();
    const waiters = [fx.coord().barrier(key), fx.coord().barrier(key)];
    const blocked = waiters.map((w) => nextEvent(w, 'waiting'));
    const passing = waiters.map((w) => w.wait({ timeout: '20s' }));
    await Promise.all(blocked);
    await owner.remove();
    await Promise.all(passing);
    expect(await owner.isSet()).toBe(false);
  });

  it('rejects with TimeoutError, the signal reason, and ClosedError on close', async () => {
    const key = fx.key('b');
    const barrier = fx.coord().barrier(key);
    await barrier.set();
    await expect(barrier.wait({ timeout: 100 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const aborted = barrier.wait({ signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    const pending = barrier.wait();
    await barrier.close();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    await expect(barrier.wait()).rejects.toBeInstanceOf(ClosedError);
    await fx.coord().barrier(key).remove();
  });

  it('refuses unknown options', () => {
    expect(() => fx.coord().barrier(fx.key('b'), { waittime: 1 } as never)).toThrow(/did you mean 'waitTime'/);
    expect(() => fx.coord().barrier(fx.key('b')).wait({ timout: 1 } as never)).toThrow(ConfigError);
  });
});

describe('double barrier', () => {
  const options = () => ({ count: 3, ttl: fx.ttl });

  it('enter resolves once count participants entered, leave once all left', async () => {
    const prefix = fx.key('db');
    const [a, b, c] = [0, 1, 2].map(() => fx.coord().doubleBarrier(prefix, options()));
    const enteringA = a!.enter({ timeout: '20s' });
    const enteringB = b!.enter({ timeout: '20s' });
    // Two of three have entered: nobody is through yet.
    await vi.waitFor(async () => {
      const res = await consulFetch(fx.target, 'GET', `/v1/kv/${prefix}/?recurse`);
      expect(res.status === 200 ? (res.json() as Array<{ Session?: string }>).filter((e) => e.Session).length : 0).toBe(2);
    }, { timeout: 10_000 });
    expect([a!.state, b!.state]).toEqual(['entering', 'entering']);
    await c!.enter({ timeout: '20s' });
    await Promise.all([enteringA, enteringB]);
    expect([a!.state, b!.state, c!.state]).toEqual(['entered', 'entered', 'entered']);
    const leavingA = a!.leave({ timeout: '20s' });
    const leavingB = b!.leave({ timeout: '20s' });
    const leftA = nextEvent(a!, 'left');
    expect(c!.state).toBe('entered');
    await c!.leave({ timeout: '20s' });
    await Promise.all([leavingA, leavingB, leftA]);
    expect(a!.state).toBe('idle');
    const left = await consulFetch(fx.target, 'GET', `/v1/kv/${prefix}/?recurse`);
    expect(left.status).toBe(404); // no participant key, no .ready marker
  });

  it('a cancelled enter removes its participant and session before it rejects', async () => {
    const prefix = fx.key('db');
    const a = fx.coord().doubleBarrier(prefix, options());
    await expect(a.enter({ timeout: 150 })).rejects.toBeInstanceOf(TimeoutError);
    expect(a.state).toBe('idle');
    expect(await fx.sessions()).toEqual([]);
    expect(() => a.leave()).toThrow(IllegalStateError);
  });

  it('counts out a participant whose session ends, so leave does not wait for it', async () => {
    const prefix = fx.key('db');
    const parts = [0, 1, 2].map(() => fx.coord().doubleBarrier(prefix, options()));
    await Promise.all(parts.map((p) => p.enter({ timeout: '20s' })));
    const keys = await consulFetch(fx.target, 'GET', `/v1/kv/${prefix}/?recurse`);
    const victim = (keys.json() as Array<{ Session?: string }>).find((e) => e.Session)!.Session!;
    const survivors = parts.filter((p) => (p as unknown as { session?: { id: string } }).session?.id !== victim);
    expect(survivors).toHaveLength(2);
    // An operator ends one participant's session (a crashed process's session ends the same way).
    await consulFetch(fx.target, 'PUT', `/v1/session/destroy/${victim}`);
    await Promise.all(survivors.map((p) => p.leave({ timeout: '20s' })));
  });

  it('refuses a missing count and unknown options', () => {
    const coord = fx.coord();
    expect(() => coord.doubleBarrier(fx.key('db'), {} as never)).toThrow(/count/);
    expect(() => coord.doubleBarrier(fx.key('db'), { count: 2, cout: 1 } as never)).toThrow(/did you mean 'count'/);
  });
});

describe('a listener that throws', () => {
  const quietButCounting = (warnings: unknown[]) => ({ debug: () => {}, info: () => {}, error: () => {}, warn: (o: unknown) => warnings.push(o) });

  it('changes nothing for a barrier wait', async () => {
    const warnings: unknown[] = [];
    const key = fx.key('throwing');
    const owner = fx.coord().barrier(key);
    await owner.set();
    const barrier = fx.coord({ logger: quietButCounting(warnings) }).barrier(key);
    const blocked = nextEvent(barrier, 'waiting');
    barrier.on('waiting', () => {
      throw new Error('bug in a log line');
    });
    const waiting = barrier.wait({ timeout: '20s' });
    await blocked;
    await owner.remove();
    await waiting;
    expect(warnings).toHaveLength(1);
  });

  it('changes nothing for a double barrier enter', async () => {
    const warnings: unknown[] = [];
    const barrier = fx.coord({ logger: quietButCounting(warnings) }).doubleBarrier(fx.key('throwing-db'), { count: 1, ttl: fx.ttl });
    barrier.on('entered', () => {
      throw new Error('bug in a log line');
    });
    await barrier.enter({ timeout: '10s' });
    expect(barrier.state).toBe('entered');
    await barrier.leave({ timeout: '10s' });
    expect(warnings).toHaveLength(1);
  });
});
