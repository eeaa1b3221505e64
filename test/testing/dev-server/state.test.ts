/**
 * State-level rules, without HTTP: LockIndex, lock-delay, tombstone indexes, identical-PUT
 * no-ops, transactions. Mirrors agent/consul/state/{kvs,session,txn}.go.
 */
import { describe, expect, it } from 'vitest';
import { ensureCheck, ensureNode } from '../../../src/testing/dev-server/state/catalog.js';
import {
  kvsDelete,
  kvsDeleteCAS,
  kvsDeleteTree,
  kvsGet,
  kvsList,
  kvsLock,
  kvsSet,
  kvsSetCAS,
  kvsUnlock,
  reapTombstones,
} from '../../../src/testing/dev-server/state/kv.js';
import { sessionCreate, sessionDestroy } from '../../../src/testing/dev-server/state/sessions.js';
import { Store } from '../../../src/testing/dev-server/state/store.js';
import { txnDispatch } from '../../../src/testing/dev-server/state/txn.js';
import type { Change, SessionRow } from '../../../src/testing/dev-server/state/types.js';

const TTL = 60_000;
const v = (s: string): Buffer => Buffer.from(s);

function storeWithNode(): Store {
  const store = new Store();
  store.write((tx) => {
    ensureNode(tx, { ID: 'n', Node: 'dev', Address: '127.0.0.1', Datacenter: 'dc1', TaggedAddresses: {}, Meta: {} });
    ensureCheck(
      tx,
      {
        Node: 'dev', CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', Notes: '', Output: '',
        ServiceID: '', ServiceName: '', ServiceTags: [], Type: '', Interval: '', Timeout: '', ExposedPort: 0, Definition: {},
      },
      TTL,
    );
  });
  return store;
}

function newSession(store: Store, id: string, extra: Partial<SessionRow> = {}): void {
  store.write((tx) =>
    sessionCreate(tx, {
      ID: id, Name: '', Node: 'dev', LockDelay: 15e9, Behavior: 'release', TTL: '',
      NodeChecks: ['serfHealth'], ServiceChecks: null, Checks: null, ...extra,
    }),
  );
}

const input = (Key: string, value = '', Session = '') => ({ Key, Flags: 0n, Value: v(value), Session });

describe('LockIndex', () => {
  it('is 1 on acquire-create, unchanged on re-acquire and release, +1 on a new holder', () => {
    const store = storeWithNode();
    newSession(store, 's1');
    newSession(store, 's2');
    store.write((tx) => kvsLock(tx, input('k', 'x', 's1')));
    expect(kvsGet(store.read(), 'k').entry?.LockIndex).toBe(1);
    store.write((tx) => kvsLock(tx, input('k', 'y', 's1')));
    expect(kvsGet(store.read(), 'k').entry).toMatchObject({ LockIndex: 1, Session: 's1', Value: v('y') });
    expect(store.write((tx) => kvsLock(tx, input('k', 'z', 's2'))).result).toBeUndefined();
    store.write((tx) => kvsUnlock(tx, input('k', '', 's1')));
    expect(kvsGet(store.read(), 'k').entry).toMatchObject({ LockIndex: 1, Session: '', Value: null });
    store.write((tx) => kvsLock(tx, input('k', 'w', 's2')));
    expect(kvsGet(store.read(), 'k').entry).toMatchObject({ LockIndex: 2, Session: 's2' });
  });

  it('a plain set keeps the lock holder but stores the request LockIndex (0)', () => {
    const store = storeWithNode();
    newSession(store, 's1');
    store.write((tx) => kvsLock(tx, input('k', 'x', 's1')));
    store.write((tx) => kvsSet(tx, input('k', 'plain'), false));
    expect(kvsGet(store.read(), 'k').entry).toMatchObject({ Session: 's1', LockIndex: 0, Value: v('plain') });
  });

  it('lock errors: missing session, then unknown session', () => {
    const store = storeWithNode();
    expect(() => store.write((tx) => kvsLock(tx, input('k', 'x', '')))).toThrow('missing session');
    expect(() => store.write((tx) => kvsLock(tx, input('k', 'x', 'nope')))).toThrow('invalid session "nope"');
    expect(() => store.write((tx) => kvsUnlock(tx, input('k', 'x', '')))).toThrow('missing session');
  });
});

describe('identical writes', () => {
  it('do not bump ModifyIndex nor wake watchers, but still consume an index', () => {
    const store = storeWithNode();
    store.write((tx) => kvsSet(tx, input('k', 'same'), false));
    const first = kvsGet(store.read(), 'k').entry!;
    const seen: Change[] = [];
    store.subscribe((c) => seen.push(...c));
    const { index } = store.write((tx) => kvsSet(tx, input('k', 'same'), false));
    expect(index).toBeGreaterThan(first.ModifyIndex);
    expect(kvsGet(store.read(), 'k').entry!.ModifyIndex).toBe(first.ModifyIndex);
    expect(seen).toEqual([]);
  });
});

