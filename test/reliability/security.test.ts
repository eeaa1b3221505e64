/**
 * Security: the ACL token never appears in an error, a log line or an event payload (every one
 * of them is recorded and grepped); with ACLs on, every recipe given a wrong token fails with a
 * clear 403-derived error after one request, writing nothing; and the dev server's ACL mode
 * refuses what Consul's default-deny policy refuses.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigWatcher, ConsulError, Coordinator, LeaderElection, Lock, RecipeError, Semaphore, ServiceWatcher, type Logger } from '../../src/index.js';
import { startDevServer, startFaultProxy, type DevServer } from '../../src/testing/index.js';
import { waitFor } from '../support/wait.js';
import { startCountingProxy } from './counting-proxy.js';

const TOKEN = 'b3f0c7e2-secret-management-token-5d1a';
const WRONG = 'wrong-token-0f9e8d7c-6b5a';

let dev: DevServer;
const serverLog: string[] = [];
beforeAll(async () => {
  const capture = (level: string) => (message: string, fields?: Record<string, unknown>) => serverLog.push(`${level} ${message} ${inspect(fields, { depth: 8 })}`);
  dev = await startDevServer({ sessionTtlMin: '100ms', aclToken: TOKEN, logger: { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') } });
});
afterAll(async () => {
  await dev.close();
});

/** A logger that keeps every line, fields inspected deeply. */
function recordingLogger(lines: string[]): Logger {
  const at = (level: string) => (fields: unknown, message?: string) => lines.push(`${level} ${message ?? ''} ${inspect(fields, { depth: 8 })}`);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as Logger;
}

