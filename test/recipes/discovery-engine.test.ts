/** ServiceWatcher and resolve() against a scripted `/v1/health/service/:name` (no server). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { ConfigError } from '../../src/errors.js';
import { resolve, ServiceWatcher, type ServiceInstance } from '../../src/recipes/discovery/discovery.js';
import type { QueryMeta } from '../../src/transport/client.js';
import type { HealthServiceEntry, HealthServiceOptions } from '../../src/transport/health.js';
import { waitFor } from '../support/wait.js';
import { park } from './watch-fixture.js';

class FakeCatalog {
  index = 5n;
  readonly instances = new Map<string, { status: string; tags: string[]; port: number }>();
  readonly asked: HealthServiceOptions[] = [];
  inflight = 0;
  private wake = new Set<() => void>();

  set(id: string, status: string, tags: string[] = [], port = 8080): void {
    this.instances.set(id, { status, tags, port });
    this.bump();
  }

  remove(id: string): void {
    this.instances.delete(id);
    this.bump();
  }

  /** A write elsewhere in the catalog: new index, same answer. */
  bump(): void {
    this.index += 1n;
    for (const w of [...this.wake]) w();
  }

  service = async (name: string, opts: HealthServiceOptions = {}): Promise<{ entries: HealthServiceEntry[]; meta: QueryMeta }> => {
    this.asked.push(opts);
    this.inflight += 1;
    try {
      if (opts.index !== undefined && opts.index > 0n && opts.index === this.index) {
        await park(this.wake, opts.signal);
      }
      const entries: HealthServiceEntry[] = [];
      for (const [id, i] of this.instances) {
        if (opts.passing && i.status !== 'passing') continue;
        if (opts.tags && !opts.tags.every((t) => i.tags.map((x) => x.toLowerCase()).includes(t.toLowerCase()))) continue;
        entries.push({
          Node: { Node: 'dev', Address: '127.0.0.1' },
          Service: { ID: id, Service: name, Tags: i.tags, Address: '', Meta: {}, Port: i.port },
          Checks: [
            { Node: 'dev', CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', Notes: '', Output: '', ServiceID: '', ServiceName: '', ServiceTags: [], Type: '' },
            { Node: 'dev', CheckID: `service:${id}`, Name: 'c', Status: i.status, Notes: '', Output: '', ServiceID: id, ServiceName: name, ServiceTags: [], Type: 'ttl' },
          ],
        });
      }
      return { entries, meta: { index: this.index, knownLeader: true, lastContactMs: 0 } };
    } finally {
      this.inflight -= 1;
    }
  };
}

const coords: Coordinator[] = [];
afterEach(async () => {
  await Promise.all(coords.splice(0).map((c) => c.close()));
  vi.restoreAllMocks();
});

function setup(): { coord: Coordinator; catalog: FakeCatalog } {
  const coord = new Coordinator({ address: 'http://127.0.0.1:1', retry: { retries: 0 } });
  coords.push(coord);
  const catalog = new FakeCatalog();
  vi.spyOn(coord.api.health, 'service').mockImplementation(catalog.service);
  return { coord, catalog };
}

const ids = (list: readonly ServiceInstance[]) => list.map((i) => i.id);

