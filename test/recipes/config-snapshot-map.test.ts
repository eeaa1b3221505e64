/**
 * ConfigSnapshot is a read-only Map of key → decoded value: every ReadonlyMap method works, in
 * sorted key order; JSON.stringify and console.log show it; its index is a number like every
 * other index of the recipes' API.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigSnapshot, buildSnapshot, resolveDecoder } from '../../src/recipes/config/config-snapshot.js';
import type { KVPair } from '../../src/transport/kv.js';

function pair(key: string, value: string, modifyIndex: number): KVPair {
  return { key, value: Buffer.from(value), flags: 0n, session: undefined, lockIndex: 0, createIndex: modifyIndex, modifyIndex };
}

/** Written out of order on purpose: the snapshot iterates in sorted key order. */
function snapshot(): ConfigSnapshot<unknown> {
  const built = buildSnapshot({
    prefix: 'app/',
    pairs: [pair('app/b', '2', 11), pair('app/a', '1', 12), pair('app/c/d', '{"x":true}', 13)],
    index: 42n,
    decode: resolveDecoder<unknown>('json'),
  });
  if (!built.ok) throw new Error('fixture did not decode');
  return built.snapshot;
}

describe('ConfigSnapshot as a ReadonlyMap', () => {
  it('answers get, has and size', () => {
    const snap = snapshot();
    expect(snap.size).toBe(3);
    expect(snap.get('a')).toBe(1);
    expect(snap.get('missing')).toBeUndefined();
    expect(snap.has('c/d')).toBe(true);
    expect(snap.has('app/a')).toBe(false);
  });

  it('iterates keys, values and entries in sorted key order', () => {
    const snap = snapshot();
    expect([...snap.keys()]).toEqual(['a', 'b', 'c/d']);
    expect([...snap.values()]).toEqual([1, 2, { x: true }]);
    expect([...snap.entries()]).toEqual([['a', 1], ['b', 2], ['c/d', { x: true }]]);
    expect([...snap]).toEqual([...snap.entries()]);
    expect(new Map(snap)).toEqual(new Map<string, unknown>([['a', 1], ['b', 2], ['c/d', { x: true }]]));
  });

  it('calls forEach with (value, key, snapshot) and thisArg', () => {
    const snap = snapshot();
    const seen: unknown[] = [];
    const context = { tag: 'ctx' };
    snap.forEach(function (this: unknown, value, key, map) {
      seen.push([key, value, map === snap, this === context]);
    }, context);
    expect(seen).toEqual([['a', 1, true, true], ['b', 2, true, true], ['c/d', { x: true }, true, true]]);
  });

  it('is accepted where a ReadonlyMap is expected', () => {
    const total = (m: ReadonlyMap<string, unknown>): number => [...m.values()].filter((v) => typeof v === 'number').length;
    expect(total(snapshot())).toBe(2);
    expect(Object.prototype.toString.call(snapshot())).toBe('[object ConfigSnapshot]');
  });

  it('stays immutable: no method changes it and its fields cannot be assigned', () => {
    const snap = snapshot();
    expect(Object.isFrozen(snap)).toBe(true);
    expect(() => {
      (snap as unknown as { index: number }).index = 1;
    }).toThrow(TypeError);
    expect('set' in snap || 'delete' in snap || 'clear' in snap).toBe(false);
  });
});

describe('ConfigSnapshot in logs', () => {
  it('JSON.stringify gives the index and the entries, with no BigInt error', () => {
    expect(JSON.parse(JSON.stringify(snapshot()))).toEqual({ index: 42, entries: { a: 1, b: 2, 'c/d': { x: true } } });
    expect(JSON.stringify(ConfigSnapshot.empty())).toBe('{"index":0,"entries":{}}');
  });

  it('console.log shows the index and the entries', () => {
    const text = inspect(snapshot());
    expect(text).toContain('ConfigSnapshot [index 42]');
    expect(text).toMatch(/'a' => 1/);
    expect(text).toMatch(/'c\/d' => \{ x: true \}/);
    expect(inspect({ nested: { deeper: snapshot() } }, { depth: 0 })).toContain('[Object]');
  });
});

describe('indexes are numbers', () => {
  it('index and modifyIndex have the same type', () => {
    const snap = snapshot();
    expect(snap.index).toBeTypeOf('number');
    expect(snap.modifyIndex('a')).toBe(12);
    expect(typeof snap.index).toBe(typeof snap.modifyIndex('a'));
    expect(ConfigSnapshot.empty().index).toBe(0);
  });
});
