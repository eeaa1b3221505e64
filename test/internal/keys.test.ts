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

describe('the one key rule, with its fix in the message', () => {
  it('refuses a leading / and says which key to write instead', () => {
    expect(() => validateKey('key', '/jobs/x')).toThrow(`key must not start with '/', got "/jobs/x" (Consul keys have no leading '/': write "jobs/x")`);
  });
  it('for a listing, accepts the empty prefix and points "/" at it', () => {
    expect(validateKey('prefix', '', { allowEmpty: true })).toBe('');
    expect(() => validateKey('prefix', '/', { allowEmpty: true })).toThrow(`the empty prefix "" names every key`);
    expect(() => validateKey('prefix', '')).toThrow('prefix must be a non-empty string');
  });
});

describe('a lone "/" where a key is required', () => {
  it('is refused by the same rule, with no suggestion to make', () => {
    expect(() => validateKey('key', '/')).toThrow(`key must not start with '/', got "/" (Consul keys have no leading '/')`);
  });
});
