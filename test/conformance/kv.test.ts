/**
 * Conformance: KV endpoint (consul-api/kv-sessions-blocking.md §0–§3, checklist items 1–27).
 * Written from the spec; titles start with the checklist item number.
 */
import { expect, it } from 'vitest';
import { b64, describeConformance, expectBool, expectError, type DirEntryJson } from '../support/conformance.js';
import { consulFetch, consulIndex, kvPath, startTarget, unknownUuid } from '../support/target.js';

describeConformance('KV endpoint', (ctx) => {
  it('#1 GET on a missing key answers 404 with an empty body and the meta headers', async () => {
    const res = await ctx.req('GET', kvPath(ctx.key('missing')));
    expect(res.status).toBe(404);
    expect(res.text).toBe('');
    expect(consulIndex(res)).toBeGreaterThanOrEqual(1n);
    expect(res.header('x-consul-knownleader')).toBe('true');
    expect(res.header('x-consul-lastcontact')).toBe('0');
  });

  it('#2 PUT stores a value and answers 200 true as JSON', async () => {
    const res = await ctx.putKey(ctx.key(), 'hello');
    expectBool(res, true);
    expect(res.header('content-type')).toMatch(/^application\/json/);
  });

  it('#3 GET returns one DirEntry with base64 value, zero flags and lock index, no Session field', async () => {
    const key = ctx.key();
    expectBool(await ctx.putKey(key, 'hello'), true);
    const res = await ctx.req('GET', kvPath(key));
    expect(res.status).toBe(200);
    const entries = res.json() as Array<Record<string, unknown>>;
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry).toMatchObject({ Key: key, Value: 'aGVsbG8=', Flags: 0, LockIndex: 0 });
    expect(entry).not.toHaveProperty('Session');
    expect(entry.CreateIndex).toBe(entry.ModifyIndex);
    expect(consulIndex(res)).toBe(BigInt(entry.ModifyIndex as number));
  });

  it('#3 GET lists DirEntry fields in Consul order', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'x');
    const res = await ctx.req('GET', kvPath(key));
    const names = [...res.text.matchAll(/"(\w+)":/g)].map((m) => m[1]);
    expect(names).toEqual(['LockIndex', 'Key', 'Flags', 'Value', 'CreateIndex', 'ModifyIndex']);
  });

  it('#4 PUT with an empty body stores an empty value (null)', async () => {
    const key = ctx.key();
    expectBool(await ctx.putKey(key), true);
    const { entry } = await ctx.getKey(key);
    expect([null, '']).toContain(entry!.Value);
  });

  it('#5 GET ?raw returns the bytes with text/plain, nosniff and a sandbox CSP', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'hello');
    const res = await ctx.req('GET', kvPath(key, 'raw'));
    expect(res.status).toBe(200);
    expect(res.text).toBe('hello');
    expect(res.header('content-type')).toMatch(/^text\/plain/);
    expect(res.header('x-content-type-options')).toBe('nosniff');
    expect(res.header('content-security-policy')).toBe('sandbox');
    expect(res.header('content-length')).toBe('5');
    expect(consulIndex(res)).toBeGreaterThanOrEqual(1n);
  });

  it('#5 GET ?raw on a missing key answers 404', async () => {
    const res = await ctx.req('GET', kvPath(ctx.key('missing'), 'raw'));
    expect(res.status).toBe(404);
  });

  it('#6 PUT ?flags=2^64-1 stores the exact uint64 digits', async () => {
    const key = ctx.key();
    expectBool(await ctx.putKey(key, 'v', 'flags=18446744073709551615'), true);
    const res = await ctx.req('GET', kvPath(key));
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/"Flags":\s*18446744073709551615[,\s}]/);
  });

  it('#7 PUT with a non-uint64 ?flags answers 500', async () => {
    const key = ctx.key();
    expect((await ctx.putKey(key, 'v', 'flags=abc')).status).toBe(500);
    expect((await ctx.putKey(key, 'v', 'flags=-1')).status).toBe(500);
    expect((await ctx.putKey(key, 'v', 'flags=18446744073709551616')).status).toBe(500);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#8 a PUT without ?flags resets Flags to 0', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v', 'flags=7');
    expect((await ctx.getKey(key)).entry!.Flags).toBe(7);
    await ctx.putKey(key, 'v');
    expect((await ctx.getKey(key)).entry!.Flags).toBe(0);
  });

  it('#9 a PUT with a new value bumps ModifyIndex and keeps CreateIndex', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'one');
    const first = (await ctx.getKey(key)).entry!;
    await ctx.putKey(key, 'two');
    const second = (await ctx.getKey(key)).entry!;
    expect(second.ModifyIndex).toBeGreaterThan(first.ModifyIndex);
    expect(second.CreateIndex).toBe(first.CreateIndex);
    expect(second.Value).toBe(b64('two'));
  });

  it('#10 a PUT repeating the same value and flags leaves ModifyIndex unchanged', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'same', 'flags=3');
    const first = (await ctx.getKey(key)).entry!;
    expectBool(await ctx.putKey(key, 'same', 'flags=3'), true);
    const second = (await ctx.getKey(key)).entry!;
    expect(second.ModifyIndex).toBe(first.ModifyIndex);
  });

  it('#11 PUT ?cas=0 creates a missing key once, then fails', async () => {
    const key = ctx.key();
    expectBool(await ctx.putKey(key, 'a', 'cas=0'), true);
    expectBool(await ctx.putKey(key, 'b', 'cas=0'), false);
    expect((await ctx.getKey(key)).entry!.Value).toBe(b64('a'));
  });

  it('#12 PUT ?cas succeeds with the current ModifyIndex and fails with an old one', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'a');
    const old = (await ctx.getKey(key)).entry!.ModifyIndex;
    expectBool(await ctx.putKey(key, 'b', `cas=${old}`), true);
    expectBool(await ctx.putKey(key, 'c', `cas=${old}`), false);
    expect((await ctx.getKey(key)).entry!.Value).toBe(b64('b'));
  });

  it('#12 PUT ?cas keeps the lock holder', async () => {
    const key = ctx.key();
    const s1 = await ctx.session({ LockDelay: '0s' });
    expectBool(await ctx.putKey(key, 'a', `acquire=${s1}`), true);
    const current = (await ctx.getKey(key)).entry!.ModifyIndex;
    expectBool(await ctx.putKey(key, 'b', `cas=${current}`), true);
    expect((await ctx.getKey(key)).entry!.Session).toBe(s1);
  });

  it('#13 PUT ?cas=5 on a missing key fails and does not create it', async () => {
    const key = ctx.key();
    expectBool(await ctx.putKey(key, 'a', 'cas=5'), false);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#14 two of cas/acquire/release together answer 400 Conflicting flags', async () => {
    const key = ctx.key();
    const sid = unknownUuid();
    expectError(await ctx.putKey(key, 'a', `cas=1&acquire=${sid}`), 400, 'Conflicting flags:');
    expectError(await ctx.putKey(key, 'a', `acquire=${sid}&release=${sid}`), 400, 'Conflicting flags:');
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#14 the Conflicting flags body is the sorted, URL-encoded query and a newline', async () => {
    const res = await ctx.putKey(ctx.key(), 'a', 'release=r&cas=1');
    expect(res.status).toBe(400);
    // The trailing newline is [ver]: current Consul writes it, older releases did not.
    expect(res.text).toMatch(/^Conflicting flags: cas=1&release=r\n?$/);
  });

  it('#15 DELETE ?recurse&cas answers 400', async () => {
    const key = ctx.key('dir/');
    await ctx.putKey(`${key}x`, 'v');
    const res = await ctx.req('DELETE', kvPath(key, 'recurse&cas=1'));
    expectError(res, 400, 'Conflicting flags');
    expect((await ctx.getKey(`${key}x`)).entry).toBeDefined();
  });

  it('#16 an empty key answers 400 Missing key name for PUT, GET and DELETE', async () => {
    expectError(await ctx.req('PUT', '/v1/kv/', { body: 'x' }), 400, 'Missing key name');
    expectError(await ctx.req('GET', '/v1/kv/'), 400, 'Missing key name');
    expectError(await ctx.req('DELETE', '/v1/kv/'), 400, 'Missing key name');
  });

  it('#17 a body above 524288 bytes answers 413; exactly 524288 is stored', async () => {
    const key = ctx.key();
    const tooBig = await ctx.req('PUT', kvPath(key), { body: Buffer.alloc(524_289, 0x61) });
    expectError(tooBig, 413, 'Request body(524289 bytes) too large, max size: 524288 bytes.');
    expect((await ctx.getKey(key)).entry).toBeUndefined();
    expectBool(await ctx.req('PUT', kvPath(key), { body: Buffer.alloc(524_288, 0x61) }), true);
    const raw = await ctx.req('GET', kvPath(key, 'raw'));
    expect(raw.raw.length).toBe(524_288);
  });

  it('#18 ?recurse is a plain string prefix in byte order', async () => {
    const p = ctx.key('p');
    for (const k of [`${p}z`, `${p}/b`, `${p}/a`]) await ctx.putKey(k, 'v');
    const all = await ctx.req('GET', kvPath(p, 'recurse'));
    expect(all.status).toBe(200);
    expect((all.json() as DirEntryJson[]).map((e) => e.Key)).toEqual([`${p}/a`, `${p}/b`, `${p}z`]);
    const dir = await ctx.req('GET', kvPath(`${p}/`, 'recurse'));
    expect((dir.json() as DirEntryJson[]).map((e) => e.Key)).toEqual([`${p}/a`, `${p}/b`]);
  });

  it('#18 ?recurse ignores ?raw and returns entries with values', async () => {
    const p = ctx.key('p/');
    await ctx.putKey(`${p}a`, 'v');
    const res = await ctx.req('GET', kvPath(p, 'recurse&raw'));
    expect(res.status).toBe(200);
    expect((res.json() as DirEntryJson[])[0]).toMatchObject({ Key: `${p}a`, Value: b64('v') });
  });

  it('#19 ?recurse on an empty prefix answers 404', async () => {
    const res = await ctx.req('GET', kvPath(ctx.key('none/'), 'recurse'));
    expect(res.status).toBe(404);
    expect(consulIndex(res)).toBeGreaterThanOrEqual(1n);
  });

  it('#20 ?keys on a non-empty prefix with no keys answers 404', async () => {
    const res = await ctx.req('GET', kvPath(ctx.key('none/'), 'keys'));
    expect(res.status).toBe(404);
    expect(res.text).toBe('');
  });

  it('#21 ?keys&separator=/ cuts keys after the first separator past the prefix', async () => {
    const p = ctx.key('p/');
    for (const k of ['a', 'b/c', 'b/d']) await ctx.putKey(`${p}${k}`, 'v');
    const res = await ctx.req('GET', kvPath(p, 'keys&separator=/'));
    expect(res.status).toBe(200);
    expect(res.json()).toEqual([`${p}a`, `${p}b/`]);
    const misspelt = await ctx.req('GET', kvPath(p, 'keys&seperator=/'));
    expect(misspelt.json()).toEqual([`${p}a`, `${p}b/`]);
    const plain = await ctx.req('GET', kvPath(p, 'keys'));
    expect(plain.json()).toEqual([`${p}a`, `${p}b/c`, `${p}b/d`]);
  });

  it('#21 separator wins over seperator when both are given', async () => {
    const p = ctx.key('p/');
    for (const k of ['a-x/y', 'b/c']) await ctx.putKey(`${p}${k}`, 'v');
    const res = await ctx.req('GET', kvPath(p, 'keys&separator=-&seperator=/'));
    expect(res.json()).toEqual([`${p}a-`, `${p}b/c`]);
  });

  it("#22 a prefix read's X-Consul-Index is the largest ModifyIndex under the prefix", async () => {
    const p = ctx.key('p/');
    await ctx.putKey(`${p}a`, 'v');
    await ctx.putKey(`${p}b`, 'v');
    const q = ctx.key('q/x');
    await ctx.putKey(q, 'v');
    const b = (await ctx.getKey(`${p}b`)).entry!;
    const qx = (await ctx.getKey(q)).entry!;
    const res = await ctx.req('GET', kvPath(p, 'recurse'));
    expect(consulIndex(res)).toBe(BigInt(b.ModifyIndex));
    expect(b.ModifyIndex).toBeLessThan(qx.ModifyIndex);
    const keys = await ctx.req('GET', kvPath(p, 'keys'));
    expect(consulIndex(keys)).toBe(BigInt(b.ModifyIndex));
  });

  it("#23 a delete under the prefix raises the prefix read's index to the tombstone's index", async () => {
    const p = ctx.key('p/');
    await ctx.putKey(`${p}a`, 'v');
    await ctx.putKey(`${p}b`, 'v');
    const a = (await ctx.getKey(`${p}a`)).entry!;
    const b = (await ctx.getKey(`${p}b`)).entry!;
    expectBool(await ctx.req('DELETE', kvPath(`${p}b`)), true);
    const res = await ctx.req('GET', kvPath(p, 'recurse'));
    expect(res.status).toBe(200);
    const index = consulIndex(res);
    expect(index).toBeGreaterThan(BigInt(b.ModifyIndex));
    expect(index).toBeGreaterThan(BigInt(a.ModifyIndex));
    // The deletion's index is also what a read of the deleted key reports at least.
    const gone = await ctx.req('GET', kvPath(`${p}b`));
    expect(gone.status).toBe(404);
    expect(consulIndex(gone)).toBeGreaterThanOrEqual(index);
  });

  it('#24 GET on a missing key reports an index at least that of the latest KV write', async () => {
    const q = ctx.key('q');
    await ctx.putKey(q, 'v');
    const n = (await ctx.getKey(q)).entry!.ModifyIndex;
    const res = await ctx.req('GET', kvPath(ctx.key('missing')));
    expect(res.status).toBe(404);
    expect(consulIndex(res)).toBeGreaterThanOrEqual(BigInt(n));
  });

  it('#25 DELETE removes a key and answers true; deleting a missing key also answers true', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    expectBool(await ctx.req('DELETE', kvPath(key)), true);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
    expectBool(await ctx.req('DELETE', kvPath(key)), true);
  });

  it('#25 a locked key may be deleted and the lock goes with it', async () => {
    const key = ctx.key();
    const s1 = await ctx.session({ LockDelay: '0s' });
    expectBool(await ctx.putKey(key, 'v', `acquire=${s1}`), true);
    expectBool(await ctx.req('DELETE', kvPath(key)), true);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#26 DELETE ?recurse removes every key under the prefix and nothing else', async () => {
    const p = ctx.key('p/');
    for (const k of [`${p}a`, `${p}b/c`]) await ctx.putKey(k, 'v');
    const other = ctx.key('pz');
    await ctx.putKey(other, 'v');
    const before = consulIndex(await ctx.req('GET', kvPath(p, 'recurse')));
    expectBool(await ctx.req('DELETE', kvPath(p, 'recurse')), true);
    const after = await ctx.req('GET', kvPath(p, 'recurse'));
    expect(after.status).toBe(404);
    // The prefix's tombstone carries the deletion's index.
    expect(consulIndex(after)).toBeGreaterThan(before);
    expect((await ctx.getKey(other)).entry).toBeDefined();
  });

  it('#27 DELETE ?cas deletes only at the current ModifyIndex', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const index = (await ctx.getKey(key)).entry!.ModifyIndex;
    expectBool(await ctx.req('DELETE', kvPath(key, `cas=${index + 1000}`)), false);
    expectBool(await ctx.req('DELETE', kvPath(key, 'cas=0')), false);
    expect((await ctx.getKey(key)).entry).toBeDefined();
    expectBool(await ctx.req('DELETE', kvPath(key, `cas=${index}`)), true);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#27 DELETE ?cas on a missing key answers true', async () => {
    expectBool(await ctx.req('DELETE', kvPath(ctx.key('missing'), 'cas=3')), true);
  });
});

describeConformance(
  'KV endpoint on a fresh store',
  (ctx) => {
    it('#20 ?keys on the root of an empty store answers 200 []', async () => {
      const fresh = await startTarget({ kind: 'dev' });
      try {
        const res = await consulFetch(fresh, 'GET', '/v1/kv/?keys');
        expect(res.status).toBe(200);
        expect(res.json()).toEqual([]);
        expect((await consulFetch(fresh, 'GET', '/v1/kv/?recurse')).status).toBe(404);
      } finally {
        await fresh.close();
      }
    });

    it('#26 DELETE /v1/kv/?recurse empties the store', async () => {
      for (const k of ['a', 'b/c', 'z']) await ctx.putKey(k, 'v');
      expectBool(await ctx.req('DELETE', '/v1/kv/?recurse'), true);
      const res = await ctx.req('GET', '/v1/kv/?keys');
      expect(res.status).toBe(200);
      expect(res.json()).toEqual([]);
    });
  },
  { devOnly: true },
);
