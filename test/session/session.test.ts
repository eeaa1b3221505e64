import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coordinator, ConfigError, SessionLostError } from '../../src/index.js';
import { startFaultProxy, type FaultProxy } from '../../src/testing/index.js';
import { startTarget, waitFor, type Target } from '../support/target.js';
import { nextEvent } from '../support/events.js';

let target: Target;
let coord: Coordinator;
const extra: Array<{ close(): Promise<void> }> = [];

async function sessionsOnServer(): Promise<
  Array<{ ID: string; LockDelay: number; TTL: string; Behavior: string; NodeChecks: string[] | null; ServiceChecks: Array<{ ID: string }> | null }>
> {
  const res = await fetch(`${target.url}/v1/session/list`);
  return (await res.json()) as never;
}

beforeEach(async () => {
  target = await startTarget({ kind: 'dev', dev: { sessionTtlMin: '100ms' } });
  coord = new Coordinator({ address: target.url });
});

afterEach(async () => {
  await coord.close();
  for (const r of extra.splice(0).reverse()) await r.close();
  expect(await sessionsOnServer()).toEqual([]);
  await target.close();
});

describe('creating a session', () => {
  it('creates it with the given ttl, lock-delay, behaviour and checks', async () => {
    const s = await coord.session({ name: 'worker', ttl: '2s', lockDelay: '250ms', behavior: 'delete' });
    const [info] = (await sessionsOnServer()).filter((x) => x.ID === s.id);
    expect(info).toMatchObject({ TTL: '2s', LockDelay: 250_000_000, Behavior: 'delete', NodeChecks: ['serfHealth'] });
    expect(s.state).toBe('active');
    expect(s.signal.aborted).toBe(false);
  });

  it('sends a lock-delay of 0 as 0', async () => {
    const s = await coord.session({ ttl: '1s', lockDelay: 0 });
    const [info] = (await sessionsOnServer()).filter((x) => x.ID === s.id);
    expect(info!.LockDelay).toBe(0);
  });

  it.each([
    [{ ttl: 'abc' }, 'ttl'],
    [{ ttl: -5 }, 'ttl'],
    [{ lockDelay: '10' }, 'lockDelay'],
    [{ behavior: 'explode' }, 'behavior'],
    [{ checks: 'serfHealth' }, 'checks'],
    [{ healthCheckTtl: {} }, 'healthCheckTtl'],
  ])('throws ConfigError synchronously for %j', (opts, option) => {
    let thrown: unknown;
    try {
      void coord.session(opts as never);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).option).toBe(option);
  });

  it('rejects with the abort reason when cancelled, leaving no session behind', async () => {
    const ac = new AbortController();
    const reason = new Error('cancelled');
    ac.abort(reason);
    await expect(coord.session({ ttl: '1s', signal: ac.signal })).rejects.toBe(reason);
    expect(await sessionsOnServer()).toEqual([]);
  });
});

describe('while renewing', () => {
  it('keeps the session alive past several TTLs', async () => {
    const s = await coord.session({ ttl: '200ms', lockDelay: 0 });
    let renewals = 0;
    s.on('renewed', () => renewals++);
    await waitFor(() => renewals >= 5, { timeout: 5000 });
    expect(s.state).toBe('active');
    expect((await sessionsOnServer()).map((x) => x.ID)).toContain(s.id);
  });
});

describe('when Consul invalidates the session', () => {
  it('goes lost with a SessionLostError and aborts its signal before emitting', async () => {
    const s = await coord.session({ ttl: '300ms', lockDelay: 0 });
    const lost = nextEvent<[SessionLostError]>(s, 'lost');
    let abortedBeforeEvent = false;
    s.once('lost', () => {
      abortedBeforeEvent = s.signal.aborted;
    });
    target.dev!.invalidateSession(s.id);
    const [err] = await lost;
    expect(err).toBeInstanceOf(SessionLostError);
    expect(err.code).toBe('ERR_SESSION_LOST');
    expect(abortedBeforeEvent).toBe(true);
    expect(s.signal.reason).toBe(err);
    expect(s.state).toBe('lost');
  });
});

describe('when partitioned from Consul', () => {
  let proxy: FaultProxy;
  beforeEach(async () => {
    proxy = await startFaultProxy({ target: target.url });
    extra.push(proxy);
  });

  it('counts itself lost at its local deadline, while Consul still holds the session', async () => {
    const c = new Coordinator({ address: proxy.url, retry: { retries: 0 } });
    extra.push(c);
    const s = await c.session({ ttl: '400ms', lockDelay: 0 });
    // Read the server's state synchronously at the moment we declare the loss.
    let serverHadIt: boolean | undefined;
    s.once('lost', () => {
      serverHadIt = target.dev!.state.listSessions().some((x) => x.id === s.id);
    });
    proxy.partition('hold');
    await nextEvent(s, 'lost', { timeout: 5000 });
    // Consul invalidates only at 2×ttl after the last renewal it saw; at our deadline it still
    // has the session, so nobody else could have taken our locks yet.
    expect(serverHadIt).toBe(true);
    // and Consul does expire it later by itself
    await waitFor(async () => !(await sessionsOnServer()).some((x) => x.ID === s.id), { timeout: 5000 });
    proxy.heal();
  });

  it('reports the loss synchronously once the deadline has passed, even before its timer runs', async () => {
    const c = new Coordinator({ address: proxy.url, retry: { retries: 0 } });
    extra.push(c);
    const s = await c.session({ ttl: '300ms', lockDelay: 0 });
    proxy.partition('hold');
    // Block the event loop past the deadline, as a long GC pause would.
    const until = s.validUntil + 20;
    while (performance.now() < until) {
      /* busy */
    }
    expect(s.isAlive()).toBe(false);
    expect(s.signal.aborted).toBe(true);
    proxy.heal();
  });
});

