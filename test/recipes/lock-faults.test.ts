/**
 * Lock under faults, on the dev server (short TTLs and fault hooks): a partitioned holder, a
 * server-side invalidation with lock-delay, a SIGKILLed holder process.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LockLostError } from '../../src/errors.js';
import { Lock } from '../../src/recipes/lock/lock.js';
import { waitFor } from '../support/wait.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

describe.runIf(fx.isDev)('when the holder is partitioned from Consul', () => {
  it('aborts the holder’s signal before another contender acquires', async () => {
    const proxy = await fx.proxy();
    const key = fx.key();
    const options = { ttl: '1s', lockDelay: '500ms' };
    const a = new Lock(fx.coord({ via: proxy.url }), key, options);
    const b = new Lock(fx.coord(), key, options);
    const handleA = await a.acquire();

    // Everything both clients observe, in the order they observe it (one process, one clock).
    const events: string[] = [];
    let holderWhenAWasTold: string | undefined;
    handleA.signal.addEventListener('abort', () => {
      events.push('A: signal aborted');
      // The server's state at that very moment (the dev server runs in this process).
      holderWhenAWasTold = fx.dev.state.getKey(key)?.session;
    });
    a.on('lost', () => events.push('A: lost'));
    b.on('acquired', () => events.push('B: acquired'));

    const waiting = nextEvent(b, 'waiting');
    const pendingB = b.acquire({ timeout: '20s' });
    await waiting;
    proxy.partition();
    const handleB = await pendingB;

    expect(events).toEqual(['A: signal aborted', 'A: lost', 'B: acquired']);
    // When A was told, Consul still listed A's session on the key: nobody else could hold it.
    expect(holderWhenAWasTold).toBe(handleA.session.id);
    expect(handleA.signal.reason).toBeInstanceOf(LockLostError);
    expect((handleA.signal.reason as LockLostError).reason).toMatch(/session/);
    expect(handleB.fencingToken).toBeGreaterThan(handleA.fencingToken);
    await handleB.release();
  });

  it('loses a hold on a caller’s session at the session’s deadline even after the caller removed every session listener', async () => {
    const proxy = await fx.proxy();
    const coord = fx.coord({ via: proxy.url, retry: { retries: 0 } });
    const session = await coord.session({ ttl: '1s', lockDelay: 0 });
    const lock = new Lock(coord, fx.key(), { session });
    const handle = await lock.acquire();
    // A caller cleaning up its own listeners must not take the hold's loss detection with them.
    session.removeAllListeners();
    const lost = nextEvent<[LockLostError]>(lock, 'lost', { timeout: 5000 });
    // Renewals and the monitor's read both hang: only the session's local deadline can tell.
    proxy.partition('hold');
    const [error] = await lost;
    expect(error.reason).toMatch(/session was lost/);
    expect(handle.signal.reason).toBe(error);
    proxy.heal();
  });
});

describe.runIf(fx.isDev)('lock-delay', () => {
  it('after an invalidation nobody acquires until lock-delay has passed; the waiter just waits', async () => {
    const coord = fx.coord();
    const key = fx.key();
    const a = new Lock(coord, key, { ttl: '2s', lockDelay: '2s' });
    const handleA = await a.acquire();
    const b = new Lock(coord, key, { ttl: '2s', retryTime: '200ms' });
    const waiting = nextEvent(b, 'waiting');
    const pendingB = b.acquire({ timeout: '15s' });
    await waiting;

    const lost = nextEvent(a, 'lost');
    fx.dev.invalidateSession(handleA.session.id);
    const invalidatedAt = Date.now();
    await lost;

    // The key carries no session, yet acquires are refused: that is lock-delay, and a try says
    // "busy" (null), not an error.
    expect(fx.dev.state.getKey(key)?.session).toBeUndefined();
    expect(fx.dev.state.lockDelayMs(key)).toBeGreaterThan(0);
    const c = new Lock(coord, key, { ttl: '2s' });
    expect(await c.tryAcquire()).toBeNull();

    let delayLeftWhenBAcquired: number | undefined;
    b.on('acquired', () => {
      delayLeftWhenBAcquired = fx.dev.state.lockDelayMs(key);
    });
    const handleB = await pendingB;
    expect(delayLeftWhenBAcquired).toBe(0);
    // A safety bound, not a speed check: the server refused every acquire for the whole delay.
    expect(Date.now() - invalidatedAt).toBeGreaterThanOrEqual(2000 - 20);
    await handleB.release();
  });

  it('with lockDelay 0 the next contender acquires right after an invalidation', async () => {
    const coord = fx.coord();
    const key = fx.key();
    const a = new Lock(coord, key, { ttl: '2s', lockDelay: 0 });
    const handleA = await a.acquire();
    const b = new Lock(coord, key, { ttl: '2s' });
    const waiting = nextEvent(b, 'waiting');
    const pendingB = b.acquire({ timeout: '5s' });
    await waiting;
    fx.dev.invalidateSession(handleA.session.id);
    expect(fx.dev.state.lockDelayMs(key)).toBe(0);
    const handleB = await pendingB;
    await handleB.release();
  });
});

describe.runIf(fx.isDev)('when the cluster has no leader for a while', () => {
  it('a waiter whose session expires meanwhile keeps waiting with a new one and acquires afterwards', async () => {
    const coord = fx.coord();
    const key = fx.key();
    // The holder rides it out: a long TTL and a tolerant monitor.
    const holder = await new Lock(coord, key, { ttl: '10s', monitorRetries: 50 }).acquire();
    const waiter = new Lock(coord, key, { ttl: '1s' });
    const errors: unknown[] = [];
    waiter.on('error', (err) => errors.push(err));
    const waiting = nextEvent(waiter, 'waiting');
    const pending = waiter.acquire({ timeout: '20s' });
    await waiting;
    const firstSession = fx.dev.state.listSessions().map((s) => s.id).find((id) => id !== holder.session.id);

    fx.dev.leaderless();
    // The waiter's session cannot be renewed: it is lost, and re-creating it fails for now.
    await waitFor(() => errors.length > 0, { timeout: 10_000 });
    fx.dev.restoreLeader();

    // Back to normal: the waiter waits again (with a new session) and gets the lock on release.
    await waitFor(() => fx.dev.state.listSessions().some((s) => s.id !== holder.session.id && s.id !== firstSession), { timeout: 10_000 });
    expect(waiter.state).toBe('acquiring');
    expect(holder.signal.aborted).toBe(false);
    await holder.release();
    const handle = await pending;
    expect(handle.session.id).not.toBe(firstSession);
    await handle.release();
    // The first session could not be destroyed while there was no leader; Consul expires it.
    await waitFor(() => fx.dev.state.listSessions().length === 0, { timeout: 10_000 });
  });
});

describe.runIf(fx.isDev)('when the holder process is SIGKILLed', () => {
  const child = fileURLToPath(new URL('./lock-holder-child.ts', import.meta.url));

  async function startHolder(key: string, options: object): Promise<{ sessionId: string; kill: () => Promise<void> }> {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, fx.target.url, key, JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    fx.cleanup(async () => {
      proc.kill('SIGKILL');
      await exited;
    });
    const sessionId = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /held (\S+)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      proc.once('exit', (code) => reject(new Error(`holder exited with ${code} before holding the lock`)));
    });
    return {
      sessionId,
      kill: async () => {
        proc.kill('SIGKILL');
        await exited;
      },
    };
  }

  it('frees the lock once Consul expires the dead holder’s session (2×ttl, then lock-delay)', async () => {
    const key = fx.key();
    const holder = await startHolder(key, { ttl: '1s', lockDelay: '200ms' });
    const waiter = new Lock(fx.coord(), key, { ttl: '1s', retryTime: '200ms' });
    const waiting = nextEvent(waiter, 'waiting');
    const pending = waiter.acquire({ timeout: '15s' });
    await waiting;
    await holder.kill();
    const handle = await pending;
    expect(fx.dev.state.listSessions().map((s) => s.id)).not.toContain(holder.sessionId);
    await handle.release();
  });

  it('frees it sooner with healthCheckTtl: the dead process stops heartbeating its check', async () => {
    const key = fx.key();
    const holder = await startHolder(key, { ttl: '10s', lockDelay: '200ms', healthCheckTtl: '1s' });
    const waiter = new Lock(fx.coord(), key, { ttl: '1s', retryTime: '200ms' });
    const waiting = nextEvent(waiter, 'waiting');
    // Well before 2×ttl (20s) would pass: only the check can free the lock in time.
    const pending = waiter.acquire({ timeout: '8s' });
    await waiting;
    await holder.kill();
    const handle = await pending;
    expect(fx.dev.state.listSessions().map((s) => s.id)).not.toContain(holder.sessionId);
    await handle.release();
  });
});
