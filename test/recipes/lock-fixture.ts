/**
 * Shared setup for the Lock / Semaphore / withLock tests: one target per file (the dev server, or
 * real Consul when CONSUL_HTTP_ADDR / CONSUL_TEST_CONTAINER is set), Coordinators and fault
 * proxies that are closed after each test, a key prefix per test, and the after-test checks the
 * issue asks for: no sessions and no contender keys left on the server.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { Coordinator, type CoordinatorOptions } from '../../src/coordinator.js';
import { startFaultProxy, type FaultProxy } from '../../src/testing/fault-proxy.js';
import type { DevServer } from '../../src/testing/index.js';
import { consulFetch, realTargetKind, startTarget, type Target } from '../support/target.js';

export interface LockFixture {
  readonly target: Target;
  readonly isDev: boolean;
  /** Dev server hooks; throws when the target is real Consul (guard with `it.runIf(fx.isDev)`). */
  readonly dev: DevServer;
  /** A key unique to the current test. */
  key(name?: string): string;
  /** A TTL the target accepts: short on the dev server, Consul's 10s minimum elsewhere. */
  readonly ttl: string;
  /** A Coordinator on the target (or on `via`), closed after the test. */
  coord(options?: CoordinatorOptions & { via?: string }): Coordinator;
  /** A fault proxy in front of the target, healed and closed after the test. */
  proxy(): Promise<FaultProxy>;
  /** Sessions the target lists right now (IDs). */
  sessions(): Promise<string[]>;
  /** Keys under `prefix/` other than the `.lock` record: semaphore contender keys. */
  contenderKeys(prefix: string): Promise<string[]>;
  /** Runs after this test's coordinators are closed (before the leftover checks). */
  cleanup(fn: () => Promise<void> | void): void;
}

let fileCounter = 0;

export function useLockFixture(): LockFixture {
  let target: Target | undefined;
  let coords: Coordinator[] = [];
  let proxies: FaultProxy[] = [];
  let cleanups: Array<() => Promise<void> | void> = [];
  let base = '';
  const run = `recipes-test/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

  const fx: LockFixture = {
    get target() {
      if (!target) throw new Error('target not started');
      return target;
    },
    get isDev() {
      // The one place that decides which Consul the tests talk to.
      return realTargetKind() === undefined;
    },
    get dev() {
      const dev = fx.target.dev;
      if (!dev) throw new Error('this test needs the dev server');
      return dev as unknown as DevServer;
    },
    key: (name = 'k') => `${base}${name}`,
    get ttl() {
      return fx.isDev ? '1s' : '10s';
    },
    coord({ via, ...options } = {}) {
      const coord = new Coordinator({
        address: via ?? fx.target.url,
        ...(fx.target.token ? { token: fx.target.token } : {}),
        retry: { retries: 3, minTimeout: 50, maxTimeout: 500 },
        ...options,
      });
      coords.push(coord);
      return coord;
    },
    async proxy() {
      const proxy = await startFaultProxy({ target: fx.target.url });
      proxies.push(proxy);
      return proxy;
    },
    async sessions() {
      const res = await consulFetch(fx.target, 'GET', '/v1/session/list');
      return (res.json() as Array<{ ID: string }>).map((s) => s.ID);
    },
    async contenderKeys(prefix) {
      const res = await consulFetch(fx.target, 'GET', `/v1/kv/${prefix}/?recurse`);
      if (res.status === 404) return [];
      return (res.json() as Array<{ Key: string }>).map((e) => e.Key).filter((k) => k !== `${prefix}/.lock`);
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
  };

  beforeAll(async () => {
    // Short-lived tombstones: every semaphore round deletes a contender key, and the dev server's
    // prefix reads slow down with the number of tombstones under the prefix.
    target = await startTarget({ dev: { sessionTtlMin: '1s', tombstoneTtl: '2s' } });
  });

  beforeEach(() => {
    fileCounter += 1;
    base = `${run}/${fileCounter}/`;
  });

  afterEach(async () => {
    // Heal first: a partitioned coordinator could not destroy its sessions.
    for (const proxy of proxies) proxy.heal();
    const mine = coords;
    coords = [];
    await Promise.all(mine.map((c) => c.close()));
    for (const fn of cleanups.splice(0)) await fn();
    for (const proxy of proxies.splice(0)) await proxy.close();
    if (!target) return;
    if (fx.isDev) {
      if (fx.dev.state.isPaused) fx.dev.resume();
      fx.dev.restoreLeader();
    }
    const left = await fx.sessions();
    if (fx.isDev) expect(left, 'sessions left on the server').toEqual([]);
    const keys = await consulFetch(target, 'GET', `/v1/kv/${base}?recurse`);
    if (keys.status === 200) {
      const locked = (keys.json() as Array<{ Key: string; Session?: string }>).filter((e) => e.Session).map((e) => e.Key);
      expect(locked, 'keys still locked by a session').toEqual([]);
    }
  });

  afterAll(async () => {
    if (!target) return;
    try {
      if (!fx.isDev) await consulFetch(target, 'DELETE', `/v1/kv/${run}/?recurse`);
    } finally {
      await target.close();
      target = undefined;
    }
  });

  return fx;
}

/** Any emitter with `once`/`off`, whatever its typed event map. */
interface AnyEmitter {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  once(event: any, fn: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: any, fn: (...args: any[]) => void): unknown;
}

/**
 * Resolves with the arguments of the next `event` (listener removed whatever happens); rejects
 * when `signal` aborts or after `timeout` ms with a message naming the event.
 */
export function nextEvent<A extends unknown[]>(
  emitter: AnyEmitter,
  event: string,
  { timeout = 10_000 }: { timeout?: number } = {},
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`no '${event}' event within ${timeout} ms`));
    }, timeout);
    emitter.once(event, onEvent);
  });
}

/** Resolves once `signal` aborts (with its reason). */
export function aborted(signal: AbortSignal, timeout = 10_000): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      reject(new Error(`signal not aborted within ${timeout} ms`));
    }, timeout);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
