/** LeaderElection against a live server: terms, hand-over, tokens, proclaim, losses, observers, cleanup. */
import { describe, expect, it } from 'vitest';
import {
  ClosedError,
  ConfigError,
  IllegalStateError,
  LockLostError,
  LockTimeoutError,
  NotLeaderError,
} from '../../src/errors.js';
import { LeaderElection, type DeposedReason, type Deposition, type LeaderInfo, type LeaderTerm } from '../../src/recipes/election/election.js';
import { Session } from '../../src/session/session.js';
import { consulFetch, kvPath } from '../support/target.js';
import { nextEvent, useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

/** Pulls the next value of an observer, failing the test (not hanging it) when none comes. */
async function pull<V>(it: AsyncIterator<V>, timeout = 10_000): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    it.next(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`observer yielded nothing within ${timeout} ms`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
  if (result.done) throw new Error('observer ended');
  return result.value;
}

function election<T = unknown>(key = fx.key(), options: ConstructorParameters<typeof LeaderElection<T>>[2] = {}, coord = fx.coord()): LeaderElection<T> {
  return new LeaderElection<T>(coord, key, { ttl: fx.ttl, ...options });
}

describe('campaigning and resigning', () => {
  it('elects a lone campaigner: the key is created with its session and value, and deleted on resign', async () => {
    const coord = fx.coord();
    const e = election(fx.key(), { value: { id: 'worker-1' } }, coord);
    const seen: string[] = [];
    e.on('elected', (term) => seen.push(`elected:${e.state}:${term.signal.aborted}`));
    e.on('deposed', (_r, d) => seen.push(`deposed:${d.reason}:${e.state}:${e.signal.aborted}:${e.isLeader}`));
    expect(e.state).toBe('idle');
    const pending = e.campaign();
    expect(e.state).toBe('campaigning');
    const term = await pending;
    expect(e.state).toBe('leader');
    expect(e.isLeader).toBe(true);
    expect(e.fencingToken).toBe(term.fencingToken);
    expect(e.term).toBe(term);
    expect(e.signal).toBe(term.signal);

    const { pair } = await coord.api.kv.get(fx.key());
    expect(pair?.session).toBe(term.sessionId);
    expect(pair?.flags).toBe(0n);
    expect(JSON.parse(pair?.value?.toString() ?? '')).toEqual({ id: 'worker-1' });
    expect(term.fencingToken).toBe(pair?.createIndex);
    if (fx.isDev) {
      // Each campaign's session deletes the key if it dies (Behavior delete).
      const session = fx.dev.state.listSessions().find((s) => s.id === term.sessionId);
      expect(session?.behavior).toBe('delete');
    }

    const resigning = e.resign();
    expect(e.state).toBe('resigning');
    expect(term.signal.aborted).toBe(true);
    await resigning;
    expect(e.state).toBe('idle');
    expect(e.fencingToken).toBeUndefined();
    expect(e.signal.aborted).toBe(true);
    expect((await coord.api.kv.get(fx.key())).pair).toBeNull();
    expect(await fx.sessions()).not.toContain(term.sessionId);
    expect(seen).toEqual(['elected:leader:false', 'deposed:resigned:resigning:true:false']);
  });

  it('hands over to a waiting campaigner at once on resign: no lock-delay, no TTL', async () => {
    const coord = fx.coord();
    // Lock-delay at Consul's 60 s cap and a long TTL: the waiter's 10 s timeout can only be met
    // if resigning deletes the key cleanly.
    const options = { ttl: fx.isDev ? '60s' : '60s', lockDelay: '60s' };
    const a = election(fx.key(), options, coord);
    const b = election(fx.key(), options, coord);
    const first = await a.campaign();
    const waiting = nextEvent(b, 'waiting');
    const pending = b.campaign({ timeout: '10s' });
    await waiting;
    await a.resign();
    const second = await pending;
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    if (fx.isDev) expect(fx.dev.state.lockDelayMs(fx.key())).toBe(0);
    await b.resign();
  });

  it('gives strictly increasing fencing tokens to successive leaders', async () => {
    const coord = fx.coord();
    const elections = [0, 1, 2].map(() => election(fx.key(), {}, coord));
    const tokens: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const e of elections) {
        const term = await e.campaign();
        tokens.push(term.fencingToken);
        await e.proclaim({ round });
        await e.resign();
      }
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number);
  });

  it('campaigns again after a resign, with a new session and a higher token', async () => {
    const e = election();
    const a = await e.campaign();
    await e.resign();
    const b = await e.campaign();
    expect(b.sessionId).not.toBe(a.sessionId);
    expect(b.fencingToken).toBeGreaterThan(a.fencingToken);
    expect(a.signal.aborted).toBe(true);
    expect(b.signal.aborted).toBe(false);
    await e.resign();
  });

  it('makes resign() a no-op when not leader (idle, campaigning, after a resign)', async () => {
    const coord = fx.coord();
    const holder = election(fx.key(), {}, coord);
    await holder.campaign();
    const e = election(fx.key(), {}, coord);
    const deposed: unknown[] = [];
    e.on('deposed', (_r, d) => deposed.push(d));
    await e.resign();
    expect(e.state).toBe('idle');

    const waiting = nextEvent(e, 'waiting');
    const pending = e.campaign();
    await waiting;
    await e.resign(); // does not cancel the campaign
    expect(e.state).toBe('campaigning');
    await holder.resign();
    await pending;
    await e.resign();
    await e.resign();
    expect(e.state).toBe('idle');
    expect(deposed).toHaveLength(1);
  });

  it('rejects campaign() with IllegalStateError unless idle', async () => {
    const e = election();
    const pending = e.campaign();
    await expect(e.campaign()).rejects.toBeInstanceOf(IllegalStateError);
    await pending;
    await expect(e.campaign()).rejects.toBeInstanceOf(IllegalStateError);
    await e.resign();
  });
});

