import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { formatDurationMs, parseGoDurationNs, toMs } from '../../src/internal/duration.js';

describe('parseGoDurationNs', () => {
  it.each([
    ['15s', 15e9],
    ['250ms', 250e6],
    ['1m30s', 90e9],
    ['1.5h', 5400e9],
    ['0', 0],
    ['0s', 0],
    ['500ns', 500],
    ['10us', 10_000],
    ['10µs', 10_000],
    ['-2s', -2e9],
    ['.5s', 5e8],
  ])('parses %s like Go time.ParseDuration', (text, ns) => {
    expect(parseGoDurationNs(text)).toBe(ns);
  });

  it.each(['', '10', 'abc', 's', '1x', '1s2', '--1s', '.s'])('rejects %j', (text) => {
    expect(parseGoDurationNs(text)).toBeUndefined();
  });
});

describe('toMs', () => {
  it('accepts duration strings and millisecond numbers', () => {
    expect(toMs('ttl', '15s')).toBe(15_000);
    expect(toMs('ttl', 250)).toBe(250);
  });

  it('throws ConfigError naming the option for anything else', () => {
    for (const bad of ['abc', NaN, Infinity, null, {}, [], '10', true]) {
      const err = (() => {
        try {
          toMs('ttl', bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).option).toBe('ttl');
      expect((err as ConfigError).code).toBe('ERR_CONFIG');
    }
  });

  it('enforces the range', () => {
    expect(() => toMs('ttl', -1)).toThrow(ConfigError);
    expect(() => toMs('ttl', '2h', { max: 3600_000 })).toThrow(/between/);
  });
});

describe('formatDurationMs', () => {
  it('writes strings Consul parses back to the same value', () => {
    for (const ms of [0, 1, 250, 1000, 15_000, 90_000, 1.5]) {
      expect(parseGoDurationNs(formatDurationMs(ms))! / 1e6).toBe(ms);
    }
  });
});

describe('the one duration rule', () => {
  it('refuses text without a unit, and says how to write seconds or milliseconds', () => {
    expect(() => toMs('timeout', '5')).toThrow(
      `option "timeout" must be a duration with a unit, such as '500ms', '15s' or '1m30s', got "5" (a number needs a unit: '5s' is 5 seconds, '5ms' 5 milliseconds)`,
    );
  });
  it('takes a JavaScript number as milliseconds (it cannot carry a unit)', () => {
    expect(toMs('timeout', 5)).toBe(5);
  });
  it('refuses a negative duration by the range, whatever its form', () => {
    expect(() => toMs('timeout', '-1s')).toThrow(`option "timeout" must be at least 0ms, got "-1s"`);
    expect(() => toMs('timeout', -1000)).toThrow(`option "timeout" must be at least 0ms, got -1000`);
  });
  it('names a command-line flag as typed', () => {
    expect(() => toMs('--ttl', 'soon')).toThrow(/^--ttl must be a duration with a unit/);
    expect(() => toMs('--ttl', 'soon')).toThrow(expect.objectContaining({ option: '--ttl', code: 'ERR_CONFIG' }));
  });
});
