/**
 * Conformance: sessions and KV locks (consul-api/kv-sessions-blocking.md §2.3c–d, §2.4, §4,
 * checklist items 28–53). Slow items with real defaults (50 with 15 s, 52, 54, 55) live in
 * slow.test.ts.
 */
import { expect, it } from 'vitest';
import {
  b64,
  describeConformance,
  expectBool,
  expectError,
  type ConformanceContext,
  type SessionJson,
} from '../support/conformance.js';
import { consulIndex, kvPath, unknownUuid, waitFor } from '../support/target.js';

async function info(ctx: ConformanceContext, id: string): Promise<SessionJson | undefined> {
  const res = await ctx.req('GET', `/v1/session/info/${id}`);
  expect(res.status, res.text).toBe(200);
  const list = res.json() as SessionJson[];
  expect(list.length).toBeLessThanOrEqual(1);
  return list[0];
}

describeConformance('Sessions', (ctx) => {
  it('#28 create with no body gives the documented defaults', async () => {
    const res = await ctx.req('PUT', '/v1/session/create');
    expect(res.status, res.text).toBe(200);
    expect(res.header('content-type')).toMatch(/^application\/json/);
    const { ID } = res.json() as { ID: string };
    expect(ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const raw = await ctx.req('GET', `/v1/session/info/${ID}`);
    const s = (raw.json() as Array<Record<string, unknown>>)[0]!;
    expect(s).toMatchObject({
      ID,
      Node: ctx.target.nodeName,
      LockDelay: 15_000_000_000,
      Behavior: 'release',
      TTL: '',
      NodeChecks: ['serfHealth'],
      ServiceChecks: null,
    });
    expect(s).not.toHaveProperty('Checks');
    expect(s.CreateIndex).toBe(s.ModifyIndex);
    expect(typeof s.Name).toBe('string');
  });

  it('#29 a TTL outside [10s, 24h] or not a duration is refused with 500; bounds and 0s are accepted', async () => {
    for (const ttl of ['5s', '86401s']) {
      const res = await ctx.req('PUT', '/v1/session/create', { body: { TTL: ttl } });
      expect(res.status, `TTL ${ttl}`).toBe(500);
      expect(res.text).toContain('Invalid Session TTL');
    }
    const bad = await ctx.req('PUT', '/v1/session/create', { body: { TTL: 'abc' } });
    expect(bad.status).toBe(500);
    expect(bad.text).toContain("Session TTL 'abc' invalid");
    for (const ttl of ['10s', '86400s', '0s']) {
      const res = await ctx.req('PUT', '/v1/session/create', { body: { TTL: ttl } });
      expect(res.status, `TTL ${ttl}: ${res.text}`).toBe(200);
      const s = await info(ctx, (res.json() as { ID: string }).ID);
      expect(s?.TTL).toBe(ttl);
    }
  });

  it('#29 the TTL error names the nanoseconds and the allowed range', async () => {
    const res = await ctx.req('PUT', '/v1/session/create', { body: { TTL: '5s' } });
    expect(res.text).toContain("Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
  });

  it('#30 an unknown Behavior is refused with 500', async () => {
    const res = await ctx.req('PUT', '/v1/session/create', { body: { Behavior: 'bogus' } });
    expect(res.status).toBe(500);
    expect(res.text).toContain("Invalid Behavior setting 'bogus'");
  });

  it('#31 LockDelay accepts seconds as a small number and Go durations as strings, uncapped at creation', async () => {
    const cases: Array<[unknown, number]> = [
      [5, 5_000_000_000],
      ['15000ms', 15_000_000_000],
      ['0s', 0],
      ['120s', 120_000_000_000],
      ['1m30s', 90_000_000_000],
      [2_000_000_000, 2_000_000_000],
    ];
    for (const [lockDelay, ns] of cases) {
      const id = await ctx.session({ LockDelay: lockDelay });
      expect((await info(ctx, id))?.LockDelay, `LockDelay ${JSON.stringify(lockDelay)}`).toBe(ns);
    }
  });

  it('#31 a LockDelay string below 1000ns is read as seconds', async () => {
    const id = await ctx.session({ LockDelay: '500ns' });
    expect((await info(ctx, id))?.LockDelay).toBe(500_000_000_000);
  });

  it('#32 an unknown node or an unknown node check is refused with 500', async () => {
    const node = await ctx.req('PUT', '/v1/session/create', { body: { Node: 'no-such-node' } });
    expect(node.status).toBe(500);
    expect(node.text).toContain('Missing node registration');
    const check = await ctx.req('PUT', '/v1/session/create', { body: { NodeChecks: ['nope'] } });
    expect(check.status).toBe(500);
    expect(check.text).toContain("Missing check 'nope' registration");
  });

  it('#32 an explicitly empty Node is refused with 500 Must provide Node', async () => {
    const res = await ctx.req('PUT', '/v1/session/create', { body: { Node: '' } });
    expect(res.status).toBe(500);
    expect(res.text).toContain('Must provide Node');
  });

  it('#33 "Checks": [] creates a session bound to no check at all', async () => {
    const id = await ctx.session({ Checks: [] });
    const s = await info(ctx, id);
    expect(s?.NodeChecks ?? []).toEqual([]);
    expect(s?.ServiceChecks ?? []).toEqual([]);
    expect(s?.Checks ?? []).toEqual([]);
  });

  it('#33 non-default Checks together with "NodeChecks": [] bind no check', async () => {
    const id = await ctx.session({ Checks: ['some-check'], NodeChecks: [] });
    const s = await info(ctx, id);
    expect([...(s?.NodeChecks ?? []), ...(s?.Checks ?? [])]).toEqual([]);
  });

  it('#33 "NodeChecks": [] with the default Checks also binds no check', async () => {
    const id = await ctx.session({ NodeChecks: [] });
    const s = await info(ctx, id);
    expect(s?.NodeChecks ?? []).toEqual([]);
  });

  it('#34 a malformed JSON body is refused with 400 Request decode failed', async () => {
    const res = await ctx.req('PUT', '/v1/session/create', { body: '{"Name": ' });
    expectError(res, 400, 'Request decode failed');
  });

  it('#35 GET /v1/session/create answers 405 with an Allow header listing PUT', async () => {
    const res = await ctx.req('GET', '/v1/session/create');
    expect(res.status).toBe(405);
    expect(res.header('allow')?.split(',')).toEqual(expect.arrayContaining(['OPTIONS', 'PUT']));
    expect(res.text).toBe('method GET not allowed');
  });

  it('#36 destroying an unknown session answers 200 true', async () => {
    expectBool(await ctx.req('PUT', `/v1/session/destroy/${unknownUuid()}`), true);
  });

  it('#36 an empty session id or node name answers 400', async () => {
    expectError(await ctx.req('PUT', '/v1/session/destroy/'), 400, 'Missing session');
    expectError(await ctx.req('PUT', '/v1/session/renew/'), 400);
    expectError(await ctx.req('GET', '/v1/session/info/'), 400, 'Missing session');
    expectError(await ctx.req('GET', '/v1/session/node/'), 400, 'Missing node name');
  });

  it('#36 destroying a known session answers 200 true and removes it', async () => {
    const id = await ctx.session();
    expectBool(await ctx.req('PUT', `/v1/session/destroy/${id}`), true);
    expect(await info(ctx, id)).toBeUndefined();
  });

  it('#37 renewing an unknown session answers 404 with the id in the body', async () => {
    const id = unknownUuid();
    const res = await ctx.req('PUT', `/v1/session/renew/${id}`);
    expect(res.status).toBe(404);
    expect(res.text).toBe(`Session id '${id}' not found`);
  });

  it('#38 renewing a live TTL session returns it unchanged and moves no index', async () => {
    const id = await ctx.session({ TTL: '30s' });
    const before = await info(ctx, id);
    const listBefore = consulIndex(await ctx.req('GET', '/v1/session/list'));
    const res = await ctx.req('PUT', `/v1/session/renew/${id}`);
    expect(res.status).toBe(200);
    const renewed = res.json() as SessionJson[];
    expect(renewed).toHaveLength(1);
    expect(renewed[0]).toMatchObject({ ID: id, TTL: '30s', ModifyIndex: before!.ModifyIndex });
    const after = await info(ctx, id);
    expect(after?.ModifyIndex).toBe(before!.ModifyIndex);
    // Only the dev server is sure to have no other session writer between the two reads.
    if (ctx.isDev) expect(consulIndex(await ctx.req('GET', '/v1/session/list'))).toBe(listBefore);
  });

  it('#38 renewing a session without TTL answers 200 with the session', async () => {
    const id = await ctx.session();
    const res = await ctx.req('PUT', `/v1/session/renew/${id}`);
    expect(res.status).toBe(200);
    expect((res.json() as SessionJson[])[0]?.ID).toBe(id);
  });

  it('#39 info on an unknown session answers 200 [] with an index', async () => {
    const res = await ctx.req('GET', `/v1/session/info/${unknownUuid()}`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual([]);
    expect(consulIndex(res)).toBeGreaterThanOrEqual(1n);
    expect(res.header('x-consul-knownleader')).toBe('true');
  });

  it('#40 list shows a session until it is destroyed, and the index moves', async () => {
    const id = await ctx.session({ Name: 'listed' });
    const before = await ctx.req('GET', '/v1/session/list');
    expect(before.status).toBe(200);
    expect((before.json() as SessionJson[]).map((s) => s.ID)).toContain(id);
    await ctx.req('PUT', `/v1/session/destroy/${id}`);
    const after = await ctx.req('GET', '/v1/session/list');
    expect((after.json() as SessionJson[]).map((s) => s.ID)).not.toContain(id);
    expect(consulIndex(after)).toBeGreaterThan(consulIndex(before));
  });

  it("#40 a session read's index is the sessions table index, not the session's own", async () => {
    const first = await ctx.session();
    await ctx.session();
    const res = await ctx.req('GET', `/v1/session/info/${first}`);
    const own = (res.json() as SessionJson[])[0]!.ModifyIndex;
    expect(consulIndex(res)).toBeGreaterThan(BigInt(own));
  });

  it('#41 node/<agent node> lists its sessions; an unknown node gives []', async () => {
    const id = await ctx.session();
    const res = await ctx.req('GET', `/v1/session/node/${ctx.target.nodeName}`);
    expect(res.status).toBe(200);
    expect((res.json() as SessionJson[]).map((s) => s.ID)).toContain(id);
    expect(consulIndex(res)).toBeGreaterThanOrEqual(1n);
    const none = await ctx.req('GET', '/v1/session/node/no-such-node');
    expect(none.status).toBe(200);
    expect(none.json()).toEqual([]);
  });
});

describeConformance('KV locks', (ctx) => {
  it('#42 acquire on a missing key creates it with LockIndex 1 and the session', async () => {
    const key = ctx.key();
    const s1 = await ctx.session();
    expectBool(await ctx.putKey(key, 'x', `acquire=${s1}`), true);
    const { entry } = await ctx.getKey(key);
    expect(entry).toMatchObject({ LockIndex: 1, Session: s1, Value: 'eA==', Flags: 0 });
    expect(entry!.CreateIndex).toBe(entry!.ModifyIndex);
  });

  it('#43 acquire by another session while held answers false and changes nothing', async () => {
    const key = ctx.key();
    const s1 = await ctx.session();
    const s2 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}`);
    const before = (await ctx.getKey(key)).entry!;
    expectBool(await ctx.putKey(key, 'other', `acquire=${s2}&flags=9`), false);
    expect((await ctx.getKey(key)).entry).toEqual(before);
  });

  it('#44 re-acquire by the holder replaces the value, keeps LockIndex and bumps ModifyIndex', async () => {
    const key = ctx.key();
    const s1 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}`);
    const before = (await ctx.getKey(key)).entry!;
    expectBool(await ctx.putKey(key, 'y', `acquire=${s1}&flags=4`), true);
    const after = (await ctx.getKey(key)).entry!;
    expect(after).toMatchObject({ LockIndex: 1, Value: 'eQ==', Flags: 4, Session: s1 });
    expect(after.ModifyIndex).toBeGreaterThan(before.ModifyIndex);
  });

  it('#45 release by a non-holder answers false; release by the holder clears Session and replaces the value', async () => {
    const key = ctx.key();
    const s1 = await ctx.session();
    const s2 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}&flags=3`);
    const held = (await ctx.getKey(key)).entry!;
    expectBool(await ctx.putKey(key, 'z', `release=${s2}`), false);
    expect((await ctx.getKey(key)).entry).toEqual(held);
    expectBool(await ctx.putKey(key, undefined, `release=${s1}`), true);
    const res = await ctx.req('GET', kvPath(key));
    const entry = (res.json() as Array<Record<string, unknown>>)[0]!;
    expect(entry).not.toHaveProperty('Session');
    expect(entry.LockIndex).toBe(1);
    expect([null, '']).toContain(entry.Value);
    expect(entry.Flags).toBe(0);
    expect(entry.ModifyIndex as number).toBeGreaterThan(held.ModifyIndex);
  });

  it('#46 after a voluntary release another session acquires at once with LockIndex 2', async () => {
    const key = ctx.key();
    const s1 = await ctx.session(); // default LockDelay 15 s: a release must not apply it
    const s2 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}`);
    expectBool(await ctx.putKey(key, 'x', `release=${s1}`), true);
    expectBool(await ctx.putKey(key, 'y', `acquire=${s2}`), true);
    expect((await ctx.getKey(key)).entry).toMatchObject({ LockIndex: 2, Session: s2 });
  });

  it('#46 the former holder re-acquiring after release also counts as a new acquisition', async () => {
    const key = ctx.key();
    const s1 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}`);
    await ctx.putKey(key, 'x', `release=${s1}`);
    expectBool(await ctx.putKey(key, 'x', `acquire=${s1}`), true);
    expect((await ctx.getKey(key)).entry!.LockIndex).toBe(2);
  });

  it('#47 acquire with an unknown or empty session and release with an empty one answer 500', async () => {
    const key = ctx.key();
    const unknown = await ctx.putKey(key, 'x', `acquire=${unknownUuid()}`);
    expect(unknown.status).toBe(500);
    expect(unknown.text).toContain('invalid session');
    for (const query of ['acquire=', 'acquire', 'release=']) {
      const res = await ctx.putKey(key, 'x', query);
      expect(res.status, query).toBe(500);
      expect(res.text, query).toContain('missing session');
    }
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#48 release on a missing key answers false', async () => {
    const s1 = await ctx.session();
    const key = ctx.key();
    expectBool(await ctx.putKey(key, 'x', `release=${s1}`), false);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#48 release with an unknown session on an unlocked key answers false (not 500)', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'x');
    expectBool(await ctx.putKey(key, 'y', `release=${unknownUuid()}`), false);
    expect((await ctx.getKey(key)).entry!.Value).toBe(b64('x'));
  });

  it('#49 a plain PUT on a held key succeeds and keeps the holder', async () => {
    const key = ctx.key();
    const s1 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}`);
    expectBool(await ctx.putKey(key, 'plain'), true);
    const entry = (await ctx.getKey(key)).entry!;
    expect(entry).toMatchObject({ Session: s1, Value: b64('plain') });
    // §2.3a: the plain set stores the request's LockIndex (0) rather than copying the old one.
    expect(entry.LockIndex).toBe(0);
  });

  it('#50 destroying the holder releases the key and applies its lock-delay to acquires only', async () => {
    const key = ctx.key();
    const s1 = await ctx.session({ LockDelay: '1s' });
    const s2 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}&flags=5`);
    const held = (await ctx.getKey(key)).entry!;
    expectBool(await ctx.req('PUT', `/v1/session/destroy/${s1}`), true);

    const res = await ctx.req('GET', kvPath(key));
    const released = (res.json() as Array<Record<string, unknown>>)[0]!;
    expect(released).not.toHaveProperty('Session');
    expect(released).toMatchObject({ Value: b64('x'), Flags: 5, LockIndex: 1, CreateIndex: held.CreateIndex });
    expect(released.ModifyIndex as number).toBeGreaterThan(held.ModifyIndex);

    expectBool(await ctx.putKey(key, 'y', `acquire=${s2}`), false);
    // The lock-delay is checked before the session is validated (§2.3c step 1).
    expectBool(await ctx.putKey(key, 'y', `acquire=${unknownUuid()}`), false);
    // Plain PUT, CAS and release ignore the lock-delay.
    expectBool(await ctx.putKey(key, 'plain'), true);
    await waitFor(async () => JSON.parse((await ctx.putKey(key, 'y', `acquire=${s2}`)).text) === true, {
      timeout: 5_000,
      interval: 100,
    });
    expect((await ctx.getKey(key)).entry).toMatchObject({ Session: s2, LockIndex: 1, Value: b64('y') });
  });

  it('#51 a holder with LockDelay 0s leaves no lock-delay behind', async () => {
    const key = ctx.key();
    const s1 = await ctx.session({ LockDelay: '0s' });
    const s2 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}`);
    await ctx.req('PUT', `/v1/session/destroy/${s1}`);
    expectBool(await ctx.putKey(key, 'y', `acquire=${s2}`), true);
    expect((await ctx.getKey(key)).entry).toMatchObject({ Session: s2, LockIndex: 2 });
  });

  it('#53 destroying a Behavior=delete holder deletes its keys and keeps others', async () => {
    const held = ctx.key('held');
    const other = ctx.key('other');
    const s1 = await ctx.session({ Behavior: 'delete', LockDelay: '0s' });
    const s2 = await ctx.session({ LockDelay: '0s' });
    await ctx.putKey(held, 'x', `acquire=${s1}`);
    await ctx.putKey(other, 'y', `acquire=${s2}`);
    const before = consulIndex(await ctx.req('GET', kvPath(held)));
    await ctx.req('PUT', `/v1/session/destroy/${s1}`);
    const gone = await ctx.req('GET', kvPath(held));
    expect(gone.status).toBe(404);
    expect(consulIndex(gone)).toBeGreaterThan(before);
    expect((await ctx.getKey(other)).entry).toMatchObject({ Session: s2 });
  });

  it('#53 a Behavior=delete session applies its lock-delay to the deleted key', async () => {
    const key = ctx.key();
    const s1 = await ctx.session({ Behavior: 'delete', LockDelay: '10s' });
    const s2 = await ctx.session();
    await ctx.putKey(key, 'x', `acquire=${s1}`);
    await ctx.req('PUT', `/v1/session/destroy/${s1}`);
    expectBool(await ctx.putKey(key, 'y', `acquire=${s2}`), false);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });
});
