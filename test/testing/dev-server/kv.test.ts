import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { createSession, index, raw } from './helpers.js';

let server: DevServer;
let n = 0;
const key = (): string => `kv-test/${++n}`;

beforeAll(async () => {
  server = await startDevServer({ port: 0, sessionTtlMin: '1s' });
});
afterAll(async () => {
  await server.close();
});

describe('KV reads and writes', () => {
  it('a missing key is 404 with an empty body and leader meta headers', async () => {
    const res = await raw(server, 'GET', `/v1/kv/${key()}`);
    expect(res.status).toBe(404);
    expect(res.text).toBe('');
    expect(index(res)).toBeGreaterThanOrEqual(1);
    expect(res.headers['x-consul-knownleader']).toBe('true');
    expect(res.headers['x-consul-lastcontact']).toBe('0');
    expect(res.headers['x-consul-effective-consistency']).toBeUndefined();
  });

  it('round-trips uint64 flags digit for digit, including 0x2ddccbc058a50c18', async () => {
    for (const flags of ['18446744073709551615', '3304740253564472344']) {
      const k = key();
      expect((await raw(server, 'PUT', `/v1/kv/${k}?flags=${flags}`, { body: 'v' })).text).toBe('true');
      const res = await raw(server, 'GET', `/v1/kv/${k}`);
      expect(res.text).toContain(`"Flags":${flags}`);
      expect(server.state.getKey(k)?.flags).toBe(BigInt(flags));
    }
  });

  it('bad flags are the raw ParseUint error as a 500; a PUT without flags resets them', async () => {
    const k = key();
    for (const bad of ['abc', '-1', '18446744073709551616']) {
      const res = await raw(server, 'PUT', `/v1/kv/${k}?flags=${bad}`, { body: 'v' });
      expect(res.status).toBe(500);
      expect(res.text).toMatch(/^strconv\.ParseUint: parsing/);
    }
    await raw(server, 'PUT', `/v1/kv/${k}?flags=7`, { body: 'v' });
    await raw(server, 'PUT', `/v1/kv/${k}`, { body: 'v' });
    expect(server.state.getKey(k)?.flags).toBe(0n);
  });

  it('raw reads serve the bytes inert', async () => {
    const k = key();
    await raw(server, 'PUT', `/v1/kv/${k}`, { body: '<b>hi</b>' });
    const res = await raw(server, 'GET', `/v1/kv/${k}?raw`);
    expect(res.text).toBe('<b>hi</b>');
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBe('sandbox');
    expect(index(res)).toBe(server.state.getKey(k)?.modifyIndex);
  });

  it('an empty value is null; an identical PUT keeps ModifyIndex', async () => {
    const k = key();
    await raw(server, 'PUT', `/v1/kv/${k}`);
    const [entry] = (await raw(server, 'GET', `/v1/kv/${k}`)).json<Array<{ Value: unknown; ModifyIndex: number }>>();
    expect(entry?.Value).toBeNull();
    await raw(server, 'PUT', `/v1/kv/${k}`, { body: 'same' });
    const before = server.state.getKey(k)!.modifyIndex;
    await raw(server, 'PUT', `/v1/kv/${k}`, { body: 'same' });
    expect(server.state.getKey(k)!.modifyIndex).toBe(before);
    expect(server.state.index).toBeGreaterThan(before);
  });

  it('recurse is a plain prefix in byte order; keys with a separator cut after the first one', async () => {
    const p = key();
    for (const k of [`${p}/a`, `${p}/b/c`, `${p}/b/d`, `${p}z`]) await raw(server, 'PUT', `/v1/kv/${k}`, { body: '1' });
    const all = (await raw(server, 'GET', `/v1/kv/${p}?recurse`)).json<Array<{ Key: string }>>();
    expect(all.map((e) => e.Key)).toEqual([`${p}/a`, `${p}/b/c`, `${p}/b/d`, `${p}z`]);
    for (const param of ['separator', 'seperator']) {
      const keys = (await raw(server, 'GET', `/v1/kv/${p}/?keys&${param}=/`)).json<string[]>();
      expect(keys).toEqual([`${p}/a`, `${p}/b/`]);
    }
    expect((await raw(server, 'GET', `/v1/kv/${p}-none/?recurse`)).status).toBe(404);
    expect((await raw(server, 'GET', `/v1/kv/${p}-none/?keys`)).status).toBe(404);
  });

  it('a prefix index follows tombstones under the prefix only', async () => {
    const p = key();
    await raw(server, 'PUT', `/v1/kv/${p}/a`, { body: '1' });
    await raw(server, 'PUT', `/v1/kv/${p}/b`, { body: '1' });
    const b = server.state.getKey(`${p}/b`)!.modifyIndex;
    await raw(server, 'PUT', `/v1/kv/${p}-other`, { body: '1' });
    expect(index(await raw(server, 'GET', `/v1/kv/${p}/?recurse`))).toBe(b);
    await raw(server, 'DELETE', `/v1/kv/${p}/b`);
    const deletedAt = server.state.index;
    expect(index(await raw(server, 'GET', `/v1/kv/${p}/?recurse`))).toBe(deletedAt);
  });

  it('DELETE: plain is always true, cas compares ModifyIndex, recurse empties a prefix', async () => {
    const k = key();
    expect((await raw(server, 'DELETE', `/v1/kv/${k}`)).text).toBe('true');
    await raw(server, 'PUT', `/v1/kv/${k}`, { body: '1' });
    const mi = server.state.getKey(k)!.modifyIndex;
    expect((await raw(server, 'DELETE', `/v1/kv/${k}?cas=0`)).text).toBe('false');
    expect((await raw(server, 'DELETE', `/v1/kv/${k}?cas=${mi}`)).text).toBe('true');
    expect(server.state.getKey(k)).toBeUndefined();
    await raw(server, 'PUT', `/v1/kv/${k}/x`, { body: '1' });
    await raw(server, 'DELETE', `/v1/kv/${k}/?recurse`);
    expect(server.state.listKeys(`${k}/`)).toEqual([]);
  });
});

