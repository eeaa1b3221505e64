import { describe, expect, it } from 'vitest';
import { ConfigError, DecodeError } from '../../src/errors.js';
import {
  ConfigSnapshot,
  buildSnapshot,
  diffSnapshots,
  isEmptyChange,
  relativeKey,
  resolveDecoder,
} from '../../src/recipes/config/config-snapshot.js';
import { resolveConfigWatcherOptions } from '../../src/recipes/config/config-watcher.js';
import type { KVPair } from '../../src/transport/kv.js';

let nextIndex = 10;
function pair(key: string, value: string | null, modifyIndex = nextIndex++): KVPair {
  return {
    key,
    value: value === null ? null : Buffer.from(value),
    flags: 0n,
    session: undefined,
    lockIndex: 0,
    createIndex: modifyIndex,
    modifyIndex,
  };
}

const json = resolveDecoder<unknown>('json');
const text = resolveDecoder<string>('string');

describe('resolveDecoder', () => {
  it("decodes 'string' as strict UTF-8 and an empty value as ''", () => {
    expect(text(Buffer.from('héllo'), 'k')).toBe('héllo');
    expect(text(Buffer.alloc(0), 'k')).toBe('');
    expect(() => text(Buffer.from([0xff, 0xfe]), 'k')).toThrow();
  });

  it("decodes 'json', maps an empty value to null and freezes the result", () => {
    const value = json(Buffer.from('{"a":{"b":[1]}}'), 'k') as { a: { b: number[] } };
    expect(value).toEqual({ a: { b: [1] } });
    expect(Object.isFrozen(value.a.b)).toBe(true);
    expect(json(Buffer.alloc(0), 'k')).toBeNull();
    expect(() => json(Buffer.from('{nope'), 'k')).toThrow();
  });

  it("decodes 'buffer' as a copy of the bytes", () => {
    const raw = Buffer.from('abc');
    const out = resolveDecoder<Buffer>('buffer')(raw, 'k');
    expect(out.equals(raw)).toBe(true);
    raw[0] = 0x7a;
    expect(out.toString()).toBe('abc');
  });

  it('passes a function through and rejects anything else with ConfigError naming "decode"', () => {
    const fn = (b: Buffer) => b.length;
    expect(resolveDecoder(fn)).toBe(fn);
    expect(() => resolveDecoder('yaml' as never)).toThrow(ConfigError);
    expect(() => resolveDecoder('toString' as never)).toThrow(/option "decode"/);
  });
});

describe('relativeKey', () => {
  it('strips the prefix and skips the prefix itself and folder keys', () => {
    expect(relativeKey('app/', 'app/db/url')).toBe('db/url');
    expect(relativeKey('app/', 'app/')).toBeUndefined();
    expect(relativeKey('app/', 'app/db/')).toBeUndefined();
    expect(relativeKey('app/', 'other/x')).toBeUndefined();
  });
});

describe('buildSnapshot', () => {
  it('builds one snapshot from one response, keyed relative to the prefix', () => {
    const result = buildSnapshot({
      prefix: 'app/',
      pairs: [pair('app/', null), pair('app/a', '1'), pair('app/b/c', '"x"'), pair('app/empty', null)],
      index: 42n,
      decode: json,
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.snapshot.index).toBe(42);
    expect([...result.snapshot.keys()]).toEqual(['a', 'b/c', 'empty']);
    expect(result.snapshot.toObject()).toEqual({ a: 1, 'b/c': 'x', empty: null });
  });

  describe('when one value fails to decode', () => {
    it('rejects the whole response with a DecodeError per bad key (full key named)', () => {
      const result = buildSnapshot({
        prefix: 'app/',
        pairs: [pair('app/good', '1'), pair('app/bad', '{'), pair('app/worse', 'nope')],
        index: 7n,
        decode: json,
      });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.errors.map((e) => e.key)).toEqual(['app/bad', 'app/worse']);
      expect(result.errors.every((e) => e instanceof DecodeError && e.code === 'ERR_DECODE')).toBe(true);
    });

    it('wraps a throwing decode function, keeping its error as cause', () => {
      const boom = new Error('not allowed');
      const result = buildSnapshot({
        prefix: 'p/',
        pairs: [pair('p/x', 'v')],
        index: 1n,
        decode: () => {
          throw boom;
        },
      });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.errors[0]?.cause).toBe(boom);
    });
  });

  it('reuses the previous decoded value when the key did not change', () => {
    let calls = 0;
    const decode = (b: Buffer) => {
      calls += 1;
      return { text: b.toString() };
    };
    const a = pair('p/a', 'one', 5);
    const first = buildSnapshot({ prefix: 'p/', pairs: [a], index: 5n, decode });
    if (!first.ok) throw new Error('unexpected');
    const second = buildSnapshot({ prefix: 'p/', pairs: [a, pair('p/b', 'two', 6)], index: 6n, decode, previous: first.snapshot });
    if (!second.ok) throw new Error('unexpected');
    expect(calls).toBe(2);
    expect(second.snapshot.get('a')).toBe(first.snapshot.get('a'));
  });
});

