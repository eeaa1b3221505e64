/**
 * Input fuzzing (fast-check): every public constructor and method, given hostile keys, options
 * and values — unicode, 1 MiB strings, negative numbers, NaN, wrong types, objects carrying
 * `__proto__` / `constructor` keys — either succeeds or fails with a typed `RecipeError`. Never an
 * untyped throw, never an unhandled rejection (the setup file fails the run on one), never a
 * promise that does not settle, and never a polluted `Object.prototype`.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Coordinator,
  ConfigWatcher,
  LeaderElection,
  Lock,
  RecipeError,
  Semaphore,
  ServiceWatcher,
  formatDurationMs,
  parseGoDurationNs,
  withLock,
  withSemaphore,
} from '../../src/index.js';
import { startDevServer, startFaultProxy, type DevServer } from '../../src/testing/index.js';

const LONG = Number(process.env.RELIABILITY_SECONDS ?? 0) > 0;
const RUNS = LONG ? 300 : 40;
/** A call that has not settled after this long counts as hung. */
const HUNG_MS = 8_000;
const MIB = 'x'.repeat(1 << 20);

let dev: DevServer;
let coord: Coordinator;
beforeAll(async () => {
  dev = await startDevServer({ sessionTtlMin: '100ms' });
  coord = new Coordinator({ address: dev.url, retry: { retries: 0 } });
});
afterAll(async () => {
  await coord.close();
  await dev.close();
});

/** Values nobody should pass, and a few that are fine. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(undefined, null, NaN, Infinity, -Infinity, -1, -0, 0, 1e21, Number.MAX_SAFE_INTEGER + 2, 0.5, true, false, '', ' ', '/', '..', 'a/../b', '/lead', '10s', '-5s', '1h', '250ms', 'ms', '1e3s', MIB, [], [1, 'a'], {}, 10n, Symbol('s'), () => 1, new Date(0), /re/, Buffer.from('buf')),
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.constant(JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}') as unknown),
  fc.constant(Object.create(null) as unknown),
);

const OPTION_NAMES = [
  'ttl', 'lockDelay', 'healthCheckTtl', 'checks', 'sessionName', 'monitorRetries', 'waitTime', 'retryTime', 'value', 'limit', 'session',
  'behavior', 'name', 'decode', 'timeout', 'signal', 'passingOnly', 'tag', 'address', 'token', 'datacenter', 'retry', 'logger', '__proto__', 'constructor',
  // dev server and fault proxy
  'sessionTtlMin', 'aclToken', 'nodeName', 'nodeId', 'tombstoneTtl', 'kvMaxValueSize', 'txnMaxReqLen', 'txnMaxOps', 'rpcHoldTimeout', 'checkDeregisterIntervalMin', 'checkReapInterval',
];
const hostileOptions: fc.Arbitrary<unknown> = fc.oneof(
  hostile,
  fc.dictionary(fc.constantFrom(...OPTION_NAMES), hostile, { maxKeys: 4 }),
);
/** Keys: mostly strings (a unique suffix keeps runs apart), sometimes anything at all. */
const hostileKey: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => `fuzz/${s}`),
  fc.string({ maxLength: 40 }),
  hostile,
);

type Outcome = 'ok' | 'typed';

/** Every bad argument, the fault proxy's included, must throw a RecipeError. */
const typed = (_what: string, err: unknown): boolean => err instanceof RecipeError;

/** Runs `fn`; a sync throw or a rejection must be a RecipeError; a promise must settle. */
async function judge(what: string, fn: () => unknown): Promise<Outcome> {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    if (typed(what, err)) return 'typed';
    throw new Error(`${what}: untyped synchronous throw: ${show(err)}`, { cause: err });
  }
  if (!(result instanceof Promise)) return 'ok';
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), HUNG_MS)));
  const settled = result.then(
    () => 'ok' as const,
    (err: unknown) => {
      if (typed(what, err)) return 'typed' as const;
      throw new Error(`${what}: untyped rejection: ${show(err)}`, { cause: err });
    },
  );
  const outcome = await Promise.race([settled, hung]);
  clearTimeout(timer);
  if (outcome === 'hung') throw new Error(`${what}: did not settle within ${HUNG_MS} ms`);
  return outcome;
}

function show(x: unknown): string {
  try {
    return typeof x === 'string' ? JSON.stringify(x.slice(0, 80)) : x instanceof Error ? `${x.name}: ${x.message.slice(0, 200)}` : String(x).slice(0, 80);
  } catch {
    return typeof x;
  }
}

/** Releases whatever a successful call returned. */
async function cleanup(x: unknown): Promise<void> {
  if (x && typeof x === 'object') {
    const o = x as { release?: () => Promise<void>; close?: () => Promise<void>; resign?: () => Promise<void> };
    if (typeof o.release === 'function') await o.release().catch(() => undefined);
    else if (typeof o.close === 'function') await o.close().catch(() => undefined);
  }
}