/** Everything an error shows: message, stack, own fields, the cause chain, inspect and JSON. */
function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 6; depth++) {
    parts.push(inspect(e, { depth: 8, showHidden: true }));
    if (e instanceof Error) parts.push(e.message, e.stack ?? '');
    try {
      parts.push(JSON.stringify(e));
    } catch {
      // circular: inspect above covers it
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\n');
}

describe('the token never leaks', () => {
  it('into errors, log lines or event payloads, on success and on every kind of failure', async () => {
    const logs: string[] = [];
    const texts: string[] = [];
    const keep = (x: unknown): void => void texts.push(errorText(x));
    const coord = new Coordinator({ address: dev.url, token: TOKEN, logger: recordingLogger(logs) });
    const wrong = new Coordinator({ address: dev.url, token: WRONG, logger: recordingLogger(logs), retry: { retries: 1, minTimeout: 10 } });
    const proxy = await startFaultProxy({ target: dev.url });
    const cut = new Coordinator({ address: proxy.url, token: TOKEN, logger: recordingLogger(logs), retry: { retries: 1, minTimeout: 10 }, timeout: '500ms' });

    // Successes, with every event recorded.
    const lock = new Lock(coord, 'security/lock', { ttl: '1s', lockDelay: 0 });
    const sem = new Semaphore(coord, 'security/sem', { ttl: '1s', limit: 1 });
    const election = new LeaderElection(coord, 'security/leader', { ttl: '1s', lockDelay: 0, value: { id: 'me' } });
    for (const emitter of [lock, sem] as const) for (const ev of ['acquired', 'released', 'lost', 'error', 'waiting'] as const) emitter.on(ev, (...args: unknown[]) => keep(args));
    for (const ev of ['elected', 'deposed', 'leader', 'error', 'waiting'] as const) election.on(ev, (...args: unknown[]) => keep(args));
    const handle = await lock.acquire();
    keep(handle);
    dev.invalidateSession(handle.session.id); // a loss: 'lost' with its LockLostError
    await waitFor(() => lock.state === 'lost');
    keep(handle.signal.reason);
    await (await sem.acquire()).release();
    keep(await election.campaign());
    await election.resign();
    const watcher = new ConfigWatcher(coord, 'security/config/');
    watcher.on('change', (...args: unknown[]) => keep(args));
    await coord.api.kv.put('security/config/a', 'x');
    await watcher.ready();
    await watcher.close();
    await coord.events.fire('deploy', 'payload');

    // Failures: wrong token (403), unknown datacenter (500), a partitioned agent, a closed coordinator.
    proxy.partition('drop');
    const failures: Array<Promise<unknown>> = [
      cut.api.kv.get('security/lock'),
      cut.lock('security/lock3').acquire({ timeout: '1s' }),
      wrong.lock('security/lock2').acquire({ timeout: '2s' }),
      wrong.semaphore('security/sem2', { limit: 1 }).acquire({ timeout: '2s' }),
      wrong.election('security/leader2').campaign({ timeout: '2s' }),
      wrong.configWatcher('security/config/').ready({ timeout: '2s' }),
      wrong.events.fire('deploy'),
      new Coordinator({ address: dev.url, token: TOKEN, datacenter: 'nowhere', retry: { retries: 0 }, logger: recordingLogger(logs) }).api.kv.get('x'),
    ];
    await Promise.all(failures.map((f) => f.then(keep, keep)));
    proxy.heal();
    await coord.close();
    await wrong.close();
    await cut.close();
    await proxy.close();
    try {
      await coord.lock('security/after').acquire();
    } catch (err) {
      keep(err); // ClosedError
    }

    const everything = [...logs, ...texts, ...serverLog].join('\n');
    expect(texts.length).toBeGreaterThan(10);
    expect(logs.length).toBeGreaterThan(0);
    expect(everything).toContain('ACL not found'); // the failures were the ones intended
    for (const secret of [TOKEN, WRONG]) {
      const at = everything.indexOf(secret);
      expect(at, `token found: …${everything.slice(Math.max(0, at - 3000), at + 60)}`).toBe(-1);
    }
  });
});

describe('a wrong token with ACLs on', () => {
  const cases: Record<string, (c: Coordinator) => Promise<unknown>> = {
    'lock.acquire': (c) => c.lock('acl/lock').acquire({ timeout: '2s' }),
    'lock.tryAcquire': (c) => c.lock('acl/lock').tryAcquire(),
    'semaphore.acquire': (c) => c.semaphore('acl/sem', { limit: 2 }).acquire({ timeout: '2s' }),
    'election.campaign': (c) => c.election('acl/leader').campaign({ timeout: '2s' }),
    'election.leader': (c) => c.election('acl/leader').leader(),
    'withLock': (c) => c.withLock('acl/lock', () => 'ran', { timeout: '2s' }),
    'session': (c) => c.session(),
    'configWatcher.ready': (c) => new ConfigWatcher(c, 'acl/config/').ready({ timeout: '2s' }),
    'serviceWatcher.ready': (c) => new ServiceWatcher(c, 'billing').ready({ timeout: '2s' }),
    'registerService': (c) => c.registerService({ name: 'billing', check: { ttl: '5s' } }),
    'resolve': (c) => c.resolve('billing'),
    'events.fire': (c) => c.events.fire('deploy', 'x'),
  };
  for (const [name, call] of Object.entries(cases)) {
    it(`${name}: fails with ConsulError 403 'ACL not found' after one request, writing nothing`, async () => {
      const counter = await startCountingProxy(dev.url);
      const coord = new Coordinator({ address: counter.url, token: WRONG });
      const indexBefore = dev.state.index;
      const err = await call(coord).then(
        (v) => {
          throw new Error(`${name} succeeded with a wrong token: ${inspect(v)}`);
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RecipeError);
      expect(err).toBeInstanceOf(ConsulError);
      const consul = err as ConsulError;
      // events.fire: Consul's handler has already written its 500 when the ACL error comes back
      // (agent/event_endpoint.go); everything else is a 403.
      expect(consul.statusCode).toBe(name === 'events.fire' ? 500 : 403);
      expect(consul.message).toMatch(/ACL not found/);
      // An ACL refusal never passes by itself (the one transient rule): not retried, whatever its status.
      expect(consul.transient).toBe(false);
      expect(counter.count(), 'requests sent').toBe(1);
      expect(dev.state.index).toBe(indexBefore);
      expect(dev.state.listSessions()).toEqual([]);
      expect(dev.state.listKeys('acl/')).toEqual([]);
      await coord.close();
      await counter.close();
    });
  }
});

describe("the dev server's ACL mode is default-deny", () => {
  const call = async (method: string, path: string, token?: string, body?: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${dev.url}${path}`, { method, headers: token ? { 'X-Consul-Token': token } : {}, body });
    return { status: res.status, text: await res.text() };
  };
  // Each: what Consul's default-deny refuses to the anonymous token (no token) and to an unknown one.
  // A denied write inside a transaction is reported per operation: 409 with the denial in
  // Errors (agent/txn_endpoint.go); the unknown token is refused before, with 403.
  const refused: Array<[string, string, string?]> = [
    ['PUT', '/v1/kv/acl/x', 'v'],
    ['GET', '/v1/kv/acl/x'],
    ['DELETE', '/v1/kv/acl/x'],
    ['PUT', '/v1/session/create', '{}'],
    ['PUT', '/v1/txn', '[{"KV":{"Verb":"set","Key":"acl/t","Value":"eA=="}}]'],
    ['GET', '/v1/agent/self'],
    ['PUT', '/v1/agent/service/register', '{"Name":"billing"}'],
    ['PUT', '/v1/agent/check/register', '{"Name":"c","TTL":"5s"}'],
  ];
  for (const [method, path, body] of refused) {
    it(`${method} ${path}: 403 Permission denied without a token, 403 ACL not found with an unknown one, allowed with the management token`, async () => {
      const indexBefore = dev.state.index;
      const anonymous = await call(method, path, undefined, body);
      expect(anonymous.status).toBe(path === '/v1/txn' ? 409 : 403);
      expect(anonymous.text).toMatch(/Permission denied/);
      const unknown = await call(method, path, WRONG, body);
      expect(unknown).toEqual({ status: 403, text: 'ACL not found' });
      expect(dev.state.index).toBe(indexBefore);
      const management = await call(method, path, TOKEN, body);
      expect(management.status).toBeLessThan(500);
      expect(management.status).not.toBe(403);
    });
  }

  it('filters list endpoints for the anonymous token instead of failing, and answers status endpoints to anyone', async () => {
    await call('PUT', '/v1/kv/acl/listed', TOKEN, 'v');
    const services = await fetch(`${dev.url}/v1/catalog/services`);
    expect(services.status).toBe(200);
    expect(await services.json()).toEqual({}); // the built-in `consul` service is filtered out
    // …without saying so to the anonymous token (agent/consul/rpc.go maskResultsFilteredByACLs).
    expect(services.headers.get('x-consul-results-filtered-by-acls')).toBeNull();
    // A key list the filter emptied is a 404, as for no keys at all (agent/kvs_endpoint.go).
    const keys = await fetch(`${dev.url}/v1/kv/acl/?keys`);
    expect([keys.status, await keys.text()]).toEqual([404, '']);
    expect((await call('GET', '/v1/catalog/services', TOKEN)).text).toContain('consul');
    expect((await call('GET', '/v1/status/leader')).status).toBe(200);
    await call('DELETE', '/v1/kv/acl/?recurse', TOKEN);
  });
});
