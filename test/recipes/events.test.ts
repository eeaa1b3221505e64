/**
 * Events against a live server. Needs `/v1/event/fire/:name` and `/v1/event/list` (with Consul's
 * uuid-derived, non-monotonic index and its 256-event buffer) in the dev server.
 */
import { describe, expect, it } from 'vitest';
import { ConsulError } from '../../src/errors.js';
import { Events, type UserEvent } from '../../src/recipes/events/events.js';
import { eventIdToIndex } from '../../src/transport/events.js';
import { consulFetch } from '../support/target.js';
import { waitFor } from '../support/wait.js';
import { settle, trackResources, useWatchFixture } from './watch-fixture.js';

const fx = useWatchFixture();

describe('fire()', () => {
  it('fires through the agent and resolves with the event ID the list then shows', async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    const id = await events.fire(fx.unique, 'v1');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const { events: listed, meta } = await coord.api.events.list({ name: fx.unique });
    expect(listed.map((e) => e.id)).toEqual([id]);
    expect(listed[0]?.payload?.toString()).toBe('v1');
    // The list index is derived from the newest event's ID, exactly (it may exceed 2^53).
    expect(meta.index).toBe(eventIdToIndex(id));
  });

  it('passes filters to Consul: an event for another node is not kept by this agent', async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    await events.fire(fx.unique, 'elsewhere', { node: '^no-such-node$' });
    const kept = await events.fire(fx.unique, 'here');
    const { events: listed } = await coord.api.events.list({ name: fx.unique });
    expect(listed.map((e) => e.id)).toEqual([kept]);
  });

  it("surfaces Consul's refusal of a payload that does not fit once encoded", async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    // Within our 512-byte pre-check, too large once the name and encoding are added.
    const refused = await events.fire(fx.unique.padEnd(120, 'x'), 'p'.repeat(500)).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConsulError);
    expect(refused).toMatchObject({ statusCode: 500, consulMessage: expect.stringContaining('exceeds configured limit') });
  });
});

describe('watch()', () => {
  it('delivers 200 events to each of 3 watchers, all in order, exactly once', async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    const watchers = [events.watch(fx.unique), events.watch(fx.unique), events.watch(fx.unique)];
    await Promise.all(watchers.map((w) => w.ready()));
    const seen = watchers.map(() => [] as string[]);
    watchers.forEach((w, i) => w.on('event', (ev) => seen[i]!.push(ev.id)));
    const fired: string[] = [];
    for (let i = 0; i < 200; i++) fired.push(await events.fire(fx.unique, `n${i}`));
    await waitFor(() => seen.every((s) => s.length >= 200), { timeout: 20_000 });
    for (const s of seen) expect(s).toEqual(fired);
  });

  it('delivers payloads as bytes, ignores other names, and skips history unless asked', async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    await events.fire(fx.unique, 'before');
    const fresh = events.watch(fx.unique);
    const replay = events.watch(fx.unique, { history: true });
    const got: Record<string, string[]> = { fresh: [], replay: [] };
    fresh.on('event', (e) => got.fresh!.push(String(e.payload)));
    replay.on('event', (e) => got.replay!.push(String(e.payload)));
    await Promise.all([fresh.ready(), replay.ready()]);
    await events.fire(`${fx.unique}-other`, 'not for us');
    await events.fire(fx.unique, Buffer.from([0x61, 0x62]));
    await waitFor(() => got.fresh!.length === 1 && got.replay!.length === 2);
    expect(got).toEqual({ fresh: ['ab'], replay: ['before', 'ab'] });
  });

  it('is an async iterable; leaving the loop stops the watch', async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    const watcher = events.watch(fx.unique);
    const got: UserEvent[] = [];
    const loop = (async () => {
      for await (const ev of watcher) {
        got.push(ev);
        if (got.length === 2) break;
      }
    })();
    await watcher.ready();
    await events.fire(fx.unique, 'one');
    await events.fire(fx.unique, 'two');
    await events.fire(fx.unique, 'three');
    await loop;
    expect(got.map((e) => String(e.payload))).toEqual(['one', 'two']);
    expect(got[0]).toMatchObject({ name: fx.unique });
    expect(got[0]?.ltime).toBeTypeOf('number');
    expect(got[0]?.ltime).toBeGreaterThan(0);
    await waitFor(() => watcher.state === 'closed');
  });

  it('stops with the signal: the loop rejects with its reason', async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    const ac = new AbortController();
    const reason = new Error('shutting down');
    const watcher = events.watch(fx.unique, { signal: ac.signal });
    const loop = (async () => {
      for await (const _ of watcher) ac.abort(reason);
    })();
    await watcher.ready();
    await events.fire(fx.unique);
    await expect(loop).rejects.toBe(reason);
  });

  it.runIf(fx.isDev)('reports truncated after an agent restart emptied the buffer, and goes on', async () => {
    const coord = fx.coord();
    const events = new Events(coord);
    const watcher = events.watch(fx.unique, { wait: '300ms' });
    await watcher.ready();
    const got: string[] = [];
    const truncated: unknown[] = [];
    watcher.on('event', (e) => got.push(String(e.payload)));
    watcher.on('truncated', (info) => truncated.push(info));
    await events.fire(fx.unique, 'a');
    await waitFor(() => got.length === 1);
    await fx.dev.restart({ keepState: false });
    await events.fire(fx.unique, 'b');
    await waitFor(() => got.length === 2, { timeout: 15_000 });
    expect(got).toEqual(['a', 'b']);
    expect(truncated).toHaveLength(1);
  });

  it('close() leaves no timer or socket behind', async () => {
    const resources = trackResources();
    try {
      const coord = fx.coord();
      const events = new Events(coord);
      const watcher = events.watch(fx.unique);
      await watcher.ready();
      await events.fire(fx.unique, 'x');
      await new Promise<void>((res) => watcher.once('event', () => res()));
      await watcher.close();
      await coord.close();
      await settle(() => resources.live().length === 0, { message: 'timers and sockets to be released' });
    } finally {
      resources.stop();
    }
  });

  it('the raw list shows events oldest first, and an index of 1 when there are none', async () => {
    const res = await consulFetch(fx.target, 'GET', `/v1/event/list?name=${fx.unique}-none`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual([]);
    expect(res.header('x-consul-index')).toBe('1');
  });
});
