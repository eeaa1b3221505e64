import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { validateKey } from '../../src/internal/keys.js';

describe('validateKey', () => {
  it('accepts ordinary keys', () => {
    expect(validateKey('key', 'locks/orders')).toBe('locks/orders');
    expect(validateKey('key', 'a/b/')).toBe('a/b/');
  });
  it.each(['', '/abs', 'a/../b', '..', 'x'.repeat(513), 'a\u0000b', 42, undefined])('rejects %j with ConfigError', (key) => {
    expect(() => validateKey('key', key)).toThrow(ConfigError);
  });
  it('allows dots that are not a .. segment', () => {
    expect(validateKey('key', 'a/..b/c.d')).toBe('a/..b/c.d');
  });
});