describe('diffSnapshots', () => {
  const build = (pairs: KVPair[]) => {
    const r = buildSnapshot({ prefix: 'p/', pairs, index: 1n, decode: text });
    if (!r.ok) throw new Error('unexpected');
    return r.snapshot;
  };

  it('reports added, modified and deleted keys, sorted', () => {
    const before = build([pair('p/keep', 'k'), pair('p/mod', '1'), pair('p/gone', 'g')]);
    const after = build([pair('p/keep', 'k'), pair('p/mod', '2'), pair('p/new', 'n'), pair('p/a-new', 'n')]);
    expect(diffSnapshots(before, after)).toEqual({ added: ['a-new', 'new'], modified: ['mod'], deleted: ['gone'] });
  });

  it('does not count a rewrite with identical bytes as a change', () => {
    const before = build([pair('p/x', 'same', 3)]);
    const after = build([pair('p/x', 'same', 9)]);
    expect(isEmptyChange(diffSnapshots(before, after))).toBe(true);
  });

  it('treats the empty snapshot as the starting point', () => {
    const first = build([pair('p/a', '1')]);
    expect(diffSnapshots(ConfigSnapshot.empty(), first)).toEqual({ added: ['a'], modified: [], deleted: [] });
    expect(isEmptyChange(diffSnapshots(ConfigSnapshot.empty(), ConfigSnapshot.empty()))).toBe(true);
  });
});

describe('ConfigSnapshot', () => {
  it('is immutable and safe for keys like __proto__', () => {
    const r = buildSnapshot({ prefix: 'p/', pairs: [pair('p/__proto__', 'x')], index: 1n, decode: text });
    if (!r.ok) throw new Error('unexpected');
    expect(Object.isFrozen(r.snapshot)).toBe(true);
    const obj = r.snapshot.toObject();
    expect(Object.getPrototypeOf(obj)).toBeNull();
    expect(obj['__proto__']).toBe('x');
    expect([...r.snapshot]).toEqual([['__proto__', 'x']]);
    expect(r.snapshot.raw('__proto__')?.toString()).toBe('x');
  });
});

describe('resolveConfigWatcherOptions', () => {
  it('validates the prefix and options synchronously, naming the option', () => {
    expect(() => resolveConfigWatcherOptions('/abs')).toThrow(ConfigError);
    expect(() => resolveConfigWatcherOptions('')).toThrow(/prefix/);
    expect(() => resolveConfigWatcherOptions('a/../b')).toThrow(/\.\./);
    expect(() => resolveConfigWatcherOptions('ok/', { wait: 'soon' })).toThrow(/"wait"/);
    expect(() => resolveConfigWatcherOptions('ok/', { wait: '11m' })).toThrow(/"wait"/);
    expect(() => resolveConfigWatcherOptions('ok/', { decode: 'xml' as never })).toThrow(/"decode"/);
  });

  it("defaults to 'string' decoding and a 5 minute wait", () => {
    const o = resolveConfigWatcherOptions('ok/');
    expect(o.waitMs).toBe(300_000);
    expect(o.decode(Buffer.from('v'), 'k')).toBe('v');
  });
});
