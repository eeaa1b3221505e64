/** ConfigWatcher against a live server (the dev server, or real Consul when configured). */
import { describe, expect, it, vi } from 'vitest';
import { ConsulError, DecodeError } from '../../src/errors.js';
import { ConfigWatcher, type ConfigSnapshot } from '../../src/recipes/config/config-watcher.js';
import type { RequestSpec } from '../../src/transport/client.js';
import { consulFetch } from '../support/target.js';
import { waitFor } from '../support/wait.js';
import { settle, trackResources, useWatchFixture } from './watch-fixture.js';

const fx = useWatchFixture();

/** Snapshot content as `{ key: raw text }`, for comparing with recorded server states. */
function content(snapshot: ConfigSnapshot<unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of snapshot.keys()) out[key] = snapshot.raw(key)?.toString() ?? '';
  return out;
}

/** The server's state of the prefix, read directly. */
async function serverState(prefix: string): Promise<Record<string, string>> {
  const res = await consulFetch(fx.target, 'GET', `/v1/kv/${prefix}?recurse`);
  if (res.status === 404) return {};
  const out: Record<string, string> = {};
  for (const e of res.json() as Array<{ Key: string; Value: string | null }>) {
    const rel = e.Key.slice(prefix.length);
    if (rel !== '' && !rel.endsWith('/')) out[rel] = e.Value ? Buffer.from(e.Value, 'base64').toString() : '';
  }
  return out;
}

describe('reading a prefix', () => {
  it('resolves ready() with every key under the prefix, relative to it, and nothing outside', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(`${fx.prefix}db/url`, 'postgres://db');
    await coord.api.kv.put(`${fx.prefix}flags`, '{"beta":true}');
    await coord.api.kv.put(`${fx.prefix.slice(0, -1)}-sibling/x`, 'not mine');
    const config = new ConfigWatcher(coord, fx.prefix, { decode: 'string' });
    const snapshot = await config.ready({ timeout: 10_000 });
    expect(snapshot.toObject()).toEqual({ 'db/url': 'postgres://db', flags: '{"beta":true}' });
    expect(config.get('db/url')).toBe('postgres://db');
    expect(snapshot.index).toBeGreaterThan(0);
  });

  it('decodes JSON and reports changes as added, modified and deleted keys', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(`${fx.prefix}a`, '1');
    await coord.api.kv.put(`${fx.prefix}b`, '2');
    const config = new ConfigWatcher<number>(coord, fx.prefix, { decode: 'json' });
    await config.ready();
    const changes: unknown[] = [];
    config.on('change', (_s, c) => changes.push(c));
    await coord.api.kv.put(`${fx.prefix}a`, '10');
    await waitFor(() => changes.length === 1);
    await coord.api.kv.delete(`${fx.prefix}b`);
    await waitFor(() => changes.length === 2);
    await coord.api.kv.put(`${fx.prefix}c`, '3');
    await waitFor(() => changes.length === 3);
    expect(changes).toEqual([
      { added: [], modified: ['a'], deleted: [] },
      { added: [], modified: [], deleted: ['b'] },
      { added: ['c'], modified: [], deleted: [] },
    ]);
    expect(config.snapshot().toObject()).toEqual({ a: 10, c: 3 });
  });

  it('emits no change when a key is rewritten with the same bytes', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(`${fx.prefix}a`, 'same');
    const config = new ConfigWatcher(coord, fx.prefix);
    const first = await config.ready();
    const changes: unknown[] = [];
    config.on('change', (_s, c) => changes.push(c));
    await coord.api.kv.put(`${fx.prefix}a`, 'same');
    // A marker write after the rewrite: once it is seen, the rewrite was seen too.
    await coord.api.kv.put(`${fx.prefix}marker`, 'm');
    await waitFor(() => config.get('marker') === 'm');
    expect(changes).toEqual([{ added: ['marker'], modified: [], deleted: [] }]);
    expect(config.snapshot().modifyIndex('a')).toBe(first.modifyIndex('a'));
  });
});

