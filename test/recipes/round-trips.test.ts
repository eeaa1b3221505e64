/**
 * Consul requests per operation, counted at the dev server (uncontended, so the counts are
 * deterministic): the numbers the guides' "How it works" sections justify, pinned so they cannot
 * grow back. Each operation is split where the holder's monitor parks its blocking read, which
 * every hold pays once (a cycle released at once may cancel it before it is sent).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Lock } from '../../src/recipes/lock/lock.js';
import { Semaphore } from '../../src/recipes/semaphore/semaphore.js';
import { LeaderElection } from '../../src/recipes/election/election.js';
import { countRequests, type RequestCounter } from '../support/request-counter.js';
import { waitFor } from '../support/wait.js';
import { useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

/** Long enough that no renewal lands in a count. */
const TTL = '60s';
const MONITOR_KEY = 'GET /v1/kv?index&consistent';
const MONITOR_PREFIX = 'GET /v1/kv?index&recurse&consistent';

let counter: RequestCounter;

beforeEach(() => {
  if (fx.isDev) counter = countRequests(fx.dev.port);
});

afterEach(() => {
  counter?.stop();
});

/** Runs `acquire`, waits until the monitor's blocking read has arrived, and splits the count there. */
async function acquireCounted<T>(acquire: () => Promise<T>, monitorRoute: string): Promise<{ value: T; routes: string[]; monitor: string[] }> {
  counter.take();
  const value = await acquire();
  await waitFor(() => counter.requests.some((r) => r.route === monitorRoute), { message: 'the monitor parked its read' });
  const all = counter.takeRoutes();
  return { value, routes: all.filter((r) => r !== monitorRoute), monitor: all.filter((r) => r === monitorRoute) };
}

async function counted(op: () => Promise<unknown>): Promise<string[]> {
  counter.take();
  await op();
  return counter.takeRoutes();
}

/**
 * Counts a release whose hold had its own session: release() resolves once the key is free, and
 * the session is destroyed right after, off the caller's path (as Go's api.Lock does). The count
 * runs until that session is gone from the server.
 */
async function releaseCounted(release: () => Promise<unknown>, sessionId: string): Promise<string[]> {
  counter.take();
  await release();
  await waitFor(() => !fx.dev.state.listSessions().some((s) => s.id === sessionId), { message: 'the hold\'s own session destroyed' });
  return counter.takeRoutes();
}