describe('CAS', () => {
  it('index 0 creates only; N must match ModifyIndex; delete-cas on a missing key succeeds', () => {
    const store = storeWithNode();
    expect(store.write((tx) => kvsSetCAS(tx, { ...input('k', 'a'), ModifyIndex: 0 })).result).toBeDefined();
    expect(store.write((tx) => kvsSetCAS(tx, { ...input('k', 'b'), ModifyIndex: 0 })).result).toBeUndefined();
    const mi = kvsGet(store.read(), 'k').entry!.ModifyIndex;
    expect(store.write((tx) => kvsSetCAS(tx, { ...input('k', 'c'), ModifyIndex: mi + 100 })).result).toBeUndefined();
    expect(store.write((tx) => kvsSetCAS(tx, { ...input('missing', 'c'), ModifyIndex: 5 })).result).toBeUndefined();
    expect(kvsGet(store.read(), 'missing').entry).toBeUndefined();
    expect(store.write((tx) => kvsDeleteCAS(tx, 'k', 0, TTL)).result).toBe(false);
    expect(store.write((tx) => kvsDeleteCAS(tx, 'k', mi, TTL)).result).toBe(true);
    expect(store.write((tx) => kvsDeleteCAS(tx, 'k', 12345, TTL)).result).toBe(true);
  });
});

describe('tombstones and list indexes', () => {
  it('a prefix index is the max of entries and tombstones under it, never of other prefixes', () => {
    const store = storeWithNode();
    store.write((tx) => kvsSet(tx, input('p/a', '1'), false));
    const b = store.write((tx) => kvsSet(tx, input('p/b', '1'), false)).index;
    const q = store.write((tx) => kvsSet(tx, input('q/x', '1'), false)).index;
    expect(kvsList(store.read(), 'p/').index).toBe(b);
    expect(q).toBeGreaterThan(b);
    const del = store.write((tx) => kvsDelete(tx, 'p/b', TTL)).index;
    expect(kvsList(store.read(), 'p/').index).toBe(del);
    // The empty prefix uses the table indexes.
    expect(kvsList(store.read(), '').index).toBe(del);
    // A missing key reports max(kvs, tombstones).
    expect(kvsGet(store.read(), 'nope').index).toBe(del);
  });

  it('delete-tree leaves one tombstone for the prefix, none for the root', () => {
    const store = storeWithNode();
    store.write((tx) => kvsSet(tx, input('p/a', '1'), false));
    store.write((tx) => kvsSet(tx, input('p/b/c', '1'), false));
    const del = store.write((tx) => kvsDeleteTree(tx, 'p/', TTL)).index;
    expect(store.read().all('tombstones').map((t) => [t.Key, t.Index])).toEqual([['p/', del]]);
    store.write((tx) => kvsSet(tx, input('z', '1'), false));
    store.write((tx) => kvsDeleteTree(tx, '', TTL));
    expect(store.read().all('tombstones').map((t) => t.Key)).toEqual(['p/']);
    expect(store.read().all('kvs')).toEqual([]);
  });

  it('reaping removes expired tombstones, so a prefix index can go down', () => {
    const store = storeWithNode();
    const a = store.write((tx) => kvsSet(tx, input('p/a', '1'), false)).index;
    store.write((tx) => kvsSet(tx, input('p/b', '1'), false));
    store.write((tx) => kvsDelete(tx, 'p/b', 0));
    expect(kvsList(store.read(), 'p/').index).toBeGreaterThan(a);
    store.write((tx) => reapTombstones(tx, Date.now() + 1));
    expect(kvsList(store.read(), 'p/').index).toBe(a);
  });

  it('lists in byte order with a plain string prefix', () => {
    const store = storeWithNode();
    for (const k of ['pz', 'p/b', 'p/a', 'o']) store.write((tx) => kvsSet(tx, input(k, '1'), false));
    expect(kvsList(store.read(), 'p').entries.map((e) => e.Key)).toEqual(['p/a', 'p/b', 'pz']);
  });
});

