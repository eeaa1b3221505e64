/** KV key validation shared by every recipe: one rule for keys and prefixes, stated on validateKey below. */
import { ConfigError } from '../errors.js';
import { describe } from './duration.js';

export const MAX_KEY_LENGTH = 512;

/**
 * Checks a KV key or prefix: a non-empty string, no leading '/', no '..' segment, at most 512
 * characters. Throws {@link ConfigError} naming `option` otherwise. Returns the key unchanged.
 *
 * The one rule for keys, shared by the library and the CLI (`consul-recipes lock /jobs/x` is
 * refused with the same message as `coord.lock('/jobs/x')`): a key is written as Consul stores
 * it, without a leading '/' (Go's api/kv.go refuses one too). Nothing is stripped silently, so a
 * key always names the same KV entry wherever it is written. `allowEmpty` is for listings, where
 * the empty prefix means every key.
 */
export function validateKey(option: string, key: unknown, { allowTrailingSlash = true, allowEmpty = false } = {}): string {
  if (typeof key !== 'string' || (key.length === 0 && !allowEmpty)) {
    throw new ConfigError(`${option} must be a non-empty string, got ${describe(key)}`, option);
  }
  if (key.startsWith('/')) {
    const fixed = key.replace(/^\/+/, '');
    const hint = fixed !== '' ? `: write ${describe(fixed)}` : allowEmpty ? ': the empty prefix "" names every key' : '';
    throw new ConfigError(`${option} must not start with '/', got ${describe(key)} (Consul keys have no leading '/'${hint})`, option);
  }
  if (key.split('/').some((segment) => segment === '..')) {
    throw new ConfigError(`${option} must not contain a '..' segment, got ${describe(key)}`, option);
  }
  if (key.length > MAX_KEY_LENGTH) {
    throw new ConfigError(`${option} must be at most ${MAX_KEY_LENGTH} characters, got ${key.length}`, option);
  }
  if (/[\u0000-\u001f\u007f]/.test(key)) {
    throw new ConfigError(`${option} must not contain control characters`, option);
  }
  if (!allowTrailingSlash && key.endsWith('/')) {
    throw new ConfigError(`${option} must not end with '/', got ${describe(key)}`, option);
  }
  return key;
}

/** Encodes a key for a URL path, keeping '/' separators readable. */
export function encodeKeyPath(key: string): string {
  if (typeof key !== 'string') throw new ConfigError(`key must be a string, got ${describe(key)}`, 'key');
  return key.split('/').map(encodeURIComponent).join('/');
}