describe('with healthCheckTtl', () => {
  it('binds the session to a heartbeated check of its own service and removes both on destroy', async () => {
    const s = await coord.session({ ttl: '5s', lockDelay: 0, healthCheckTtl: '300ms' });
    expect(s.healthCheckId).toBeDefined();
    const [info] = (await sessionsOnServer()).filter((x) => x.ID === s.id);
    expect(info!.NodeChecks).toEqual(['serfHealth']);
    expect(info!.ServiceChecks?.map((c) => c.ID)).toEqual([s.healthCheckId]);
    const services = async () => (await (await fetch(`${target.url}/v1/agent/services`)).json()) as Record<string, { Service: string }>;
    expect((await services())[s.healthServiceId!]?.Service).toBe('consul-recipes-session');
    // heartbeats keep it passing well past its TTL
    const checkStatus = async () =>
      ((await (await fetch(`${target.url}/v1/agent/checks`)).json()) as Record<string, { Status: string }>)[s.healthCheckId!]?.Status;
    const started = performance.now();
    await waitFor(() => performance.now() - started > 1000, { timeout: 3000 });
    expect(await checkStatus()).toBe('passing');
    expect(s.state).toBe('active');
    await s.destroy();
    expect(await checkStatus()).toBeUndefined();
    expect(await services()).toEqual({});
  });

  it('is invalidated by Consul when the heartbeat stops, and reports lost first', async () => {
    const proxy = await startFaultProxy({ target: target.url });
    extra.push(proxy);
    const c = new Coordinator({ address: proxy.url, retry: { retries: 0 } });
    extra.push(c);
    const s = await c.session({ ttl: '10s', lockDelay: 0, healthCheckTtl: '400ms' });
    let serverHadIt: boolean | undefined;
    s.once('lost', () => {
      serverHadIt = target.dev!.state.listSessions().some((x) => x.id === s.id);
    });
    proxy.partition('hold');
    await nextEvent(s, 'lost', { timeout: 5000 });
    expect(serverHadIt).toBe(true);
    // the server drops the session when the check's TTL runs out, well before the session TTL
    await waitFor(async () => !(await sessionsOnServer()).some((x) => x.ID === s.id), { timeout: 3000 });
    proxy.heal();
  });

  it('a crashed holder leaves no node-level check behind: other services on the node stay passing', async () => {
    // An unrelated healthy service on the same agent.
    await fetch(`${target.url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'web', Check: { TTL: '1h', Status: 'passing' } }) });
    const proxy = await startFaultProxy({ target: target.url });
    extra.push(proxy);
    const c = new Coordinator({ address: proxy.url, retry: { retries: 0 } });
    extra.push(c);
    const s = await c.session({ ttl: '10s', lockDelay: 0, healthCheckTtl: '300ms' });
    proxy.partition('hold'); // the process stops heartbeating, as if it had crashed
    await waitFor(async () => !(await sessionsOnServer()).some((x) => x.ID === s.id), { timeout: 5000 });
    const healthy = (await (await fetch(`${target.url}/v1/health/service/web?passing`)).json()) as unknown[];
    expect(healthy).toHaveLength(1);
    proxy.heal();
    await fetch(`${target.url}/v1/agent/service/deregister/web`, { method: 'PUT' });
  });
});

describe('destroying', () => {
  it('is idempotent and aborts the signal', async () => {
    const s = await coord.session({ ttl: '1s' });
    const events: string[] = [];
    s.on('destroyed', () => events.push('destroyed'));
    await Promise.all([s.destroy(), s.destroy()]);
    await s.destroy();
    expect(events).toEqual(['destroyed']);
    expect(s.state).toBe('destroyed');
    expect(s.signal.aborted).toBe(true);
    expect(await sessionsOnServer()).toEqual([]);
  });

  it('Coordinator.close() destroys every session it made', async () => {
    await Promise.all([coord.session({ ttl: '1s' }), coord.session({ ttl: '1s' }), coord.session({ ttl: '1s' })]);
    expect(await sessionsOnServer()).toHaveLength(3);
    await coord.close();
    expect(await sessionsOnServer()).toEqual([]);
  });
});
