/**
 * Counter: get/add as bigint by check-and-set; exact under concurrent adders from separate
 * Coordinators; typed errors for bad input, foreign values and endless contention.
 */
import { describe, expect, it, vi } from 'vitest';
import { ClosedError, ConfigError, CounterContentionError, DecodeError } from '../../src/errors.js';
import { decodeCounter } from '../../src/recipes/counter/counter.js';
import { useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

describe('decodeCounter (pure)', () => {
  it('reads decimal text, a missing value as 0, and refuses anything else', () => {
    expect(decodeCounter('k', null)).toBe(0n);
    expect(decodeCounter('k', Buffer.from('-42'))).toBe(-42n);
    expect(decodeCounter('k', Buffer.from('123456789012345678901234567890'))).toBe(123456789012345678901234567890n);
    expect(() => decodeCounter('k', Buffer.from('1.5'))).toThrow(DecodeError);
  });
});

describe('counter', () => {
  it('starts at 0, adds and subtracts, and keeps precision above 2^53', async () => {
    const counter = fx.coord().counter(fx.key('c'));
    expect(await counter.get()).toBe(0n);
    expect(await counter.add(5)).toBe(5n);
    expect(await counter.add(-7n)).toBe(-2n);
    expect(await counter.add(2n ** 64n)).toBe(2n ** 64n - 2n);
    expect(await fx.coord().counter(fx.key('c')).get()).toBe(2n ** 64n - 2n);
  });

  it('an uncontended add from one instance is one request after the first', async () => {
    const coord = fx.coord();
    const counter = coord.counter(fx.key('one'));
    await counter.add(1);
    const txn = vi.spyOn(coord.api, 'txn');
    const get = vi.spyOn(coord.api.kv, 'get');
    await counter.add(1);
    await counter.add(1);
    expect(txn).toHaveBeenCalledTimes(2);
    expect(get).not.toHaveBeenCalled();
  });

  it('counts every add exactly once under concurrent adders in separate Coordinators', async () => {
    const key = fx.key('shared');
    const adders = Array.from({ length: 5 }, () => fx.coord().counter(key));
    let raced = 0;
    for (const a of adders) a.on('raced', () => (raced += 1));
    const perAdder = 20;
    const results = await Promise.all(adders.map(async (counter, i) => {
      const seen: bigint[] = [];
      for (let n = 0; n < perAdder; n++) seen.push(await counter.add(i + 1));
      return seen;
    }));
    const expected = BigInt(perAdder * (1 + 2 + 3 + 4 + 5));
    expect(await adders[0]!.get()).toBe(expected);
    // Every add saw a distinct value: no two adds were applied on top of the same read.
    const all = results.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(raced).toBeGreaterThan(0); // they really did contend
  });

  it('gives up with CounterContentionError after maxRetries lost races', async () => {
    const key = fx.key('hot');
    const coord = fx.coord();
    const counter = coord.counter(key, { maxRetries: 2 });
    await counter.add(1);
    // Another writer changes the key before every CAS of ours.
    const other = fx.coord().counter(key);
    const txn = coord.api.txn.bind(coord.api);
    vi.spyOn(coord.api, 'txn').mockImplementation(async (ops, signal) => {
      await other.add(1);
      return txn(ops, signal);
    });
    await expect(counter.add(1)).rejects.toMatchObject({ code: 'ERR_CONTENTION', attempts: 3 });
    await expect(counter.add(1)).rejects.toBeInstanceOf(CounterContentionError);
  });

  it('refuses bad input synchronously and a value that is not a number on read', async () => {
    const coord = fx.coord();
    expect(() => coord.counter(fx.key('x'), { maxRetires: 1 } as never)).toThrow(/did you mean 'maxRetries'/);
    const counter = coord.counter(fx.key('x'));
    expect(() => counter.add(1.5)).toThrow(ConfigError);
    expect(() => counter.add(1, { sginal: undefined } as never)).toThrow(ConfigError);
    await coord.api.kv.put(fx.key('x'), 'hello');
    await expect(counter.get()).rejects.toBeInstanceOf(DecodeError);
    await counter.close();
    await expect(counter.get()).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('a listener that throws', () => {
  it('changes nothing: the add resolves with its value', async () => {
    const warnings: unknown[] = [];
    const counter = fx.coord({ logger: { debug: () => {}, info: () => {}, error: () => {}, warn: (o) => warnings.push(o) } }).counter(fx.key('throwing'));
    counter.on('added', () => {
      throw new Error('bug in a log line');
    });
    expect(await counter.add(3)).toBe(3n);
    expect(warnings).toHaveLength(1);
  });
});
