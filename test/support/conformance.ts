/**
 * Harness for the conformance suite: runs one body of tests against the dev server always and,
 * when `CONSUL_HTTP_ADDR` (or `CONSUL_TEST_CONTAINER=1`) is set, against real Consul as well.
 * When real Consul is not configured, the real-agent variant is reported as skipped and a
 * console line says so.
 *
 * Every test gets its own key prefix (`ctx.key(...)`), sessions created through the context are
 * destroyed after each test, and the server must have none of them left.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect } from 'vitest';
import {
  consulFetch,
  kvPath,
  realTargetKind,
  startTarget,
  type ConsulFetchOptions,
  type ConsulResponse,
  type DevServerOptions,
  type Target,
  type TargetKind,
} from './target.js';

export interface ConformanceContext {
  /** Which kind of server this copy of the body runs against (known when tests are defined). */
  readonly kind: TargetKind;
  readonly isDev: boolean;
  /** The running target (available inside hooks and tests). */
  readonly target: Target;
  /** Raw request against the target; successful session creates are tracked for cleanup. */
  req(method: string, path: string, options?: ConsulFetchOptions): Promise<ConsulResponse>;
  /** A key unique to the current test: `<run prefix>/<test n>/<name>`. */
  key(name?: string): string;
  /** The current test's key prefix (ends with `/`). */
  readonly base: string;
  /** Creates a session (default body `{}`), asserts 200 and tracks it for cleanup. */
  session(body?: Record<string, unknown>): Promise<string>;
  /** Tracks a session created some other way so it is destroyed after the test. */
  track(sessionId: string): void;
  /** GET a single key; returns the response and the parsed entry (or undefined on 404). */
  getKey(key: string, query?: string): Promise<{ res: ConsulResponse; entry: DirEntryJson | undefined }>;
  /** PUT a value; returns the response (body is `true`/`false`). */
  putKey(key: string, value?: string, query?: string): Promise<ConsulResponse>;
}