describe('cancelling a campaign', () => {
  it('rejects with the signal’s reason on abort and leaves no session and no key', async () => {
    const coord = fx.coord();
    const holder = election(fx.key(), {}, coord);
    const held = await holder.campaign();
    const e = election(fx.key(), {}, coord);
    const controller = new AbortController();
    const waiting = nextEvent(e, 'waiting');
    const pending = e.campaign({ signal: controller.signal });
    await waiting;
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(e.state).toBe('idle');
    expect(await fx.sessions()).toEqual(fx.isDev ? [held.sessionId] : expect.arrayContaining([held.sessionId]));
    expect((await coord.api.kv.get(fx.key())).pair?.session).toBe(held.sessionId);
    await holder.resign();
  });

  it('rejects with LockTimeoutError after the timeout and leaves nothing behind', async () => {
    const coord = fx.coord();
    const holder = election(fx.key(), {}, coord);
    const held = await holder.campaign();
    const e = election(fx.key(), {}, coord);
    const error = await e.campaign({ timeout: '200ms' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(error).toMatchObject({ code: 'ERR_LOCK_TIMEOUT', key: fx.key() });
    expect(e.state).toBe('idle');
    expect(await fx.sessions()).toEqual(fx.isDev ? [held.sessionId] : expect.arrayContaining([held.sessionId]));
    await holder.resign();
  });

  it.runIf(fx.isDev)('cleans up a campaign aborted while it waits out lock-delay', async () => {
    const coord = fx.coord();
    const holder = election(fx.key(), { lockDelay: '60s' }, coord);
    const held = await holder.campaign();
    const deposed = nextEvent(holder, 'deposed');
    fx.dev.invalidateSession(held.sessionId);
    await deposed;
    expect(fx.dev.state.lockDelayMs(fx.key())).toBeGreaterThan(0);
    const e = election(fx.key(), {}, coord);
    const waiting = nextEvent(e, 'waiting');
    const controller = new AbortController();
    const pending = e.campaign({ signal: controller.signal });
    await waiting;
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(await fx.sessions()).toEqual([]);
    expect(fx.dev.state.getKey(fx.key())).toBeUndefined();
  });

  it('rejects at once, creating nothing, when the signal is already aborted', async () => {
    const e = election();
    const before = await fx.sessions();
    await expect(e.campaign({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(e.state).toBe('idle');
    expect(await fx.sessions()).toEqual(before);
  });
});

describe('proclaim()', () => {
  it('re-writes the value while leader, keeps the fencing token, and keeps the value for later terms', async () => {
    const coord = fx.coord();
    const e = election<{ v: number }>(fx.key(), { value: { v: 1 } }, coord);
    const term = await e.campaign();
    await e.proclaim({ v: 2 });
    const info = await e.leader();
    expect(info).toEqual({ value: { v: 2 }, sessionId: term.sessionId, fencingToken: term.fencingToken });
    expect(e.isLeader).toBe(true);
    await e.resign();
    const next = await e.campaign();
    expect((await e.leader())?.value).toEqual({ v: 2 });
    expect(next.fencingToken).toBeGreaterThan(term.fencingToken);
    await e.resign();
  });

  it('rejects with NotLeaderError when not leader, and after the key was taken away', async () => {
    const coord = fx.coord();
    const e = election(fx.key(), {}, coord);
    await expect(e.proclaim('x')).rejects.toBeInstanceOf(NotLeaderError);
    await e.campaign();
    // The key is deleted behind our back; the proclaim transaction proves we lost it.
    await consulFetch(fx.target, 'DELETE', kvPath(fx.key()));
    const error = await e.proclaim('y').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(NotLeaderError);
    expect(error).toMatchObject({ code: 'ERR_NOT_LEADER', key: fx.key() });
    await e.resign();
  });

  it('throws ConfigError synchronously for a value that cannot be encoded', async () => {
    const e = election();
    expect(() => e.proclaim({ big: 1n } as unknown as object)).toThrow(ConfigError);
  });
});

describe('when leadership is lost', () => {
  it.runIf(fx.isDev)('aborts the signal, then emits deposed, when Consul invalidates the session; another campaigner follows', async () => {
    const coord = fx.coord();
    const a = election(fx.key(), { lockDelay: '200ms' }, coord);
    const b = election(fx.key(), { lockDelay: '200ms' }, coord);
    const term = await a.campaign();
    const order: string[] = [];
    term.signal.addEventListener('abort', () => order.push('signal'));
    a.on('deposed', () => order.push('deposed'));
    b.on('elected', () => order.push('b elected'));
    const waiting = nextEvent(b, 'waiting');
    const pending = b.campaign();
    await waiting;
    const deposed = nextEvent<[DeposedReason, Deposition]>(a, 'deposed');
    fx.dev.invalidateSession(term.sessionId);
    const [reason, d] = await deposed;
    expect(d.reason).toBe(reason);
    // Consul deleted the key while our session still looked alive to us: the key is what we saw go.
    expect(d).toMatchObject({ reason: 'key-lost', fencingToken: term.fencingToken });
    expect(d.error).toBeInstanceOf(LockLostError);
    expect(term.signal.reason).toBe(d.error);
    expect(a.state).toBe('idle');
    const next = await pending;
    expect(next.fencingToken).toBeGreaterThan(term.fencingToken);
    expect(order).toEqual(['signal', 'deposed', 'b elected']);
    await b.resign();
  });

  it('is deposed with key-lost when an operator deletes the key', async () => {
    const e = election();
    const term = await e.campaign();
    const deposed = nextEvent<[DeposedReason, Deposition]>(e, 'deposed');
    await consulFetch(fx.target, 'DELETE', kvPath(fx.key()));
    const [reason, d] = await deposed;
    expect(d.reason).toBe(reason);
    expect(d.reason).toBe('key-lost');
    expect(d.error?.reason).toMatch(/deleted/);
    expect(term.signal.aborted).toBe(true);
    expect(e.isLeader).toBe(false);
  });

  it('steps down at its local deadline when partitioned, before another campaigner can be elected', async () => {
    const proxy = await fx.proxy();
    const cut = fx.coord({ via: proxy.url, retry: { retries: 0 } });
    const a = election(fx.key(), { lockDelay: '200ms' }, cut);
    const b = election(fx.key(), { lockDelay: '200ms' });
    const order: string[] = [];
    const term = await a.campaign();
    a.on('deposed', (reason) => order.push(`a deposed ${reason}`));
    b.on('elected', () => order.push('b elected'));
    const waiting = nextEvent(b, 'waiting');
    const pending = b.campaign({ timeout: fx.isDev ? '10s' : '40s' });
    await waiting;
    proxy.partition();
    const next = await pending;
    expect(order).toEqual(['a deposed session-lost', 'b elected']);
    expect(term.signal.aborted).toBe(true);
    expect(next.fencingToken).toBeGreaterThan(term.fencingToken);
    proxy.heal();
    await b.resign();
  });

  it('never reports leader once the session is past its deadline, even before any timer runs', async () => {
    const e = election();
    const term = await e.campaign();
    const deposed: Deposition[] = [];
    e.on('deposed', (_r, d) => deposed.push(d));
    // Block the event loop past the local deadline: no timer can fire meanwhile.
    const until = term.validUntil;
    while (performance.now() < until + 5) {
      // busy wait
    }
    expect(e.isLeader).toBe(false);
    expect(term.signal.aborted).toBe(true);
    expect(deposed.map((d) => d.reason)).toEqual(['session-lost']);
  });
});

describe('observing the leader', () => {
  it('yields every leader change in order, including no leader, without a session', async () => {
    const coord = fx.coord();
    const watcher = election<{ id: string } | null>(fx.key(), {}, coord);
    const sessionsBefore = await fx.sessions();
    const controller = new AbortController();
    const it = watcher.observe({ signal: controller.signal });
    expect(await pull(it)).toBeNull();
    expect(await fx.sessions()).toEqual(sessionsBefore);

    const a = election(fx.key(), { value: { id: 'a' }, lockDelay: '100ms' }, coord);
    const b = election(fx.key(), { value: { id: 'b' }, lockDelay: '100ms' }, coord);
    const ta = await a.campaign();
    expect(await pull(it)).toEqual({ value: { id: 'a' }, sessionId: ta.sessionId, fencingToken: ta.fencingToken });
    await a.proclaim({ id: 'a2' });
    expect(await pull(it)).toEqual({ value: { id: 'a2' }, sessionId: ta.sessionId, fencingToken: ta.fencingToken });
    await a.resign();
    expect(await pull(it)).toBeNull();
    const tb = await b.campaign();
    const seenB = (await pull(it)) as LeaderInfo;
    expect(seenB).toMatchObject({ value: { id: 'b' }, sessionId: tb.sessionId });
    expect(seenB.fencingToken).toBeGreaterThan(ta.fencingToken);
    const gone = nextEvent(b, 'deposed');
    await consulFetch(fx.target, 'DELETE', kvPath(fx.key()));
    expect(await pull(it)).toBeNull();
    await gone;

    const reason = new Error('done watching');
    const after = it.next();
    controller.abort(reason);
    await expect(after).rejects.toBe(reason);
  });

  it('reports null between two terms even when no read caught the key absent', async () => {
    const coord = fx.coord();
    const watcher = election(fx.key(), {}, coord);
    const a = election(fx.key(), { value: 'a' }, coord);
    const b = election(fx.key(), { value: 'b' }, coord);
    const ta = await a.campaign();
    const it = watcher.observe();
    expect((await pull(it))?.sessionId).toBe(ta.sessionId);
    // While the observer does not pull, one term ends and the next begins.
    await a.resign();
    const tb = await b.campaign();
    expect(await pull(it)).toBeNull();
    expect(await pull(it)).toMatchObject({ value: 'b', fencingToken: tb.fencingToken });
    await b.resign();
    expect(await pull(it)).toBeNull();
    await watcher.close();
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('emits leader events while a listener is attached, starting with the current leader', async () => {
    const coord = fx.coord();
    const a = election(fx.key(), { value: 'a' }, coord);
    const watcher = election(fx.key(), {}, coord);
    const term = await a.campaign();
    const first = nextEvent<[LeaderInfo | null]>(watcher, 'leader');
    const seen: Array<LeaderInfo | null> = [];
    const listener = (l: LeaderInfo | null): void => void seen.push(l);
    watcher.on('leader', listener);
    expect((await first)[0]).toEqual({ value: 'a', sessionId: term.sessionId, fencingToken: term.fencingToken });
    const none = nextEvent<[LeaderInfo | null]>(watcher, 'leader');
    await a.resign();
    expect((await none)[0]).toBeNull();
    watcher.off('leader', listener);
    expect(seen).toHaveLength(2);
  });

  it('leader() returns null without a key or for a key nobody holds, and the term otherwise', async () => {
    const coord = fx.coord();
    const e = election(fx.key(), { value: 'me' }, coord);
    expect(await e.leader()).toBeNull();
    await coord.api.kv.put(fx.key(), 'left over');
    expect(await e.leader()).toBeNull();
    const term = await e.campaign();
    expect(await e.leader()).toEqual({ value: 'me', sessionId: term.sessionId, fencingToken: term.fencingToken });
    await e.resign();
  });

  it('reports a value that does not decode as undefined, with an error event', async () => {
    const coord = fx.coord();
    const e = election(fx.key(), { value: 'not json', decode: 'json' }, coord);
    const errors: unknown[] = [];
    e.on('error', (err) => errors.push(err));
    const term = await e.campaign();
    expect(await e.leader()).toEqual({ value: undefined, sessionId: term.sessionId, fencingToken: term.fencingToken });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ERR_DECODE' });
    await e.resign();
  });
});

describe('leftovers on the key', () => {
  it('replaces an unlocked leftover key, and the term’s token is newer than the leftover', async () => {
    const coord = fx.coord();
    await coord.api.kv.put(fx.key(), 'stale');
    const leftover = (await coord.api.kv.get(fx.key())).pair;
    const e = election(fx.key(), { value: 'fresh' }, coord);
    const term = await e.campaign();
    expect(term.fencingToken).toBeGreaterThan(leftover?.modifyIndex ?? Infinity);
    const { pair } = await coord.api.kv.get(fx.key());
    expect(pair?.createIndex).toBe(term.fencingToken);
    expect(pair?.value?.toString()).toBe('fresh');
    await e.resign();
    expect((await coord.api.kv.get(fx.key())).pair).toBeNull();
  });

  it('campaigns with a caller’s session that uses Behavior release and leaves the session alive', async () => {
    const coord = fx.coord();
    const session = await Session.create(coord, { ttl: fx.ttl, lockDelay: 0 });
    const e = election(fx.key(), { session, ttl: undefined }, coord);
    const term = await e.campaign();
    expect(term.sessionId).toBe(session.id);
    await e.resign();
    expect(session.isAlive()).toBe(true);
    expect((await coord.api.kv.get(fx.key())).pair).toBeNull();
    await session.destroy();
  });
});

describe('close()', () => {
  it('resigns a term (deposed: closed), destroys its session and is idempotent', async () => {
    const coord = fx.coord();
    const e = election(fx.key(), { lockDelay: '60s' }, coord);
    const term = await e.campaign();
    const deposed = nextEvent<[DeposedReason, Deposition]>(e, 'deposed');
    await Promise.all([e.close(), e.close()]);
    const [reason, d] = await deposed;
    expect([reason, d.reason]).toEqual(['closed', 'closed']);
    expect(e.state).toBe('closed');
    expect(term.signal.aborted).toBe(true);
    expect((await coord.api.kv.get(fx.key())).pair).toBeNull();
    expect(await fx.sessions()).not.toContain(term.sessionId);
    if (fx.isDev) expect(fx.dev.state.lockDelayMs(fx.key())).toBe(0);
    await expect(e.campaign()).rejects.toBeInstanceOf(ClosedError);
    expect(() => e.observe()).toThrow(ClosedError);
  });

  it('rejects a running campaign with ClosedError and leaves nothing', async () => {
    const coord = fx.coord();
    const holder = election(fx.key(), {}, coord);
    const held = await holder.campaign();
    const e = election(fx.key(), {}, coord);
    const waiting = nextEvent(e, 'waiting');
    const pending = e.campaign();
    await waiting;
    await e.close();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    expect(await fx.sessions()).toEqual(fx.isDev ? [held.sessionId] : expect.arrayContaining([held.sessionId]));
    await holder.resign();
  });

  it('coord.close() ends every term and campaign and leaves no sessions', async () => {
    const coord = fx.coord();
    const leader = election(fx.key(), {}, coord);
    const follower = election(fx.key(), {}, coord);
    const watcher = election(fx.key(), {}, coord);
    watcher.on('leader', () => {});
    const term = await leader.campaign();
    const waiting = nextEvent(follower, 'waiting');
    const pending = follower.campaign().catch((err: unknown) => err);
    await waiting;
    const reasons: string[] = [];
    leader.on('deposed', (reason, d) => {
      expect(d.reason).toBe(reason);
      reasons.push(reason);
    });
    await coord.close();
    expect(await pending).toBeInstanceOf(ClosedError);
    expect(reasons).toEqual(['closed']);
    expect([leader.state, follower.state, watcher.state]).toEqual(['closed', 'closed', 'closed']);
    expect(term.signal.aborted).toBe(true);
    if (fx.isDev) {
      expect(await fx.sessions()).toEqual([]);
      expect(fx.dev.state.getKey(fx.key())).toBeUndefined();
    }
  });
});

describe('options', () => {
  it('throws ConfigError synchronously for bad keys and options', () => {
    const coord = fx.coord();
    for (const key of ['', '/abs', '../x', 42]) expect(() => new LeaderElection(coord, key as string)).toThrow(ConfigError);
    expect(() => new LeaderElection(coord, 'k', { ttl: 'soon' })).toThrow(ConfigError);
    expect(() => new LeaderElection(coord, 'k', { retryTime: -1 })).toThrow(ConfigError);
    expect(() => new LeaderElection(coord, 'k', { decode: 'yaml' as 'json' })).toThrow(ConfigError);
    expect(() => new LeaderElection(coord, 'k', { value: { big: 1n } as unknown as object })).toThrow(ConfigError);
    const e = new LeaderElection(coord, 'k');
    expect(() => e.campaign({ timeout: 'later' })).toThrow(ConfigError);
    expect(() => e.campaign({ signal: 'no' as unknown as AbortSignal })).toThrow(ConfigError);
    expect(() => e.observe({ signal: {} as AbortSignal })).toThrow(ConfigError);
    expect(() => e.resignOnSignals(['SIGNOPE' as NodeJS.Signals])).toThrow(ConfigError);
    expect(() => e.resignOnSignals(undefined, { exitCode: 300 })).toThrow(ConfigError);
  });

  it('exposes the term through the term getter only while leader or resigning', async () => {
    const e = election();
    expect(e.term).toBeUndefined();
    const term: LeaderTerm = await e.campaign();
    expect(e.term).toBe(term);
    expect(term.validUntil).toBeGreaterThan(performance.now());
    await e.resign();
    expect(e.term).toBeUndefined();
  });
});
