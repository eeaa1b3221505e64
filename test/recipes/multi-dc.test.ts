/**
 * The library across datacenters, on a two-datacenter dev cluster: `dc` per call reaches only
 * that datacenter's state; `failover` answers with another datacenter's instances while the
 * local ones are all critical (and says so), and comes back when they recover; a watcher follows
 * the same path with `failedOver` / `failedBack` events; recipes held through a session refuse a
 * `dc` with the reason; the library's prepared query and its session are gone after use.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { ConfigError } from '../../src/errors.js';
import type { DatacenterMove } from '../../src/recipes/discovery/discovery.js';
import { type DevCluster, startDevCluster } from '../../src/testing/index.js';
import { waitFor } from '../support/wait.js';

let cluster: DevCluster;
let coords: Coordinator[] = [];

beforeEach(async () => {
  cluster = await startDevCluster({ datacenters: { dc1: 2, dc2: 1 } });
});

afterEach(async () => {
  await Promise.all(coords.splice(0).map((c) => c.close()));
  // Nothing the library created outlives its Coordinator: no session, no prepared query.
  for (const dc of cluster.datacenters) {
    const agent = cluster.agentsIn(dc)[0]!;
    expect(agent.server.state.listSessions()).toEqual([]);
    expect(await (await fetch(`${agent.url}/v1/query`)).json()).toEqual([]);
  }
  await cluster.close();
});

function coord(dc = 'dc1'): Coordinator {
  const c = new Coordinator({ address: cluster.agentsIn(dc)[0]!.url, retry: { retries: 2, minTimeout: 20, maxTimeout: 100 } });
  coords.push(c);
  return c;
}

/** Registers `billing` on every node of a datacenter, with a TTL check we drive. */
async function registerBilling(dc: string): Promise<string[]> {
  const ids: string[] = [];
  for (const agent of cluster.agentsIn(dc)) {
    const id = `billing-${agent.node}`;
    const res = await fetch(`${agent.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: id, Name: 'billing', Port: 9000, Check: { CheckID: `check-${id}`, TTL: '1h', Status: 'passing' } }),
    });
    expect(res.status).toBe(200);
    ids.push(id);
  }
  return ids;
}

function setBilling(dc: string, status: 'passing' | 'critical'): void {
  for (const agent of cluster.agentsIn(dc)) agent.server.setCheckStatus(`check-billing-${agent.node}`, status);
}

describe('dc per call', () => {
  it('KV writes and config watchers with dc reach only that datacenter', async () => {
    const c = coord('dc1');
    expect(await c.api.kv.put('app/mode', 'blue', { dc: 'dc2' })).toBe(true);
    expect((await c.api.kv.get('app/mode')).pair).toBeNull();
    expect((await c.api.kv.get('app/mode', { dc: 'dc2' })).pair?.value?.toString()).toBe('blue');
    const there = c.configWatcher('app/', { dc: 'dc2' });
    const here = c.configWatcher('app/');
    expect((await there.ready()).get('mode')).toBe('blue');
    expect((await here.ready()).get('mode')).toBeUndefined();
    await c.api.kv.put('app/mode', 'green', { dc: 'dc2' });
    await waitFor(() => there.get('mode') === 'green');
    expect(here.get('mode')).toBeUndefined();
    expect(cluster.agentsIn('dc1')[0]!.server.state.getKey('app/mode')).toBeUndefined();
  });

  it('resolve and serviceWatcher with dc read that datacenter’s catalog', async () => {
    await registerBilling('dc2');
    const c = coord('dc1');
    expect(await c.resolve('billing')).toEqual([]);
    const there = await c.resolve('billing', { dc: 'dc2' });
    expect(there.map((i) => [i.id, i.datacenter])).toEqual([['billing-dc2-node-1', 'dc2']]);
    const watcher = c.serviceWatcher('billing', { dc: 'dc2' });
    expect((await watcher.ready()).map((i) => i.id)).toEqual(['billing-dc2-node-1']);
    expect(watcher.datacenter).toBe('dc2');
  });

  it('events.fire with dc reaches that datacenter’s agents only', async () => {
    const here = coord('dc1');
    const there = coord('dc2');
    const watchHere = here.events.watch('deploy');
    const watchThere = there.events.watch('deploy');
    await Promise.all([watchHere.ready(), watchThere.ready()]);
    const seen = new Promise<string | null>((resolve) => watchThere.once('event', (ev) => resolve(ev.payload?.toString() ?? null)));
    await here.events.fire('deploy', 'v2', { dc: 'dc2' });
    expect(await seen).toBe('v2');
    const list = await here.api.events.list({ name: 'deploy' });
    expect(list.events).toEqual([]);
  });

  it('an unknown datacenter is a ConsulError 500 "No path to datacenter"', async () => {
    const c = coord();
    await expect(c.resolve('billing', { dc: 'dc9' })).rejects.toMatchObject({ statusCode: 500, consulMessage: 'No path to datacenter' });
  });
});

describe('recipes held through a session refuse dc', () => {
  it('lock, semaphore, election, session, withLock, read-write lock, queue and double barrier throw ConfigError saying a session belongs to one datacenter', async () => {
    const c = coord();
    const calls: Array<() => unknown> = [
      () => c.lock('locks/a', { dc: 'dc2' } as never),
      () => c.semaphore('sem/a', { limit: 2, dc: 'dc2' } as never),
      () => c.election('el/a', { dc: 'dc2' } as never),
      () => c.session({ dc: 'dc2' } as never),
      () => c.withLock('locks/a', () => undefined, { dc: 'dc2' } as never),
      () => c.readWriteLock('rw/a', { dc: 'dc2' } as never),
      () => c.queue('q/a', { dc: 'dc2' } as never),
      () => c.doubleBarrier('b/a', { count: 2, dc: 'dc2' } as never),
    ];
    for (const call of calls) {
      let error: unknown;
      try {
        await call();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).option).toBe('dc');
      expect((error as Error).message).toMatch(/a Consul session belongs to one datacenter/);
    }
  });

  it('events.watch refuses dc: the event list is the local agent’s buffer', () => {
    const c = coord();
    expect(() => c.events.watch('deploy', { dc: 'dc2' } as never)).toThrow(/local agent's own buffer/);
  });

  it('failover and dc cannot be combined; a failover without targets is refused', () => {
    const c = coord();
    expect(() => c.resolve('billing', { dc: 'dc2', failover: { datacenters: ['dc2'] } })).toThrow(ConfigError);
    expect(() => c.resolve('billing', { failover: {} })).toThrow(/needs "nearest"/);
    expect(() => c.serviceWatcher('billing', { failover: { nearst: 1 } as never })).toThrow(/did you mean 'nearest'/);
  });
});

describe('failover to another datacenter', () => {
  it('resolve answers dc2’s instances while every dc1 instance is critical, then dc1’s again', async () => {
    await registerBilling('dc1');
    await registerBilling('dc2');
    const c = coord('dc1');
    const failover = { datacenters: ['dc2'] };
    const before = await c.resolve('billing', { failover });
    expect(before.map((i) => i.datacenter)).toEqual(['dc1', 'dc1']);

    setBilling('dc1', 'critical');
    const during = await c.resolve('billing', { failover });
    expect(during.map((i) => [i.id, i.datacenter])).toEqual([['billing-dc2-node-1', 'dc2']]);
    // Without failover the same lookup finds nothing.
    expect(await c.resolve('billing')).toEqual([]);

    setBilling('dc1', 'passing');
    const after = await c.resolve('billing', { failover: { nearest: 1 } });
    expect(after.map((i) => i.id)).toEqual(['billing-dc1-node-1', 'billing-dc1-node-2']);
    expect(after.every((i) => i.datacenter === 'dc1')).toBe(true);
  });

  it('a watcher follows the same path, with failedOver and failedBack events before each change', async () => {
    await registerBilling('dc1');
    await registerBilling('dc2');
    const c = coord('dc1');
    const watcher = c.serviceWatcher('billing', { failover: { nearest: 1 }, pollInterval: '50ms' });
    const log: string[] = [];
    const moves: Array<['failedOver' | 'failedBack', DatacenterMove]> = [];
    watcher.on('failedOver', (m) => {
      moves.push(['failedOver', m]);
      log.push(`failedOver ${m.from}->${m.to}`);
    });
    watcher.on('failedBack', (m) => {
      moves.push(['failedBack', m]);
      log.push(`failedBack ${m.from}->${m.to}`);
    });
    watcher.on('change', (list) => log.push(`change ${[...new Set(list.map((i) => i.datacenter))].join(',')}`));
    expect((await watcher.ready()).map((i) => i.datacenter)).toEqual(['dc1', 'dc1']);
    expect(watcher.datacenter).toBe('dc1');

    setBilling('dc1', 'critical');
    await waitFor(() => watcher.datacenter === 'dc2', { timeout: 10_000 });
    expect(watcher.list().map((i) => i.id)).toEqual(['billing-dc2-node-1']);
    expect(watcher.failovers).toBe(1);

    setBilling('dc1', 'passing');
    await waitFor(() => watcher.datacenter === 'dc1', { timeout: 10_000 });
    expect(watcher.list().map((i) => i.id)).toEqual(['billing-dc1-node-1', 'billing-dc1-node-2']);
    expect(moves).toEqual([
      ['failedOver', { from: 'dc1', to: 'dc2', failovers: 1 }],
      ['failedBack', { from: 'dc2', to: 'dc1', failovers: 0 }],
    ]);
    expect(log).toEqual(['change dc1', 'failedOver dc1->dc2', 'change dc2', 'failedBack dc2->dc1', 'change dc1']);
    await watcher.close();
  });

  it('a watcher on a partitioned failover target skips it: the answer is empty rather than stale', async () => {
    await registerBilling('dc1');
    await registerBilling('dc2');
    const c = coord('dc1');
    const watcher = c.serviceWatcher('billing', { failover: { datacenters: ['dc2'] }, pollInterval: '50ms' });
    await watcher.ready();
    cluster.partitionDatacenter('dc2');
    setBilling('dc1', 'critical');
    await waitFor(() => watcher.list().length === 0, { timeout: 10_000 });
    cluster.healDatacenter('dc2');
    await waitFor(() => watcher.datacenter === 'dc2' && watcher.list().length === 1, { timeout: 10_000 });
  });

  it('a watcher whose query went with its session (invalidated) creates a new pair and goes on', async () => {
    await registerBilling('dc1');
    await registerBilling('dc2');
    const c = coord('dc1');
    const watcher = c.serviceWatcher('billing', { failover: { datacenters: ['dc2'] }, pollInterval: '50ms' });
    const errors: unknown[] = [];
    watcher.on('error', (err) => errors.push(err));
    await watcher.ready();
    const state = cluster.agentsIn('dc1')[0]!.server.state;
    const [first] = state.listSessions().filter((s) => s.name === 'consul-recipes failover billing');
    expect(first).toBeDefined();
    expect(cluster.agentsIn('dc1')[0]!.server.invalidateSession(first!.id)).toBe(true);
    setBilling('dc1', 'critical');
    await waitFor(() => watcher.datacenter === 'dc2', { timeout: 10_000 });
    expect(errors).toContainEqual(expect.objectContaining({ statusCode: 404 }));
    const now = state.listSessions().filter((s) => s.name === 'consul-recipes failover billing');
    expect(now).toHaveLength(1);
    expect(now[0]!.id).not.toBe(first!.id);
    await watcher.close();
  });

  it('resolve({ query }) runs an existing prepared query by name', async () => {
    await registerBilling('dc2');
    const c = coord('dc1');
    const id = await c.api.queries.create({ Name: 'billing-anywhere', Service: { Service: 'billing', Failover: { NearestN: 1 } } });
    try {
      const found = await c.resolve({ query: 'billing-anywhere' });
      expect(found.map((i) => [i.id, i.datacenter])).toEqual([['billing-dc2-node-1', 'dc2']]);
      const watcher = c.serviceWatcher({ query: 'billing-anywhere' }, { pollInterval: '50ms' });
      expect((await watcher.ready()).map((i) => i.datacenter)).toEqual(['dc2']);
      expect(watcher.datacenter).toBe('dc2');
      expect(() => c.resolve({ query: 'billing-anywhere' }, { failover: { nearest: 1 } })).toThrow(/cannot be used with \{ query \}/);
    } finally {
      await c.api.queries.delete(id);
    }
  });
});