/** A DirEntry as parsed by JSON.parse (Flags may be rounded: assert Flags on raw text). */
export interface DirEntryJson {
  LockIndex: number;
  Key: string;
  Flags: number;
  Value: string | null;
  Session?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface ConformanceOptions {
  /** Options for the dev server variant. */
  dev?: DevServerOptions;
  /** Run only against the dev server (fault hooks, lowered limits, fresh-store assumptions). */
  devOnly?: boolean;
  /**
   * The body uses `it.concurrent`: every `ctx.key()` call returns a fresh key, and sessions are
   * destroyed and checked once after all tests instead of after each.
   */
  concurrent?: boolean;
}

const RUN_PREFIX = `consul-recipes-conformance/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let testCounter = 0;

/**
 * Declares `title` with a `dev server` block and a `real agent` block running the same body.
 */
export function describeConformance(
  title: string,
  body: (ctx: ConformanceContext) => void,
  options: ConformanceOptions = {},
): void {
  const real = realTargetKind();
  describe(title, () => {
    describe('dev server', () => body(createContext('dev', options)));
    if (!options.devOnly) {
      describe.runIf(real !== undefined)(`real agent (${real ?? 'CONSUL_HTTP_ADDR not set'})`, () =>
        body(createContext(real ?? 'agent', options)),
      );
    }
  });
  if (!options.devOnly && real === undefined) {
    console.info(
      `[conformance] "${title}": real-agent variant skipped (set CONSUL_HTTP_ADDR, or CONSUL_TEST_CONTAINER=1, to run it against real Consul)`,
    );
  }
}

function createContext(kind: TargetKind, options: ConformanceOptions): ConformanceContext {
  let target: Target | undefined;
  let base = '';
  let sessions: string[] = [];

  const req = async (method: string, path: string, opts?: ConsulFetchOptions): Promise<ConsulResponse> => {
    if (target === undefined) throw new Error('target not started');
    const res = await consulFetch(target, method, path, opts);
    if (method === 'PUT' && path.startsWith('/v1/session/create') && res.status === 200) {
      const id = (res.json() as { ID?: string }).ID;
      if (id) sessions.push(id);
    }
    return res;
  };

  const ctx: ConformanceContext = {
    kind,
    isDev: kind === 'dev',
    get target() {
      if (target === undefined) throw new Error('target not started');
      return target;
    },
    get base() {
      return base;
    },
    req,
    key: (name = 'k') => {
      if (!options.concurrent) return `${base}${name}`;
      testCounter += 1;
      return `${RUN_PREFIX}/${testCounter}/${name}`;
    },
    async session(sessionBody = {}) {
      const res = await req('PUT', '/v1/session/create', { body: sessionBody });
      expect(res.status, res.text).toBe(200);
      const id = (res.json() as { ID: string }).ID;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      return id;
    },
    track(id) {
      sessions.push(id);
    },
    async getKey(key, query) {
      const res = await req('GET', kvPath(key, query));
      if (res.status === 404) return { res, entry: undefined };
      expect(res.status, res.text).toBe(200);
      const entries = res.json() as DirEntryJson[];
      expect(entries).toHaveLength(1);
      return { res, entry: entries[0] };
    },
    putKey(key, value, query) {
      return req('PUT', kvPath(key, query), value === undefined ? {} : { body: value });
    },
  };

  beforeAll(async () => {
    target = await startTarget({ kind, dev: options.dev ?? {} });
  });

  beforeEach(() => {
    testCounter += 1;
    base = `${RUN_PREFIX}/${testCounter}/`;
  });

  /** Destroys the tracked sessions and asserts none is left on the server. */
  const destroySessions = async (): Promise<void> => {
    if (target === undefined) return;
    const mine = sessions;
    sessions = [];
    for (const id of mine) {
      await consulFetch(target, 'PUT', `/v1/session/destroy/${id}`);
    }
    const list = await consulFetch(target, 'GET', '/v1/session/list');
    if (list.status !== 200) return; // a test left the server refusing reads (e.g. leaderless); nothing to check
    const left = (list.json() as Array<{ ID: string }>).map((s) => s.ID);
    if (kind === 'dev') expect(left, 'dev server has leftover sessions').toEqual([]);
    else expect(left.filter((id) => mine.includes(id)), 'leftover sessions').toEqual([]);
  };

  if (!options.concurrent) afterEach(destroySessions);

  afterAll(async () => {
    if (target === undefined) return;
    try {
      if (options.concurrent) await destroySessions();
      if (kind !== 'dev') await consulFetch(target, 'DELETE', `/v1/kv/${RUN_PREFIX}/?recurse`);
    } finally {
      await target.close();
      target = undefined;
    }
  });

  return ctx;
}

/** Parses a `{"ID": ...}` / `[{...}]` session array answer. */
export interface SessionJson {
  ID: string;
  Name: string;
  Node: string;
  LockDelay: number;
  Behavior: string;
  TTL: string;
  NodeChecks: string[] | null;
  ServiceChecks: Array<{ ID: string; Namespace?: string }> | null;
  Checks?: string[] | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** `base64(text)` as Consul returns KV values. */
export function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** Asserts a 200 whose JSON body is the boolean `value` (formatting is not asserted). */
export function expectBool(res: ConsulResponse, value: boolean): void {
  expect(res.status, res.text).toBe(200);
  expect(JSON.parse(res.text), res.text).toBe(value);
}

/** Asserts a Consul error answer: the status and the start of the plain-text body. */
export function expectError(res: ConsulResponse, status: number, bodyStart?: string | RegExp): void {
  expect(res.status, res.text).toBe(status);
  if (typeof bodyStart === 'string') expect(res.text.startsWith(bodyStart), `body: ${JSON.stringify(res.text)}`).toBe(true);
  else if (bodyStart !== undefined) expect(res.text).toMatch(bodyStart);
}
