/**
 * EventWatcher logic against a scripted `/v1/event/list` that behaves like Consul's: the index is
 * derived from the newest event's UUID (not monotonic, often above 2^53) and a blocking read waits
 * only while it is exactly equal; the list is the whole 256-event ring each time.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { ConfigError, ConsulError, IllegalStateError } from '../../src/errors.js';
import { Events, type UserEvent } from '../../src/recipes/events/events.js';
import type { QueryMeta } from '../../src/transport/client.js';
import { eventIdToIndex } from '../../src/transport/events.js';
import type { ReadOptions } from '../../src/transport/kv.js';
import { waitFor } from '../support/wait.js';
import { park } from './watch-fixture.js';

class FakeEventAgent {
  buffer: UserEvent[] = [];
  failure: unknown;
  requests = 0;
  inflight = 0;
  readonly indexesAsked: bigint[] = [];
  private wake = new Set<() => void>();

  fire(name: string, payload: string | null = null): UserEvent {
    const ev: UserEvent = {
      id: randomUUID(),
      name,
      payload: payload === null ? null : Buffer.from(payload),
      nodeFilter: '',
      serviceFilter: '',
      tagFilter: '',
      version: 1,
      ltime: this.buffer.length + 1,
    };
    this.buffer = [...this.buffer, ev].slice(-256);
    for (const w of [...this.wake]) w();
    return ev;
  }

  restart(): void {
    this.buffer = [];
    for (const w of [...this.wake]) w();
  }

  private view(name: string | undefined): { events: UserEvent[]; index: bigint } {
    const events = this.buffer.filter((e) => !name || e.name === name);
    const last = events.at(-1);
    return { events, index: last ? (eventIdToIndex(last.id) as bigint) : 1n };
  }

  list = async (opts: ReadOptions & { name?: string | undefined } = {}): Promise<{ events: UserEvent[]; meta: QueryMeta }> => {
    this.requests += 1;
    this.inflight += 1;
    this.indexesAsked.push(opts.index ?? 0n);
    try {
      if (this.failure !== undefined) throw this.failure;
      while (opts.index !== undefined && opts.index > 0n && this.view(opts.name).index === opts.index) {
        await park(this.wake, opts.signal);
      }
      const { events, index } = this.view(opts.name);
      return { events, meta: { index, knownLeader: true, lastContactMs: 0 } };
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

function setup(): { coord: Coordinator; agent: FakeEventAgent; events: Events } {
  const coord = new Coordinator({ address: 'http://127.0.0.1:1', retry: { retries: 0 } });
  coords.push(coord);
  const agent = new FakeEventAgent();
  vi.spyOn(coord.api.events, 'list').mockImplementation(agent.list);
  return { coord, agent, events: new Events(coord) };
}

describe('EventWatcher (scripted agent)', () => {
  it('delivers 200 events fired one by one to each of 3 watchers, all in order, exactly once', async () => {
    const { agent, events } = setup();
    const watchers = [events.watch('deploy'), events.watch('deploy'), events.watch('deploy')];
    await Promise.all(watchers.map((w) => w.ready()));
    const seen = watchers.map(() => [] as string[]);
    watchers.forEach((w, i) => w.on('event', (ev) => seen[i]!.push(ev.id)));
    const fired: string[] = [];
    for (let i = 0; i < 200; i++) {
      fired.push(agent.fire('deploy', `v${i}`).id);
      if (i % 3 === 0) agent.fire('other'); // other names share the ring and never leak through
      // Let some rounds complete between fires, and others batch several events.
      if (i % 7 === 0) await waitFor(() => seen.every((s) => s.length === fired.length));
    }
    await waitFor(() => seen.every((s) => s.length === 200), { timeout: 10_000 });
    for (const s of seen) expect(s).toEqual(fired);
  });

  it('keeps the exact uint64 index (above 2^53) when blocking', async () => {
    const { agent, events } = setup();
    let ev = agent.fire('deploy');
    while ((eventIdToIndex(ev.id) as bigint) <= 2n ** 53n) ev = agent.fire('deploy');
    const watcher = events.watch('deploy');
    await watcher.ready();
    await waitFor(() => agent.inflight === 1);
    expect(agent.indexesAsked.at(-1)).toBe(eventIdToIndex(ev.id));
  });

  it('skips events already buffered at start, unless history: true', async () => {
    const { agent, events } = setup();
    agent.fire('deploy', 'old');
    const fresh = events.watch('deploy');
    const replay = events.watch('deploy', { history: true });
    const freshSeen: string[] = [];
    const replaySeen: string[] = [];
    fresh.on('event', (e) => freshSeen.push(String(e.payload)));
    replay.on('event', (e) => replaySeen.push(String(e.payload)));
    await Promise.all([fresh.ready(), replay.ready()]);
    agent.fire('deploy', 'new');
    await waitFor(() => freshSeen.length === 1 && replaySeen.length === 2);
    expect(freshSeen).toEqual(['new']);
    expect(replaySeen).toEqual(['old', 'new']);
  });

  it('delivers raw payload bytes and null for none', async () => {
    const { agent, events } = setup();
    const watcher = events.watch('deploy');
    await watcher.ready();
    const got: UserEvent[] = [];
    watcher.on('event', (e) => got.push(e));
    agent.fire('deploy', 'v1');
    agent.fire('deploy', null);
    await waitFor(() => got.length === 2);
    expect(got[0]?.payload?.toString()).toBe('v1');
    expect(got[1]?.payload).toBeNull();
    expect(got[0]).toMatchObject({ name: 'deploy' });
  });

  describe('when the last event handled left the buffer', () => {
    it('emits truncated and delivers what the agent has (agent restart)', async () => {
      const { agent, events } = setup();
      const watcher = events.watch('deploy');
      await watcher.ready();
      const got: string[] = [];
      const truncated: unknown[] = [];
      watcher.on('event', (e) => got.push(String(e.payload)));
      watcher.on('truncated', (info) => truncated.push(info));
      const first = agent.fire('deploy', 'a');
      await waitFor(() => got.length === 1);
      agent.restart();
      agent.fire('deploy', 'b');
      await waitFor(() => got.length === 2);
      expect(got).toEqual(['a', 'b']);
      expect(truncated).toEqual([{ lastId: first.id }]);
    });
  });

  it('rides out failed reads without losing or repeating events', async () => {
    const { agent, events } = setup();
    const watcher = events.watch('deploy');
    await watcher.ready();
    const got: string[] = [];
    const errors: unknown[] = [];
    watcher.on('event', (e) => got.push(String(e.payload)));
    watcher.on('error', (e) => errors.push(e));
    agent.fire('deploy', '1');
    await waitFor(() => got.length === 1);
    agent.failure = new ConsulError(500, 'GET /v1/event/list', 'rpc error');
    agent.fire('deploy', '2');
    await waitFor(() => errors.length >= 1);
    agent.fire('deploy', '3');
    agent.failure = undefined;
    await waitFor(() => got.length === 3);
    expect(got).toEqual(['1', '2', '3']);
  });

  describe('async iteration', () => {
    it('yields events in order; leaving the loop closes the watcher', async () => {
      const { agent, events } = setup();
      const watcher = events.watch('deploy');
      const got: string[] = [];
      const loop = (async () => {
        for await (const ev of watcher) {
          got.push(String(ev.payload));
          if (got.length === 3) break;
        }
      })();
      await watcher.ready();
      for (const p of ['a', 'b', 'c', 'd']) agent.fire('deploy', p);
      await loop;
      expect(got).toEqual(['a', 'b', 'c']);
      await waitFor(() => watcher.state === 'closed');
      expect(agent.inflight).toBe(0);
    });

    it('can be iterated only once', () => {
      const { events } = setup();
      const watcher = events.watch('deploy');
      watcher[Symbol.asyncIterator]();
      expect(() => watcher[Symbol.asyncIterator]()).toThrow(IllegalStateError);
    });

    it('rejects with the signal reason when the watch signal aborts', async () => {
      const { agent, events } = setup();
      const ac = new AbortController();
      const reason = new Error('stop');
      const watcher = events.watch('deploy', { signal: ac.signal });
      const loop = (async () => {
        for await (const _ of watcher) ac.abort(reason);
      })();
      await watcher.ready();
      agent.fire('deploy');
      await expect(loop).rejects.toBe(reason);
    });
  });

  it('validates names and options synchronously', () => {
    const { events } = setup();
    expect(() => events.watch('')).toThrow(ConfigError);
    expect(() => events.watch('x', { history: 'yes' as never })).toThrow(/"history"/);
    expect(() => events.fire('', 'x')).toThrow(ConfigError);
    expect(() => events.fire('x', 'p', { tag: 'v1' })).toThrow(/"tag"/);
    expect(() => events.fire('x', 'p'.repeat(600))).toThrow(/payload/);
  });
});
