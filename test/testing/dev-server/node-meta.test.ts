/** startDevServer({ nodeMeta }): validated as Consul validates node_meta (structs.ValidateNodeMetadata). */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { startDevServer } from '../../../src/testing/index.js';

describe('the nodeMeta option', () => {
  it.each([
    [{ 'consul-x': '1' }, "Key prefix 'consul-' is reserved for internal use"],
    [{ 'bad key': '1' }, 'Key contains invalid characters'],
    [{ '': '1' }, 'Key cannot be blank'],
    [{ k: 'v'.repeat(513) }, 'Value is too long (limit: 512 characters)'],
    [Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])), 'Node metadata cannot contain more than 64 key/value pairs'],
  ])('refuses %j with a ConfigError naming the option', async (nodeMeta, message) => {
    const err = await startDevServer({ nodeMeta }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).option).toBe('nodeMeta');
    expect((err as Error).message).toContain(message);
  });
});