/** Every entry point, with the hostile inputs in the places callers fill in. */
const entryPoints: Record<string, (key: unknown, options: unknown, value: unknown) => unknown> = {
  'new Coordinator(options)': (_k, options) => {
    const c = new Coordinator(options as never);
    return c.close();
  },
  'new Lock + acquire': async (key, options) => {
    const lock = new Lock(coord, key as string, options as never);
    const h = await lock.acquire({ timeout: '2s' });
    await h.release();
  },
  'lock.acquire(options)': async (key, _o, value) => {
    const lock = coord.lock(`fuzz/acquire/${typeof key}`, { ttl: '1s', lockDelay: 0 });
    try {
      const h = await lock.acquire(value as never);
      await h.release();
    } finally {
      await lock.close();
    }
  },
  'lock.tryAcquire(options)': async (_k, _o, value) => {
    const lock = coord.lock('fuzz/try', { ttl: '1s', lockDelay: 0 });
    try {
      await cleanup(await lock.tryAcquire(value as never));
    } finally {
      await lock.close();
    }
  },
  'new Semaphore + acquire': async (key, options) => {
    const sem = new Semaphore(coord, key as string, options as never);
    try {
      await cleanup(await sem.acquire({ timeout: '2s' }));
    } finally {
      await sem.close();
    }
  },
  'new LeaderElection + campaign + proclaim': async (key, options, value) => {
    const election = new LeaderElection(coord, key as string, options as never);
    election.on('error', () => undefined);
    try {
      await election.campaign({ timeout: '2s' });
      await election.proclaim(value as never);
      await election.leader();
    } finally {
      await election.close();
    }
  },
  'election.campaign(options)': async (_k, _o, value) => {
    const election = coord.election('fuzz/campaign', { ttl: '1s', lockDelay: 0 });
    try {
      await election.campaign(value as never);
    } finally {
      await election.close();
    }
  },
  'coord.session(options)': async (_k, options) => cleanup(await coord.session(options as never)),
  'withLock(key, fn, options)': (key, options) => withLock(coord, key as string, () => 1, options as never),
  'withSemaphore(prefix, options, fn)': (key, options, value) => withSemaphore(coord, key as string, options as never, () => 1, value as never),
  'new ConfigWatcher + ready': async (key, options) => {
    const w = new ConfigWatcher(coord, key as string, options as never);
    w.on('error', () => undefined);
    try {
      await w.ready({ timeout: '2s' });
      w.get(String(key));
    } finally {
      await w.close();
    }
  },
  'new ServiceWatcher + ready': async (key, options) => {
    const w = new ServiceWatcher(coord, key as string, options as never);
    w.on('error', () => undefined);
    try {
      await w.ready({ timeout: '2s' });
      w.pick();
    } finally {
      await w.close();
    }
  },
  'coord.resolve(name, options)': (key, options) => coord.resolve(key as string, options as never),
  'coord.registerService(options)': async (_k, options) => cleanup(await coord.registerService(options as never)),
  'coord.events.fire(name, payload, options)': (key, options, value) => coord.events.fire(key as string, value as never, options as never),
  'coord.events.watch(name, options)': (key, options) => {
    const w = coord.events.watch(key as string, options as never);
    return w.close();
  },
  'coord.api.kv.put/get(key, value)': async (key, _o, value) => {
    await coord.api.kv.put(key as string, value as never);
    await coord.api.kv.get(key as string);
  },
  'parseGoDurationNs / formatDurationMs': (key, _o, value) => {
    parseGoDurationNs(key as string);
    formatDurationMs(value as number);
  },
  'startDevServer(options)': async (_k, options) => {
    const d = await startDevServer({ ...(options as object), port: 0, host: '127.0.0.1' } as never);
    await d.close();
  },
  'startFaultProxy(options)': async (_k, options, value) => {
    const p = await startFaultProxy({ ...(options as object), target: value as string, port: 0, host: '127.0.0.1' } as never);
    await p.close();
  },
};

describe('hostile inputs', () => {
  for (const [name, call] of Object.entries(entryPoints)) {
    it(
      `${name}: success or a typed RecipeError, never an untyped throw or a hang`,
      async () => {
        const seen = { ok: 0, typed: 0 };
        await fc.assert(
          fc.asyncProperty(hostileKey, hostileOptions, hostile, async (key, options, value) => {
            seen[await judge(name, () => call(key, options, value))] += 1;
            expect(({} as Record<string, unknown>).polluted).toBeUndefined();
          }),
          { numRuns: RUNS, seed: LONG ? undefined : 20261207 },
        );
        // Both sides were exercised: the inputs are not all rejected up front.
        expect(seen.typed).toBeGreaterThan(0);
      },
      LONG ? 600_000 : 120_000,
    );
  }
});
