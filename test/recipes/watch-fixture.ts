/**
 * Shared setup for the ConfigWatcher, service and event tests against a live server: one target
 * per file (the dev server, or real Consul when CONSUL_HTTP_ADDR / CONSUL_TEST_CONTAINER is set),
 * Coordinators closed after each test, a key prefix per test, and a resource tracker to prove
 * that `close()` leaves no timer or socket behind.
 */
import { createHook } from 'node:async_hooks';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { Coordinator, type CoordinatorOptions } from '../../src/coordinator.js';
import type { DevServer } from '../../src/testing/index.js';
import { consulFetch, realTargetKind, startTarget, type Target } from '../support/target.js';

export interface WatchFixture {
  readonly target: Target;
  readonly isDev: boolean;
  /** Dev server hooks; throws on real Consul (guard with `it.runIf(fx.isDev)`). */
  readonly dev: DevServer;
  /** The current test's key prefix (ends with `/`). */
  readonly prefix: string;
  /** A name unique to the current test (for services and events). */
  readonly unique: string;
  /** A Coordinator on the target, closed after the test. */
  coord(options?: CoordinatorOptions): Coordinator;
  /** Runs after this test's Coordinators are closed. */
  cleanup(fn: () => Promise<void> | void): void;
}

let counter = 0;

export function useWatchFixture(): WatchFixture {
  let target: Target | undefined;
  let coords: Coordinator[] = [];
  let cleanups: Array<() => Promise<void> | void> = [];
  const run = `recipes-watch/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  let n = 0;

  const fx: WatchFixture = {
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
    get prefix() {
      return `${run}/${n}/`;
    },
    get unique() {
      return `rw-${run.split('/')[1]}-${n}`;
    },
    coord(options = {}) {
      const coord = new Coordinator({
        address: fx.target.url,
        ...(fx.target.token ? { token: fx.target.token } : {}),
        retry: { retries: 3, minTimeout: 50, maxTimeout: 500 },
        ...options,
      });
      coords.push(coord);
      return coord;
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
  };

  beforeAll(async () => {
    // Dev server: lower Consul's 1-minute DeregisterCriticalServiceAfter floor and 30 s reaper so
    // reaping tests take seconds; a real agent keeps Consul's values.
    target = await startTarget({ dev: { sessionTtlMin: '1s', checkDeregisterIntervalMin: '1s', checkReapInterval: '200ms' } });
  });

  beforeEach(() => {
    counter += 1;
    n = counter;
  });

  afterEach(async () => {
    if (target?.dev) {
      const dev = fx.dev;
      if (dev.state.isPaused) dev.resume();
      dev.restoreLeader();
    }
    const mine = coords;
    coords = [];
    await Promise.all(mine.map((c) => c.close()));
    for (const fn of cleanups.splice(0)) await fn();
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

/**
 * Records every timer and TCP handle created between `start()` and `stop()`, and which of them are
 * still alive — unref()ed timers included, which `process.getActiveResourcesInfo()` does not show.
 */
export function trackResources(): { live(): string[]; stop(): void } {
  const live = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type === 'Timeout' || type === 'TCPWRAP') live.set(asyncId, type);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  });
  hook.enable();
  return {
    live: () => [...live.values()],
    stop: () => hook.disable(),
  };
}

/** Polls `condition` on the immediate queue (creating no timers of its own) until it holds. */
export async function settle(condition: () => boolean, { timeout = 5_000, message = 'condition' } = {}): Promise<void> {
  const deadline = performance.now() + timeout;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${message}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * For scripted endpoints: parks a blocking read until something calls one of `wake`'s functions
 * (a write) or `signal` aborts (rejecting with its reason), as Consul parks a blocking query.
 */
export function park(wake: Set<() => void>, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      wake.delete(done);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = (): void => {
      wake.delete(done);
      reject(signal?.reason);
    };
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    wake.add(done);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
