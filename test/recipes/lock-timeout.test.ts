/** A LockTimeoutError says who holds the key (session ID and name, never a token) and whether lock-delay is in force. */
import { describe, expect, it } from 'vitest';
import { LockTimeoutError } from '../../src/errors.js';
import { Lock } from '../../src/recipes/lock/lock.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

describe('when acquire({ timeout }) runs out', () => {
  it('names the session holding the key and its name', async () => {
    const coord = fx.coord();
    const key = fx.key();
    const holder = await new Lock(coord, key, { ttl: fx.ttl, sessionName: 'nightly-job on host-a' }).acquire();
    const waiter = new Lock(coord, key, { ttl: fx.ttl });
    const waiting = nextEvent(waiter, 'waiting');
    const pending = waiter.acquire({ timeout: '400ms' });
    await waiting;

    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LockTimeoutError);
    const timeout = err as LockTimeoutError;
    expect(timeout.holder).toEqual({ sessionId: holder.session.id, sessionName: 'nightly-job on host-a' });
    expect(timeout.lockDelay).toBe(false);
    expect(timeout.message).toContain(`held by session ${holder.session.id} ("nightly-job on host-a")`);
    await holder.release();
  });

  it.runIf(fx.isDev)('says lock-delay is in force when the key is free but acquires are refused', async () => {
    const coord = fx.coord();
    const key = fx.key();
    const a = new Lock(coord, key, { ttl: '2s', lockDelay: '10s' });
    const handleA = await a.acquire();
    const lost = nextEvent(a, 'lost');
    fx.dev.invalidateSession(handleA.session.id);
    await lost;

    const b = new Lock(coord, key, { ttl: '2s', retryTime: '100ms' });
    const err = await b.acquire({ timeout: '600ms' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as LockTimeoutError).lockDelay).toBe(true);
    expect((err as LockTimeoutError).holder).toBeUndefined();
    expect((err as Error).message).toMatch(/lock-delay is in force/);
  });
});