describe.runIf(fx.isDev)('requests per operation', () => {
  it('lock cycle with its own session: 5 the first time (create, read, acquiring transaction, release, destroy), then 4 (no read) + the monitor', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: TTL, lockDelay: 0 });
    // The first acquire reads the key (absent); each release's answer shows the key as it left it,
    // so the next acquire of the same Lock sends its acquiring transaction at once.
    for (let round = 0; round < 3; round++) {
      const { value: handle, routes, monitor } = await acquireCounted(() => lock.acquire(), MONITOR_KEY);
      expect(routes).toEqual(round === 0 ? ['GET /v1/kv', 'PUT /v1/session/create', 'PUT /v1/txn'] : ['PUT /v1/session/create', 'PUT /v1/txn']);
      expect(monitor).toEqual([MONITOR_KEY]);
      expect(await releaseCounted(() => handle.release(), handle.session.id)).toEqual(['PUT /v1/session/destroy', 'PUT /v1/txn']);
    }
  });

  it('a new Lock on a key left behind by another reads it first: 5', async () => {
    const key = fx.key();
    const first = await new Lock(fx.coord(), key, { ttl: TTL, lockDelay: 0 }).acquire();
    await releaseCounted(() => first.release(), first.session.id);
    const { value: handle, routes } = await acquireCounted(() => new Lock(fx.coord(), key, { ttl: TTL, lockDelay: 0 }).acquire(), MONITOR_KEY);
    expect(routes).toEqual(['GET /v1/kv', 'PUT /v1/session/create', 'PUT /v1/txn']);
    await handle.release();
  });

  it('lock cycle on a shared session: 3 the first time (read, acquiring transaction, release), then 2 + the monitor', async () => {
    const coord = fx.coord();
    const session = await coord.session({ ttl: TTL, lockDelay: 0 });
    const lock = new Lock(coord, fx.key(), { session });
    for (let round = 0; round < 3; round++) {
      const { value: handle, routes } = await acquireCounted(() => lock.acquire(), MONITOR_KEY);
      expect(routes).toEqual(round === 0 ? ['GET /v1/kv', 'PUT /v1/txn'] : ['PUT /v1/txn']);
      expect(await counted(() => handle.release())).toEqual(['PUT /v1/txn']);
    }
  });

  it('fair lock cycle with its own session: 5 (create, join, acquiring transaction, release-and-leave, destroy) + the monitor', async () => {
    const lock = new Lock(fx.coord(), fx.key(), { ttl: TTL, lockDelay: 0, fair: true });
    for (let round = 0; round < 2; round++) {
      const { value: handle, routes } = await acquireCounted(() => lock.acquire(), MONITOR_KEY);
      expect(routes).toEqual(['PUT /v1/session/create', 'PUT /v1/txn', 'PUT /v1/txn']);
      expect(await releaseCounted(() => handle.release(), handle.session.id)).toEqual(['PUT /v1/session/destroy', 'PUT /v1/txn']);
    }
  });

  it('semaphore cycle: 5 (create, list, enter-and-claim, leave, destroy) + the monitor', async () => {
    const sem = new Semaphore(fx.coord(), fx.key('sem'), { limit: 3, ttl: TTL, lockDelay: 0 });
    for (let round = 0; round < 2; round++) {
      const { value: permit, routes } = await acquireCounted(() => sem.acquire(), MONITOR_PREFIX);
      expect(routes).toEqual(['GET /v1/kv?recurse', 'PUT /v1/session/create', 'PUT /v1/txn']);
      expect(await releaseCounted(() => permit.release(), permit.session.id)).toEqual(['PUT /v1/session/destroy', 'PUT /v1/txn']);
    }
  });

  it('fair semaphore cycle: the same 5 + the monitor', async () => {
    const sem = new Semaphore(fx.coord(), fx.key('sem'), { limit: 3, ttl: TTL, lockDelay: 0, fair: true });
    const { value: permit, routes } = await acquireCounted(() => sem.acquire(), MONITOR_PREFIX);
    expect(routes).toEqual(['GET /v1/kv?recurse', 'PUT /v1/session/create', 'PUT /v1/txn']);
    expect(await releaseCounted(() => permit.release(), permit.session.id)).toEqual(['PUT /v1/session/destroy', 'PUT /v1/txn']);
  });

  it('a waiter pays its look and one parked read: lock 2 + session, fair lock 1 + session, semaphore 2 + session (its entering transaction shows the prefix)', async () => {
    const coord = fx.coord();
    const waitingCounted = async (contender: Lock | Semaphore, blockingReads = 1): Promise<{ routes: string[]; pending: Promise<unknown> }> => {
      // Counting starts once everything before (the holder's monitor, earlier waiters) is parked.
      const parkedBefore = counter.parked;
      counter.take();
      const waiting = new Promise<void>((resolve) => contender.once('waiting', () => resolve()));
      const pending = contender.acquire();
      pending.catch(() => undefined); // awaited below; a failed assertion must not leave it unobserved
      await waiting;
      await waitFor(() => counter.blocking === blockingReads && counter.parked === parkedBefore + 1, { message: 'the waiter parked its read' });
      return { routes: counter.takeRoutes(), pending };
    };
    const key = fx.key('busy');
    const holder = await new Lock(coord, key, { ttl: TTL, fair: true }).acquire();
    await waitFor(() => counter.parked === 1, { message: 'the holder\'s monitor parked' });
    const lockWaiter = await waitingCounted(new Lock(coord, key, { ttl: TTL }));
    expect(lockWaiter.routes).toEqual(['GET /v1/kv', 'GET /v1/kv?index', 'PUT /v1/session/create']);
    // A fair waiter joins (one transaction that also shows the queue and the key) and blocks on the one ahead.
    const fairWaiter = await waitingCounted(new Lock(coord, key, { ttl: TTL, fair: true }));
    expect(fairWaiter.routes).toEqual(['GET /v1/kv?index', 'PUT /v1/session/create', 'PUT /v1/txn']);
    await holder.release();
    await (await (lockWaiter.pending as Promise<{ release(): Promise<void> }>)).release();
    await (await (fairWaiter.pending as Promise<{ release(): Promise<void> }>)).release();

    const prefix = fx.key('full');
    const permit = await new Semaphore(coord, prefix, { limit: 1, ttl: TTL }).acquire();
    await waitFor(() => counter.parked === 1, { message: 'the holder\'s monitor parked' });
    // Two blocking reads: the waiter's, and the holder's monitor, which reads again because the
    // waiter's contender key changed the prefix it watches.
    const semWaiter = await waitingCounted(new Semaphore(coord, prefix, { limit: 1, ttl: TTL }), 2);
    expect(semWaiter.routes).toEqual(['GET /v1/kv?index&recurse', 'GET /v1/kv?index&recurse&consistent', 'GET /v1/kv?recurse', 'PUT /v1/session/create', 'PUT /v1/txn']);
    await permit.release();
    await (await (semWaiter.pending as Promise<{ release(): Promise<void> }>)).release();
  });

  it('campaign on a free key: 3 (create, the campaign transaction, the monitor); resign: 2', async () => {
    const election = new LeaderElection(fx.coord(), fx.key('leader'), { ttl: TTL, value: 'me' });
    for (let round = 0; round < 2; round++) {
      const { value: term, routes, monitor } = await acquireCounted(() => election.campaign(), MONITOR_KEY);
      expect([...routes, ...monitor]).toEqual(['PUT /v1/session/create', 'PUT /v1/txn', MONITOR_KEY]);
      expect(await releaseCounted(() => election.resign(), term.sessionId)).toEqual(['PUT /v1/session/destroy', 'PUT /v1/txn']);
    }
  });
});