describe('KV request validation', () => {
  it('rejects conflicting flags with the sorted re-encoded query', async () => {
    const res = await raw(server, 'PUT', `/v1/kv/${key()}?release=b&cas=1`, { body: 'x' });
    expect(res.status).toBe(400);
    expect(res.text).toBe('Conflicting flags: cas=1&release=b\n');
    expect((await raw(server, 'DELETE', `/v1/kv/${key()}?recurse&cas=1`)).status).toBe(400);
  });

  it('rejects empty keys, leading slashes and traversal', async () => {
    expect((await raw(server, 'PUT', '/v1/kv/')).text).toBe('Missing key name');
    expect((await raw(server, 'GET', '/v1/kv/')).status).toBe(400);
    expect((await raw(server, 'DELETE', '/v1/kv/')).status).toBe(400);
    expect((await raw(server, 'GET', '/v1/kv/?keys')).status).toBe(200);
    expect((await raw(server, 'GET', '/v1/kv//x')).status).toBe(400);
    expect((await raw(server, 'GET', '/v1/kv/a/../b')).status).toBe(400);
    expect((await raw(server, 'GET', '/v1/kv/a/%2e%2e/b')).status).toBe(400);
  });

  it('enforces kv_max_value_size on Content-Length and on chunked bodies', async () => {
    const k = key();
    expect((await raw(server, 'PUT', `/v1/kv/${k}`, { body: Buffer.alloc(524_288, 97) })).text).toBe('true');
    const big = await raw(server, 'PUT', `/v1/kv/${k}`, { body: Buffer.alloc(524_289, 97) });
    expect(big.status).toBe(413);
    expect(big.text).toMatch(/^Request body\(524289 bytes\) too large, max size: 524288 bytes/);
    const chunked = await raw(server, 'PUT', `/v1/kv/${k}`, { body: Buffer.alloc(600_000, 97), chunked: true });
    expect(chunked.status).toBe(413);
    expect(server.state.getKey(k)?.value?.length).toBe(524_288);
  });
});

describe('locks', () => {
  it('acquire, contend, re-acquire, release with the documented results', async () => {
    const k = key();
    const s1 = await createSession(server);
    const s2 = await createSession(server);
    expect((await raw(server, 'PUT', `/v1/kv/${k}?acquire=${s1}`, { body: 'x' })).text).toBe('true');
    expect((await raw(server, 'PUT', `/v1/kv/${k}?acquire=${s2}`, { body: 'z' })).text).toBe('false');
    expect((await raw(server, 'PUT', `/v1/kv/${k}?acquire=${s1}`, { body: 'y' })).text).toBe('true');
    expect(server.state.getKey(k)).toMatchObject({ lockIndex: 1, session: s1 });
    expect((await raw(server, 'PUT', `/v1/kv/${k}?release=${s2}`)).text).toBe('false');
    expect((await raw(server, 'PUT', `/v1/kv/${k}?release=${s1}`)).text).toBe('true');
    expect(server.state.getKey(k)).toMatchObject({ lockIndex: 1, session: undefined, value: null });
    // A voluntary release sets no lock-delay.
    expect((await raw(server, 'PUT', `/v1/kv/${k}?acquire=${s2}`, { body: 'z' })).text).toBe('true');
    expect(server.state.getKey(k)?.lockIndex).toBe(2);
    for (const s of [s1, s2]) await raw(server, 'PUT', `/v1/session/destroy/${s}`);
  });

  it('session errors are 500s; lock-delay is checked before the session', async () => {
    const k = key();
    expect((await raw(server, 'PUT', `/v1/kv/${k}?acquire=00000000-0000-0000-0000-000000000000`)).text).toContain('invalid session');
    expect((await raw(server, 'PUT', `/v1/kv/${k}?acquire=`)).text).toBe('missing session');
    expect((await raw(server, 'PUT', `/v1/kv/${k}?release=`)).text).toBe('missing session');
    const s1 = await createSession(server, { LockDelay: '5s' });
    await raw(server, 'PUT', `/v1/kv/${k}?acquire=${s1}`, { body: 'x' });
    await raw(server, 'PUT', `/v1/session/destroy/${s1}`);
    const blocked = await raw(server, 'PUT', `/v1/kv/${k}?acquire=`);
    expect(blocked.status).toBe(200);
    expect(blocked.text).toBe('false');
    expect(server.state.lockDelayMs(k)).toBeGreaterThan(0);
  });
});
