/** KV key validation shared by every recipe (rules from API.md "Keys"). */
import { ConfigError } from '../errors.js';
import { describe } from './duration.js';

export const MAX_KEY_LENGTH = 512;

/**
 * Checks a KV key or prefix: a non-empty string, no leading '/', no '..' segment, at most 512
 * characters. Throws {@link ConfigError} naming `option` otherwise. Returns the key unchanged.
 */
export function validateKey(option: string, key: unknown, { allowTrailingSlash = true } = {}): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ConfigError(`${option} must be a non-empty string, got ${describe(key)}`, option);
  }
  if (key.startsWith('/')) {
    throw new ConfigError(`${option} must not start with '/', got ${describe(key)}`, option);
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
