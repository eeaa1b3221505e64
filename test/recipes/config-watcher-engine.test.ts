/**
 * ConfigWatcher logic against a scripted in-memory KV endpoint (no server): the read function is
 * replaced by a fake that blocks like Consul does, so every rule can be driven step by step.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { ClosedError, ConsulError, DecodeError, TimeoutError } from '../../src/errors.js';
import { ConfigWatcher, type ConfigChanges, type ConfigSnapshot } from '../../src/recipes/config/config-watcher.js';
import type { QueryMeta } from '../../src/transport/client.js';
import type { KVPair, ReadOptions } from '../../src/transport/kv.js';
import { waitFor } from '../support/wait.js';
import { park } from './watch-fixture.js';

/** A KV store that answers recursive reads the way Consul does, blocking while the index is unchanged. */
class FakeKV {
  index = 1n;
  readonly data = new Map<string, KVPair>();
  failure: unknown;
  requests = 0;
  inflight = 0;
  private wake = new Set<() => void>();

  put(key: string, value: string): void {
    this.index += 1n;
    const old = this.data.get(key);
    const modifyIndex = Number(this.index);
    this.data.set(key, {
      key,
      value: Buffer.from(value),
      flags: 0n,
      session: undefined,
      lockIndex: 0,
      createIndex: old?.createIndex ?? modifyIndex,
      modifyIndex,
    });
    this.notify();
  }

  delete(key: string): void {
    this.index += 1n;
    this.data.delete(key);
    this.notify();
  }

  fail(err: unknown): void {
    this.failure = err;
    this.notify();
  }