describe('session invalidation', () => {
  it('release keeps Value/Flags/LockIndex, bumps ModifyIndex and sets a lock-delay capped at 60 s', () => {
    const store = storeWithNode();
    newSession(store, 's1', { LockDelay: 120e9 });
    store.write((tx) => kvsLock(tx, { ...input('k', 'x', 's1'), Flags: 7n }));
    const held = kvsGet(store.read(), 'k').entry!;
    const { index } = store.write((tx) => sessionDestroy(tx, 's1', TTL));
    const after = kvsGet(store.read(), 'k').entry!;
    expect(after).toMatchObject({ Session: '', LockIndex: 1, Flags: 7n, Value: v('x'), CreateIndex: held.CreateIndex, ModifyIndex: index });
    const remaining = store.lockDelayRemaining('k');
    expect(remaining).toBeGreaterThan(59_000);
    expect(remaining).toBeLessThanOrEqual(60_000);
    expect(store.read().get('sessions', 's1')).toBeUndefined();
  });

  it('delete behaviour deletes held keys with tombstones; no lock-delay when LockDelay is 0', () => {
    const store = storeWithNode();
    newSession(store, 's1', { Behavior: 'delete', LockDelay: 0 });
    store.write((tx) => kvsLock(tx, input('k', 'x', 's1')));
    store.write((tx) => kvsSet(tx, input('other', 'y'), false));
    store.write((tx) => sessionDestroy(tx, 's1', TTL));
    expect(kvsGet(store.read(), 'k').entry).toBeUndefined();
    expect(kvsGet(store.read(), 'other').entry).toBeDefined();
    expect(store.lockDelayRemaining('k')).toBe(0);
  });

  it('a linked check written critical invalidates the session; warning does not', () => {
    const store = storeWithNode();
    newSession(store, 's1');
    const serf = store.read().get('checks', 'dev\u0000serfHealth')!;
    store.write((tx) => ensureCheck(tx, { ...serf, Status: 'warning' }, TTL));
    expect(store.read().get('sessions', 's1')).toBeDefined();
    store.write((tx) => ensureCheck(tx, { ...serf, Status: 'critical' }, TTL));
    expect(store.read().get('sessions', 's1')).toBeUndefined();
  });

  it('creation validates the node, then each check (missing, then critical)', () => {
    const store = storeWithNode();
    expect(() => newSession(store, 'x', { Node: 'ghost' })).toThrow('Missing node registration');
    expect(() => newSession(store, 'x', { NodeChecks: ['nope'] })).toThrow("Missing check 'nope' registration");
  });
});

describe('transactions', () => {
  it('run every op, collect every error, and roll back on any error', () => {
    const store = storeWithNode();
    store.write((tx) => kvsSet(tx, input('a', 'old'), false));
    const before = store.index;
    const op = (Verb: string, Key: string, extra: Partial<{ Value: Buffer; Index: number; Session: string }> = {}) => ({
      Verb, Key, Value: extra.Value ?? null, Flags: 0n, Index: extra.Index ?? 0, Session: extra.Session ?? '',
    });
    const { result, index } = store.write(
      (tx) => txnDispatch(tx, [op('set', 'b', { Value: v('1') }), op('cas', 'a', { Index: 1 }), op('check-not-exists', 'a')], TTL),
      (o) => o.errors === null,
    );
    expect(index).toBe(before + 1); // the Raft entry was consumed
    expect(result.results).toBeNull();
    expect(result.errors).toEqual([
      { OpIndex: 1, What: 'failed to set key "a", index is stale' },
      { OpIndex: 2, What: 'key "a" exists' },
    ]);
    expect(kvsGet(store.read(), 'b').entry).toBeUndefined();
  });

  it('later ops see earlier ones; results blank values except for gets; writes share one index', () => {
    const store = storeWithNode();
    const { result, index } = store.write((tx) =>
      txnDispatch(
        tx,
        [
          { Verb: 'set', Key: 'a', Value: v('v'), Flags: 3n, Index: 0, Session: '' },
          { Verb: 'set', Key: 'b', Value: v('w'), Flags: 0n, Index: 0, Session: '' },
          { Verb: 'get', Key: 'a', Value: null, Flags: 0n, Index: 0, Session: '' },
          { Verb: 'get-or-empty', Key: 'zz', Value: null, Flags: 0n, Index: 0, Session: '' },
          { Verb: 'get-tree', Key: '', Value: null, Flags: 0n, Index: 0, Session: '' },
        ],
        TTL,
      ),
    );
    expect(result.errors).toBeNull();
    const r = result.results!;
    expect(r[0]!.KV).toMatchObject({ Key: 'a', Value: null, Flags: 3n, ModifyIndex: index });
    expect(r[1]!.KV.ModifyIndex).toBe(index);
    expect(r[2]!.KV.Value).toEqual(v('v'));
    expect(r[3]!.KV).toMatchObject({ Key: 'zz', Value: null, CreateIndex: 0 });
    expect(r.slice(4).map((x) => x.KV.Key)).toEqual(['a', 'b']);
  });

  it('reports unknown verbs', () => {
    const store = storeWithNode();
    const { result } = store.write((tx) => txnDispatch(tx, [{ Verb: 'nope', Key: 'a', Value: null, Flags: 0n, Index: 0, Session: '' }], TTL));
    expect(result.errors).toEqual([{ OpIndex: 0, What: 'unknown KV verb "nope"' }]);
  });
});