describe('100 rapid writes', () => {
  it('ends equal to the server, and every snapshot was a state the server held', async () => {
    const writer = fx.coord();
    const config = new ConfigWatcher(fx.coord(), fx.prefix, { decode: 'json' });
    await config.ready();
    const snapshots: ConfigSnapshot<unknown>[] = [];
    const errors: unknown[] = [];
    config.on('change', (s) => snapshots.push(s));
    config.on('error', (e) => errors.push(e));

    // Sequential writes, so the server's states are exactly the states after each write.
    const states: Array<Record<string, string>> = [{}];
    const state: Record<string, string> = {};
    for (let i = 0; i < 100; i++) {
      const key = `k${i % 7}`;
      if (i % 11 === 10) {
        await writer.api.kv.delete(`${fx.prefix}${key}`);
        delete state[key];
      } else {
        // Every 13th write is not JSON: those states must never be published.
        const value = i % 13 === 12 ? `{broken ${i}` : JSON.stringify({ i, key });
        await writer.api.kv.put(`${fx.prefix}${key}`, value);
        state[key] = value;
      }
      states.push({ ...state });
    }
    // One last clean write, so the final state decodes whatever the last 100 did.
    for (const key of Object.keys(state)) {
      if (state[key]?.startsWith('{broken')) {
        await writer.api.kv.put(`${fx.prefix}${key}`, '"fixed"');
        state[key] = '"fixed"';
      }
    }
    states.push({ ...state });

    const final = await serverState(fx.prefix);
    expect(final).toEqual(state);
    await waitFor(() => JSON.stringify(content(config.snapshot())) === JSON.stringify(final), { timeout: 10_000 });

    const decodable = states.filter((s) => Object.values(s).every((v) => !v.startsWith('{broken')));
    const held = new Set(decodable.map((s) => JSON.stringify(Object.fromEntries(Object.entries(s).sort()))));
    for (const snapshot of snapshots) {
      expect(held.has(JSON.stringify(content(snapshot)))).toBe(true);
      for (const key of snapshot.keys()) expect(snapshot.raw(key)?.toString().startsWith('{broken')).toBe(false);
    }
    expect(errors.every((e) => e instanceof DecodeError)).toBe(true);
    // Snapshot indexes never go backwards while the server's do not.
    for (let i = 1; i < snapshots.length; i++) expect(snapshots[i]!.index).toBeGreaterThan(snapshots[i - 1]!.index);
  });
});

describe('when a value fails to decode', () => {
  it('emits DecodeError naming the key, keeps the last good snapshot, and recovers when fixed', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(`${fx.prefix}good`, '{"ok":true}');
    const config = new ConfigWatcher(coord, fx.prefix, { decode: 'json' });
    const before = await config.ready();
    const errors: unknown[] = [];
    const changes: unknown[] = [];
    config.on('error', (e) => errors.push(e));
    config.on('change', (_s, c) => changes.push(c));

    await coord.api.kv.put(`${fx.prefix}bad`, 'not json');
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(DecodeError);
    expect((errors[0] as DecodeError).key).toBe(`${fx.prefix}bad`);
    expect(config.snapshot()).toBe(before);
    expect(config.get('bad')).toBeUndefined();
    expect(changes).toEqual([]);

    await coord.api.kv.put(`${fx.prefix}bad`, '"now json"');
    await waitFor(() => config.get('bad') === 'now json');
    expect(changes).toEqual([{ added: ['bad'], modified: [], deleted: [] }]);
  });

  it('applies a custom decoder and treats its throw as a decode failure', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(`${fx.prefix}port`, '8080');
    const decode = (raw: Buffer) => {
      const n = Number(raw.toString());
      if (!Number.isInteger(n)) throw new Error('not a port');
      return n;
    };
    const config = new ConfigWatcher(coord, fx.prefix, { decode });
    expect((await config.ready()).get('port')).toBe(8080);
    const failed = new Promise<unknown>((resolve) => config.once('error', resolve));
    await coord.api.kv.put(`${fx.prefix}port`, 'eighty');
    expect(await failed).toMatchObject({ code: 'ERR_DECODE', message: expect.stringContaining('not a port') });
    expect(config.get('port')).toBe(8080);
  });
});

describe('20 watchers on one prefix', () => {
  it('hold one blocking request each, on the prefix, never one per key', async () => {
    const coord = fx.coord();
    for (let i = 0; i < 5; i++) await coord.api.kv.put(`${fx.prefix}key${i}`, `v${i}`);
    const http = coord.api.http;
    const original = http.request.bind(http);
    const inflight = new Map<string, number>();
    let maxInflight = 0;
    let total = 0;
    const paths = new Set<string>();
    vi.spyOn(http, 'request').mockImplementation(async (spec: RequestSpec) => {
      if (spec.method !== 'GET') return original(spec);
      total += 1;
      paths.add(spec.path);
      const now = (inflight.get(spec.path) ?? 0) + 1;
      inflight.set(spec.path, now);
      maxInflight = Math.max(maxInflight, now);
      try {
        return await original(spec);
      } finally {
        inflight.set(spec.path, (inflight.get(spec.path) ?? 1) - 1);
      }
    });
    const watchers = Array.from({ length: 20 }, () => new ConfigWatcher(coord, fx.prefix));
    await Promise.all(watchers.map((w) => w.ready()));
    const writer = fx.coord();
    for (let round = 0; round < 3; round++) {
      await writer.api.kv.put(`${fx.prefix}key${round}`, `changed ${round}`);
      await waitFor(() => watchers.every((w) => w.get(`key${round}`) === `changed ${round}`));
    }
    const prefixPath = `/v1/kv/${fx.prefix}`;
    await waitFor(() => inflight.get(prefixPath) === 20);
    expect([...paths]).toEqual([prefixPath]);
    expect(maxInflight).toBeLessThanOrEqual(20);
    // One initial read plus at most a few rounds per watcher: no per-key fan-out.
    expect(total).toBeLessThanOrEqual(20 * (1 + 3 + 1));
  });
});