  heal(): void {
    this.failure = undefined;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.wake]) w();
  }

  list = async (prefix: string, opts: ReadOptions = {}): Promise<{ pairs: KVPair[]; meta: QueryMeta }> => {
    this.requests += 1;
    this.inflight += 1;
    try {
      opts.signal?.throwIfAborted();
      if (opts.index !== undefined && opts.index > 0n && opts.index === this.index && this.failure === undefined) {
        await park(this.wake, opts.signal);
      }
      if (this.failure !== undefined) throw this.failure;
      const pairs = [...this.data.values()].filter((p) => p.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
      return { pairs, meta: { index: this.index, knownLeader: true, lastContactMs: 0 } };
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

function setup(): { coord: Coordinator; kv: FakeKV } {
  // Nothing listens on port 1: every request the test did not fake would fail loudly.
  const coord = new Coordinator({ address: 'http://127.0.0.1:1', retry: { retries: 0 } });
  coords.push(coord);
  const kv = new FakeKV();
  vi.spyOn(coord.api.kv, 'list').mockImplementation(kv.list);
  return { coord, kv };
}

function record<T>(watcher: ConfigWatcher<T>) {
  const changes: Array<{ snapshot: ConfigSnapshot<T>; changes: ConfigChanges }> = [];
  const errors: unknown[] = [];
  watcher.on('change', (snapshot, c) => changes.push({ snapshot, changes: c }));
  watcher.on('error', (err) => errors.push(err));
  return { changes, errors };
}

describe('ConfigWatcher (scripted endpoint)', () => {
  it('resolves ready() with the first snapshot, keyed relative to the prefix', async () => {
    const { coord, kv } = setup();
    kv.put('app/db/url', 'postgres://x');
    kv.put('other/key', 'not mine');
    const config = new ConfigWatcher(coord, 'app/');
    const snapshot = await config.ready();
    expect(snapshot.toObject()).toEqual({ 'db/url': 'postgres://x' });
    expect(config.get('db/url')).toBe('postgres://x');
    expect(config.snapshot()).toBe(snapshot);
    expect(config.state).toBe('ready');
  });

  it('emits change with added, modified and deleted keys, and none for a same-bytes rewrite', async () => {
    const { coord, kv } = setup();
    kv.put('app/a', '1');
    kv.put('app/b', '2');
    const config = new ConfigWatcher(coord, 'app/', { decode: 'json' });
    const { changes } = record(config);
    await config.ready();
    expect(changes.map((c) => c.changes)).toEqual([{ added: ['a', 'b'], modified: [], deleted: [] }]);

    kv.put('app/a', '1'); // same bytes: no change
    kv.put('app/a', '10');
    kv.delete('app/b');
    kv.put('app/c', '3');
    await waitFor(() => config.get('c') === 3);
    const last = changes.at(-1);
    expect(last?.snapshot.toObject()).toEqual({ a: 10, c: 3 });
    expect(changes.every((c) => c.changes.added.length + c.changes.modified.length + c.changes.deleted.length > 0)).toBe(true);
  });

  it('uses one request at a time, blocking on the last index', async () => {
    const { coord, kv } = setup();
    const config = new ConfigWatcher(coord, 'app/');
    await config.ready();
    await waitFor(() => kv.inflight === 1);
    const before = kv.requests;
    kv.put('app/x', 'y');
    await waitFor(() => config.get('x') === 'y');
    await waitFor(() => kv.inflight === 1);
    expect(kv.requests).toBe(before + 1);
  });

  describe('when a value fails to decode', () => {
    it('emits DecodeError, keeps the last good snapshot, and publishes nothing the server did not hold', async () => {
      const { coord, kv } = setup();
      kv.put('app/a', '1');
      const config = new ConfigWatcher(coord, 'app/', { decode: 'json' });
      const { changes, errors } = record(config);
      const good = await config.ready();

      kv.put('app/bad', '{not json');
      await waitFor(() => errors.some((e) => e instanceof DecodeError));
      expect((errors.find((e) => e instanceof DecodeError) as DecodeError).key).toBe('app/bad');
      expect(config.snapshot()).toBe(good);

      // Another key changes while the bad value is there: still all-or-nothing.
      kv.put('app/a', '2');
      await waitFor(() => errors.filter((e) => e instanceof DecodeError).length >= 2);
      expect(config.get('a')).toBe(1);

      kv.put('app/bad', '"fixed"');
      await waitFor(() => config.get('bad') === 'fixed');
      expect(config.get('a')).toBe(2);
      expect(changes.at(-1)?.changes).toEqual({ added: ['bad'], modified: ['a'], deleted: [] });
      for (const { snapshot } of changes) expect(snapshot.get('bad')).not.toBe('{not json');
    });

    it('keeps waiting for a first good snapshot (ready() stays pending) rather than publishing a partial one', async () => {
      const { coord, kv } = setup();
      kv.put('app/bad', '{');
      const config = new ConfigWatcher(coord, 'app/', { decode: 'json' });
      const { errors } = record(config);
      await waitFor(() => errors.length > 0);
      expect(config.state).toBe('starting');
      expect(config.snapshot().size).toBe(0);
      await expect(config.ready({ timeout: 20 })).rejects.toBeInstanceOf(TimeoutError);
      kv.put('app/bad', '{}');
      await expect(config.ready()).resolves.toBeDefined();
    });
  });

  describe('when reads fail (outage, no leader)', () => {
    it('keeps the snapshot, reports each failure, and emits the missed change on recovery', async () => {
      const { coord, kv } = setup();
      kv.put('app/a', 'before');
      const config = new ConfigWatcher(coord, 'app/');
      const { changes, errors } = record(config);
      await config.ready();

      kv.fail(new ConsulError(500, 'GET /v1/kv/app/', 'No cluster leader'));
      await waitFor(() => errors.length >= 2);
      expect(config.get('a')).toBe('before');
      expect(config.state).toBe('ready');

      kv.put('app/a', 'after');
      kv.put('app/b', 'new');
      kv.heal();
      await waitFor(() => config.get('b') === 'new');
      expect(changes.at(-1)?.changes).toEqual({ added: ['b'], modified: ['a'], deleted: [] });
    });

    it('rejects ready() with a permanent failure (403) seen before the first snapshot', async () => {
      const { coord, kv } = setup();
      kv.fail(new ConsulError(403, 'GET /v1/kv/app/', 'Permission denied'));
      const config = new ConfigWatcher(coord, 'app/');
      await expect(config.ready()).rejects.toMatchObject({ statusCode: 403 });
      kv.heal();
      await waitFor(() => config.state === 'ready');
      await expect(config.ready()).resolves.toBeDefined();
    });
  });

  describe('ready()', () => {
    it('rejects with the signal reason and removes its listeners', async () => {
      const { coord, kv } = setup();
      kv.fail(new ConsulError(500, 'GET /v1/kv/app/', 'No cluster leader'));
      const config = new ConfigWatcher(coord, 'app/');
      const ac = new AbortController();
      const pending = config.ready({ signal: ac.signal });
      const reason = new Error('stop');
      ac.abort(reason);
      await expect(pending).rejects.toBe(reason);
      await expect(config.ready({ signal: ac.signal })).rejects.toBe(reason);
    });

    it('rejects with ClosedError when the watcher closes first', async () => {
      const { coord, kv } = setup();
      kv.fail(new ConsulError(500, 'GET /v1/kv/app/', 'No cluster leader'));
      const config = new ConfigWatcher(coord, 'app/');
      const pending = config.ready();
      await config.close();
      await expect(pending).rejects.toBeInstanceOf(ClosedError);
    });
  });

  describe('async iteration', () => {
    it('yields the current snapshot, then each new one, and ends on close()', async () => {
      const { coord, kv } = setup();
      kv.put('app/n', '0');
      const config = new ConfigWatcher(coord, 'app/', { decode: 'json' });
      await config.ready();
      const seen: unknown[] = [];
      const loop = (async () => {
        for await (const snapshot of config) {
          seen.push(snapshot.get('n'));
          if (snapshot.get('n') === 2) await config.close();
        }
      })();
      await waitFor(() => seen.length === 1);
      kv.put('app/n', '1');
      await waitFor(() => seen.includes(1));
      kv.put('app/n', '2');
      await loop;
      expect(seen).toEqual([0, 1, 2]);
    });

    it('yields the first snapshot even when the prefix is empty, to a loop started before ready', async () => {
      const { coord } = setup();
      const config = new ConfigWatcher(coord, 'empty/');
      const iterator = config[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      expect((first.value as ConfigSnapshot<unknown>).size).toBe(0);
      await config.close();
      expect((await iterator.next()).done).toBe(true);
    });

    it('rejects pending ready() calls with the reason when the watcher signal aborts', async () => {
      const { coord, kv } = setup();
      kv.fail(new ConsulError(500, 'GET /v1/kv/app/', 'No cluster leader'));
      const ac = new AbortController();
      const config = new ConfigWatcher(coord, 'app/', { signal: ac.signal });
      const pending = config.ready();
      const reason = new Error('shutting down');
      ac.abort(reason);
      await expect(pending).rejects.toBe(reason);
      await waitFor(() => config.state === 'closed');
    });

    it('rejects a running iteration with the reason when the watcher signal aborts', async () => {
      const { coord } = setup();
      const ac = new AbortController();
      const config = new ConfigWatcher(coord, 'app/', { signal: ac.signal });
      await config.ready();
      const reason = new Error('shutting down');
      const loop = (async () => {
        for await (const _ of config) {
          ac.abort(reason);
        }
      })();
      await expect(loop).rejects.toBe(reason);
      expect(config.state).toBe('closed');
    });
  });

  describe('close()', () => {
    it('cancels the request in flight, is idempotent, and detaches from the Coordinator', async () => {
      const { coord, kv } = setup();
      const config = new ConfigWatcher(coord, 'app/');
      await config.ready();
      await waitFor(() => kv.inflight === 1);
      const closing = config.close();
      expect(config.close()).toBe(closing);
      await closing;
      expect(kv.inflight).toBe(0);
      expect(config.state).toBe('closed');
      const requests = kv.requests;
      kv.put('app/late', 'x');
      await coord.close();
      expect(kv.requests).toBe(requests);
    });

    it('is closed by Coordinator.close()', async () => {
      const { coord } = setup();
      const config = new ConfigWatcher(coord, 'app/');
      await config.ready();
      await coord.close();
      expect(config.state).toBe('closed');
      expect(() => new ConfigWatcher(coord, 'app/')).toThrow(ClosedError);
    });
  });

  it('reports a throwing change listener through the logger (not as error) and keeps watching', async () => {
    const warn = vi.fn();
    const coord = new Coordinator({ address: 'http://127.0.0.1:1', retry: { retries: 0 }, logger: { debug() {}, info() {}, error() {}, warn } });
    coords.push(coord);
    const kv = new FakeKV();
    vi.spyOn(coord.api.kv, 'list').mockImplementation(kv.list);
    const config = new ConfigWatcher(coord, 'app/');
    const errors: unknown[] = [];
    config.on('error', (e) => errors.push(e));
    config.once('change', () => {
      throw new Error('listener bug');
    });
    await config.ready();
    kv.put('app/a', '1');
    await waitFor(() => warn.mock.calls.length === 1);
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ event: 'change', err: 'listener bug' }), expect.any(String));
    kv.put('app/a', '2');
    await waitFor(() => config.get('a') === '2');
    expect(errors).toEqual([]);
    await waitFor(() => config.get('a') === '2');
  });
});
