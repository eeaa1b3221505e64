/**
 * ServiceWatcher and resolve() against a live server. Needs agent services and
 * `/v1/health/service/:name` (blocking, `?passing`, `?tag`) in the dev server.
 */
import { describe, expect, it } from 'vitest';
import { ServiceWatcher, resolve, type ServiceInstance } from '../../src/recipes/discovery/discovery.js';
import { registerService } from '../../src/recipes/service/service.js';
import { waitFor } from '../support/wait.js';
import { settle, trackResources, useWatchFixture } from './watch-fixture.js';

const fx = useWatchFixture();

/** Service IDs unique to the test (a real agent may hold others); `ids()` strips the prefix again. */
const sid = (short: string) => `${fx.unique}-${short}`;
const ids = (list: readonly ServiceInstance[]) => list.map((i) => i.id.slice(fx.unique.length + 1));

describe('resolve()', () => {
  it('answers with the healthy instances, and all of them with passingOnly: false', async () => {
    const coord = fx.coord();
    await registerService(coord, { name: fx.unique, id: sid('a'), port: 1, check: { ttl: '10s' } });
    await registerService(coord, { name: fx.unique, id: sid('b'), port: 2, check: { ttl: '10s' }, initialStatus: 'critical' });
    expect(ids(await resolve(coord, fx.unique))).toEqual(['a']);
    const all = await resolve(coord, fx.unique, { passingOnly: false });
    expect(all.map((i) => [i.id.slice(fx.unique.length + 1), i.status, i.port])).toEqual([
      ['a', 'passing', 1],
      ['b', 'critical', 2],
    ]);
    expect(all[0]?.address).not.toBe('');
  });

  it('filters by tag (all tags required, case-insensitive) and answers [] for an unknown service', async () => {
    const coord = fx.coord();
    await registerService(coord, { name: fx.unique, id: sid('a'), tags: ['v2', 'eu'] });
    await registerService(coord, { name: fx.unique, id: sid('b'), tags: ['v2'] });
    expect(ids(await resolve(coord, fx.unique, { tag: 'V2' }))).toEqual(['a', 'b']);
    expect(ids(await resolve(coord, fx.unique, { tag: ['v2', 'eu'] }))).toEqual(['a']);
    expect(await resolve(coord, `${fx.unique}-nobody`)).toEqual([]);
  });

  it('uses the service address when set, the node address otherwise', async () => {
    const coord = fx.coord();
    await registerService(coord, { name: fx.unique, id: sid('own'), address: '10.9.8.7', port: 80 });
    await registerService(coord, { name: fx.unique, id: sid('node'), port: 81 });
    const [node, own] = await resolve(coord, fx.unique);
    expect(own).toMatchObject({ id: sid('own'), address: '10.9.8.7' });
    expect(node?.address).toMatch(/\S/);
  });
});

describe('ServiceWatcher', () => {
  it('follows instances as they come, change health and go', async () => {
    const coord = fx.coord();
    const a = await registerService(coord, { name: fx.unique, id: sid('a'), check: { ttl: '10s' } });
    const watcher = new ServiceWatcher(coord, fx.unique, { passingOnly: true });
    expect(ids(await watcher.ready())).toEqual(['a']);
    const seen: string[][] = [];
    watcher.on('change', (list) => seen.push(ids(list)));

    const b = await registerService(coord, { name: fx.unique, id: sid('b'), check: { ttl: '10s' } });
    await waitFor(() => seen.length === 1);
    await a.setHealth('critical', 'down for a bit');
    await waitFor(() => seen.length === 2);
    await a.setHealth('passing');
    await waitFor(() => seen.length === 3);
    await b.deregister();
    await waitFor(() => seen.length === 4);
    expect(seen).toEqual([['a', 'b'], ['b'], ['a', 'b'], ['a']]);
  });

  it('with passingOnly: false, lists unhealthy instances with their status', async () => {
    const coord = fx.coord();
    const a = await registerService(coord, { name: fx.unique, id: sid('a'), check: { ttl: '10s' } });
    const watcher = new ServiceWatcher(coord, fx.unique, { passingOnly: false });
    await watcher.ready();
    await a.setHealth('warning');
    await waitFor(() => watcher.list()[0]?.status === 'warning');
    expect(watcher.pick()).toBeUndefined();
  });

  it('pick() rotates over healthy instances', async () => {
    const coord = fx.coord();
    for (const id of ['a', 'b', 'c']) await registerService(coord, { name: fx.unique, id: sid(id), check: { ttl: '10s' } });
    const watcher = new ServiceWatcher(coord, fx.unique);
    await watcher.ready();
    const picks = Array.from({ length: 6 }, () => watcher.pick()?.id.slice(fx.unique.length + 1));
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('watches only the tagged instances', async () => {
    const coord = fx.coord();
    await registerService(coord, { name: fx.unique, id: sid('a'), tags: ['canary'] });
    await registerService(coord, { name: fx.unique, id: sid('b'), tags: ['stable'] });
    const watcher = new ServiceWatcher(coord, fx.unique, { tag: 'canary' });
    expect(ids(await watcher.ready())).toEqual(['a']);
    await registerService(coord, { name: fx.unique, id: sid('c'), tags: ['canary', 'stable'] });
    await waitFor(() => watcher.list().length === 2);
    expect(ids(watcher.list())).toEqual(['a', 'c']);
  });

  it('iterates lists, current first, until closed', async () => {
    const coord = fx.coord();
    await registerService(coord, { name: fx.unique, id: sid('a') });
    const watcher = new ServiceWatcher(coord, fx.unique);
    await watcher.ready();
    const seen: string[][] = [];
    const loop = (async () => {
      for await (const list of watcher) {
        seen.push(ids(list));
        if (list.length === 2) await watcher.close();
      }
    })();
    await waitFor(() => seen.length === 1);
    await registerService(coord, { name: fx.unique, id: sid('b') });
    await loop;
    expect(seen).toEqual([['a'], ['a', 'b']]);
  });

  it('starts with an empty list for an unknown service and sees the first instance arrive', async () => {
    const coord = fx.coord();
    const watcher = new ServiceWatcher(coord, fx.unique);
    expect(await watcher.ready()).toEqual([]);
    await registerService(coord, { name: fx.unique, id: sid('first') });
    await waitFor(() => watcher.list().length === 1);
  });

  it('close() leaves no timer or socket behind', async () => {
    const resources = trackResources();
    try {
      const coord = fx.coord();
      await registerService(coord, { name: fx.unique, id: sid('a') });
      const watcher = new ServiceWatcher(coord, fx.unique);
      await watcher.ready();
      await watcher.close();
      expect(watcher.state).toBe('closed');
      await coord.close();
      await settle(() => resources.live().length === 0, { message: 'timers and sockets to be released' });
    } finally {
      resources.stop();
    }
  });
});