describe('surviving outages', () => {
  it.runIf(fx.isDev)('keeps the last snapshot while leaderless, reports the 500s, and emits the change it missed', async () => {
    const coord = fx.coord({ retry: { retries: 0 } });
    // A session-held key with Behavior delete: invalidating the session deletes the key, which the
    // dev server does even while leaderless — a change made while the watcher cannot read.
    const created = await consulFetch(fx.target, 'PUT', '/v1/session/create', { body: { Behavior: 'delete', LockDelay: '0s', Checks: [] } });
    const sessionId = (created.json() as { ID: string }).ID;
    fx.cleanup(async () => void (await consulFetch(fx.target, 'PUT', `/v1/session/destroy/${sessionId}`)));
    await coord.api.kv.put(`${fx.prefix}owned`, 'held', { acquire: sessionId });
    await coord.api.kv.put(`${fx.prefix}plain`, 'p');

    const config = new ConfigWatcher(coord, fx.prefix, { wait: '100ms' });
    const snapshot = await config.ready();
    expect([...snapshot.keys()]).toEqual(['owned', 'plain']);
    const errors: unknown[] = [];
    const changes: unknown[] = [];
    config.on('error', (e) => errors.push(e));
    config.on('change', (_s, c) => changes.push(c));

    fx.dev.leaderless();
    await waitFor(() => errors.filter((e) => e instanceof ConsulError && e.statusCode === 500).length >= 2);
    expect((errors[0] as ConsulError).consulMessage).toMatch(/No cluster leader/);
    expect(config.snapshot()).toBe(snapshot);
    expect(config.state).toBe('ready');

    expect(fx.dev.invalidateSession(sessionId)).toBe(true);
    fx.dev.restoreLeader();
    await waitFor(() => changes.length === 1, { timeout: 15_000 });
    expect(changes).toEqual([{ added: [], modified: [], deleted: ['owned'] }]);
  });

  it.runIf(fx.isDev)('rides out a server restart that keeps its state, then follows new writes', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(`${fx.prefix}a`, '1');
    const config = new ConfigWatcher(coord, fx.prefix);
    const before = await config.ready();
    await fx.dev.restart({ keepState: true });
    await coord.api.kv.put(`${fx.prefix}a`, '2');
    await waitFor(() => config.get('a') === '2', { timeout: 15_000 });
    expect(config.snapshot().index).toBeGreaterThan(before.index);
  });

  it.runIf(fx.isDev)('follows a restart that lost its state within one wait (the index went backwards)', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(`${fx.prefix}a`, '1');
    // The watcher's next read still carries the old, higher index; a server that lost its state
    // holds such a read until `wait` runs out (real Consul does the same). Only that reply shows
    // the index went backwards, so the loop resets and reads afresh: `wait` bounds the delay.
    const config = new ConfigWatcher(coord, fx.prefix, { wait: '300ms' });
    await config.ready();
    const changes: unknown[] = [];
    config.on('change', (_s, c) => changes.push(c));
    await fx.dev.restart({ keepState: false });
    await coord.api.kv.put(`${fx.prefix}b`, 'new');
    await waitFor(() => config.get('b') === 'new', { timeout: 15_000 });
    expect(config.get('a')).toBeUndefined();
    expect(changes.at(-1)).toEqual({ added: ['b'], modified: [], deleted: ['a'] });
  });
});

describe('close()', () => {
  it('leaves no timer or socket behind (Coordinator included)', async () => {
    const resources = trackResources();
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const socketsBefore = sockets();
    try {
      const coord = fx.coord();
      const watchers = [new ConfigWatcher(coord, fx.prefix), new ConfigWatcher(coord, fx.prefix, { decode: 'json' })];
      await Promise.all(watchers.map((w) => w.ready()));
      await coord.api.kv.put(`${fx.prefix}x`, '1');
      await waitFor(() => watchers.every((w) => w.get('x') !== undefined));
      await Promise.all(watchers.map((w) => w.close()));
      expect(watchers.map((w) => w.state)).toEqual(['closed', 'closed']);
      await coord.close();
      await settle(() => resources.live().length === 0 && sockets() <= socketsBefore, { message: 'timers and sockets to be released' });
    } finally {
      resources.stop();
    }
    expect(resources.live()).toEqual([]);
  });
});