describe('ServiceWatcher (scripted catalog)', () => {
  it('asks for passing instances by default and resolves ready() with the list', async () => {
    const { coord, catalog } = setup();
    catalog.set('web-1', 'passing');
    catalog.set('web-2', 'critical');
    const watcher = new ServiceWatcher(coord, 'web');
    expect(ids(await watcher.ready())).toEqual(['web-1']);
    expect(catalog.asked[0]).toMatchObject({ passing: true, tags: [] });
  });

  it('passes tags through and lists unhealthy instances with passingOnly: false', async () => {
    const { coord, catalog } = setup();
    catalog.set('a', 'passing', ['v2']);
    catalog.set('b', 'warning', ['v2']);
    catalog.set('c', 'passing', ['v1']);
    const watcher = new ServiceWatcher(coord, 'web', { passingOnly: false, tag: 'v2' });
    const list = await watcher.ready();
    expect(list.map((i) => [i.id, i.status])).toEqual([
      ['a', 'passing'],
      ['b', 'warning'],
    ]);
    expect(catalog.asked[0]).toMatchObject({ passing: false, tags: ['v2'] });
  });

  it('emits change when an instance comes, goes or changes health — not for unrelated index bumps', async () => {
    const { coord, catalog } = setup();
    catalog.set('a', 'passing');
    const watcher = new ServiceWatcher(coord, 'web', { passingOnly: false });
    const changes: string[][] = [];
    watcher.on('change', (list) => changes.push(list.map((i) => `${i.id}:${i.status}`)));
    await watcher.ready();
    catalog.bump();
    catalog.set('b', 'passing');
    await waitFor(() => changes.length === 2);
    catalog.bump();
    catalog.set('a', 'critical');
    await waitFor(() => changes.length === 3);
    catalog.remove('b');
    await waitFor(() => changes.length === 4);
    expect(changes).toEqual([['a:passing'], ['a:passing', 'b:passing'], ['a:critical', 'b:passing'], ['a:critical']]);
  });

  it('pick() rotates over healthy instances only, and returns undefined when none is', async () => {
    const { coord, catalog } = setup();
    catalog.set('a', 'passing');
    catalog.set('b', 'warning');
    catalog.set('c', 'passing');
    const watcher = new ServiceWatcher(coord, 'web', { passingOnly: false });
    await watcher.ready();
    expect([watcher.pick(), watcher.pick(), watcher.pick()].map((i) => i?.id)).toEqual(['a', 'c', 'a']);
    catalog.set('a', 'critical');
    catalog.set('c', 'critical');
    await waitFor(() => watcher.list().every((i) => i.status !== 'passing'));
    expect(watcher.pick()).toBeUndefined();
  });

  it('iterates lists (current first) until close()', async () => {
    const { coord, catalog } = setup();
    catalog.set('a', 'passing');
    const watcher = new ServiceWatcher(coord, 'web');
    await watcher.ready();
    const seen: string[][] = [];
    const loop = (async () => {
      for await (const list of watcher) {
        seen.push(ids(list));
        if (list.length === 2) await watcher.close();
      }
    })();
    await waitFor(() => seen.length === 1);
    catalog.set('b', 'passing');
    await loop;
    expect(seen).toEqual([['a'], ['a', 'b']]);
    expect(catalog.inflight).toBe(0);
  });

  it('yields an empty first list to a loop started before ready', async () => {
    const { coord } = setup();
    const watcher = new ServiceWatcher(coord, 'nobody');
    const iterator = watcher[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ value: [], done: false });
    await watcher.close();
    expect((await iterator.next()).done).toBe(true);
  });

  it('validates its arguments synchronously', () => {
    const { coord } = setup();
    expect(() => new ServiceWatcher(coord, '')).toThrow(ConfigError);
    expect(() => new ServiceWatcher(coord, 'web', { wait: -1 })).toThrow(/"wait"/);
  });
});

describe('resolve() (scripted catalog)', () => {
  it('answers at once with the healthy instances', async () => {
    const { coord, catalog } = setup();
    catalog.set('a', 'passing');
    catalog.set('b', 'critical');
    expect(ids(await resolve(coord, 'web'))).toEqual(['a']);
    expect(ids(await resolve(coord, 'web', { passingOnly: false }))).toEqual(['a', 'b']);
    expect(catalog.asked.every((o) => o.index === undefined)).toBe(true);
  });

  it('throws ConfigError synchronously and rejects with the abort reason', async () => {
    const { coord } = setup();
    expect(() => resolve(coord, '')).toThrow(ConfigError);
    const ac = new AbortController();
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(resolve(coord, 'web', { signal: ac.signal })).rejects.toBe(reason);
  });
});
