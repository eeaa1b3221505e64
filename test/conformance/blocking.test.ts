/**
 * Conformance: blocking queries and consistency modes (consul-api/kv-sessions-blocking.md §0,
 * §3, checklist items 56–63).
 *
 * Timing bounds here are the rule under test (wait + wait/16 jitter), not performance numbers;
 * the slack allows for a busy two-core machine.
 */
import { expect, it } from 'vitest';
import { b64, describeConformance, expectBool, expectError, type DirEntryJson, type SessionJson } from '../support/conformance.js';
import { parkedFromNow, untilParked } from '../support/parked.js';
import { consulIndex, kvPath, pause, type ConsulResponse } from '../support/target.js';

/** Slack for scheduling on a loaded machine, added to upper bounds only. */
const SLACK_MS = 400;

/** Starts a request and reports whether it has settled yet. */
function track(promise: Promise<ConsulResponse>): { promise: Promise<ConsulResponse>; settled: () => boolean } {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { promise, settled: () => done };
}

describeConformance('Blocking queries', (ctx) => {
  it('#56 a blocking GET with no writes returns after wait (+ at most wait/16) with the same body and index', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const first = await ctx.req('GET', kvPath(key));
    const index = consulIndex(first);
    const res = await ctx.req('GET', kvPath(key, `index=${index}&wait=1s`));
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeGreaterThanOrEqual(990);
    expect(res.elapsedMs).toBeLessThan(1062.5 + SLACK_MS);
    expect(consulIndex(res)).toBe(index);
    expect(res.json()).toEqual(first.json());
  });

  it('#56 a blocking GET on a missing key times out with 404 and the same index', async () => {
    const key = ctx.key('missing');
    const first = await ctx.req('GET', kvPath(key));
    const index = consulIndex(first);
    const res = await ctx.req('GET', kvPath(key, `index=${index}&wait=500ms`));
    expect(res.status).toBe(404);
    if (ctx.kind !== 'dev' && consulIndex(res) > index) {
      // A shared agent: another writer moved the table index, which legally wakes a query on a
      // missing key (spec §3.2, "memdb may also wake on neighbouring writes"): a 404 with the new index.
      return;
    }
    expect(res.elapsedMs).toBeGreaterThanOrEqual(490);
    expect(consulIndex(res)).toBe(index);
  });

  it('#56 an index above the current one blocks until the wait runs out', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const index = consulIndex(await ctx.req('GET', kvPath(key)));
    const res = await ctx.req('GET', kvPath(key, `index=${index + 1_000_000n}&wait=500ms`));
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeGreaterThanOrEqual(490);
    expect(consulIndex(res)).toBe(index);
  });

  it('#57 an index below the current one returns at once', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const index = consulIndex(await ctx.req('GET', kvPath(key)));
    const res = await ctx.req('GET', kvPath(key, `index=${index - 1n}&wait=5s`));
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(1_000);
    expect(consulIndex(res)).toBe(index);
  });

  it('#58 a write to the key wakes a blocked GET with the new value and a larger index', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'old');
    const index = consulIndex(await ctx.req('GET', kvPath(key)));
    const blocked = track(ctx.req('GET', kvPath(key, `index=${index}&wait=10s`)));
    await untilParked(ctx.target, `/v1/kv/${key}`);
    expect(blocked.settled()).toBe(false);
    const wroteAt = Date.now();
    await ctx.putKey(key, 'new');
    const res = await blocked.promise;
    expect(Date.now() - wroteAt).toBeLessThan(1_000);
    expect(res.status).toBe(200);
    expect(consulIndex(res)).toBeGreaterThan(index);
    expect((res.json() as DirEntryJson[])[0]?.Value).toBe(b64('new'));
  });

  it('#58 a lock released by session destruction wakes a blocked GET', async () => {
    const key = ctx.key();
    const s1 = await ctx.session({ LockDelay: '0s' });
    await ctx.putKey(key, 'v', `acquire=${s1}`);
    const index = consulIndex(await ctx.req('GET', kvPath(key)));
    const blocked = track(ctx.req('GET', kvPath(key, `index=${index}&wait=10s`)));
    await untilParked(ctx.target, `/v1/kv/${key}`);
    expect(blocked.settled()).toBe(false);
    await ctx.req('PUT', `/v1/session/destroy/${s1}`);
    const res = await blocked.promise;
    expect(res.elapsedMs).toBeLessThan(5_000);
    expect((res.json() as Array<Record<string, unknown>>)[0]).not.toHaveProperty('Session');
  });

  it('#58 a blocking session list wakes when a session is created', async () => {
    const list = await ctx.req('GET', '/v1/session/list');
    const index = consulIndex(list);
    const parked = parkedFromNow(ctx.target, '/v1/session/list');
    const blocked = track(ctx.req('GET', `/v1/session/list?index=${index}&wait=10s`));
    await parked();
    expect(blocked.settled()).toBe(false);
    const id = await ctx.session();
    let res = await blocked.promise;
    expect(res.elapsedMs).toBeLessThan(5_000);
    expect(consulIndex(res)).toBeGreaterThan(index);
    // A shared real agent may wake us for someone else's session first: block again, as a
    // client would, until ours shows up.
    const deadline = Date.now() + 5_000;
    while (!ctx.isDev && !(res.json() as SessionJson[]).some((s) => s.ID === id) && Date.now() < deadline) {
      res = await ctx.req('GET', `/v1/session/list?index=${consulIndex(res)}&wait=5s`);
    }
    expect((res.json() as SessionJson[]).map((s) => s.ID)).toContain(id);
  });

  it('#10 an identical PUT wakes no blocked reader', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'same');
    const index = consulIndex(await ctx.req('GET', kvPath(key)));
    const blocked = track(ctx.req('GET', kvPath(key, `index=${index}&wait=1s`)));
    // Parked before the write: otherwise the PUT may land first and the query, arriving with an
    // unchanged index, waits out its second whether or not a write would have woken it.
    await untilParked(ctx.target, `/v1/kv/${key}`);
    expectBool(await ctx.putKey(key, 'same'), true);
    if (ctx.target.dev) expect(ctx.target.dev.state.parkedQueries(`/v1/kv/${key}`)).toBe(1);
    const res = await blocked.promise;
    expect(res.elapsedMs).toBeGreaterThanOrEqual(990);
    expect(consulIndex(res)).toBe(index);
  });

  it('#59 creating a missing key wakes a blocked GET on it with 200 and the entry', async () => {
    const key = ctx.key('later');
    const index = consulIndex(await ctx.req('GET', kvPath(key)));
    const blocked = track(ctx.req('GET', kvPath(key, `index=${index}&wait=10s`)));
    await untilParked(ctx.target, `/v1/kv/${key}`);
    expect(blocked.settled()).toBe(false);
    await ctx.putKey(key, 'here');
    let res = await blocked.promise;
    // §3.2: on a real agent a neighbouring write may wake the query first; it then answers 404
    // with a newer index, and a client blocks again. The dev server has no other writer.
    const deadline = Date.now() + 5_000;
    while (!ctx.isDev && res.status === 404 && Date.now() < deadline) {
      res = await ctx.req('GET', kvPath(key, `index=${consulIndex(res)}&wait=5s`));
    }
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(5_000);
    expect((res.json() as DirEntryJson[])[0]).toMatchObject({ Key: key, Value: b64('here') });
  });

  it('#60 a blocking ?recurse wakes on a PUT under the prefix and on a DELETE under it', async () => {
    const p = ctx.key('p/');
    await ctx.putKey(`${p}a`, 'v');
    const i1 = consulIndex(await ctx.req('GET', kvPath(p, 'recurse')));
    const onPut = track(ctx.req('GET', kvPath(p, `recurse&index=${i1}&wait=10s`)));
    await untilParked(ctx.target, `/v1/kv/${p}`);
    expect(onPut.settled()).toBe(false);
    await ctx.putKey(`${p}b`, 'v');
    const afterPut = await onPut.promise;
    expect(afterPut.elapsedMs).toBeLessThan(5_000);
    const i2 = consulIndex(afterPut);
    expect(i2).toBeGreaterThan(i1);
    expect((afterPut.json() as DirEntryJson[]).map((e) => e.Key)).toEqual([`${p}a`, `${p}b`]);

    const onDelete = track(ctx.req('GET', kvPath(p, `recurse&index=${i2}&wait=10s`)));
    await untilParked(ctx.target, `/v1/kv/${p}`);
    expect(onDelete.settled()).toBe(false);
    await ctx.req('DELETE', kvPath(`${p}a`));
    const afterDelete = await onDelete.promise;
    expect(afterDelete.elapsedMs).toBeLessThan(5_000);
    expect(consulIndex(afterDelete)).toBeGreaterThan(i2);
    expect((afterDelete.json() as DirEntryJson[]).map((e) => e.Key)).toEqual([`${p}b`]);
  });

  it('#60 a blocking ?recurse is not woken by a write outside the prefix', async () => {
    const p = ctx.key('p/');
    await ctx.putKey(`${p}a`, 'v');
    const index = consulIndex(await ctx.req('GET', kvPath(p, 'recurse')));
    const blocked = track(ctx.req('GET', kvPath(p, `recurse&index=${index}&wait=1s`)));
    // Parked before the write, or a write landing first proves nothing (see #10 above).
    await untilParked(ctx.target, `/v1/kv/${p}`);
    await ctx.putKey(ctx.key('q/x'), 'v');
    if (ctx.target.dev) expect(ctx.target.dev.state.parkedQueries(`/v1/kv/${p}`)).toBe(1);
    const res = await blocked.promise;
    expect(res.elapsedMs).toBeGreaterThanOrEqual(990);
    expect(consulIndex(res)).toBe(index);
  });

  it('#61 a bad wait, a bad index and stale with consistent answer 400', async () => {
    const key = ctx.key();
    expectError(await ctx.req('GET', kvPath(key, 'wait=10')), 400, 'Invalid wait time');
    expectError(await ctx.req('GET', kvPath(key, 'index=abc')), 400, 'Invalid index');
    expectError(await ctx.req('GET', kvPath(key, 'index=-1')), 400, 'Invalid index');
    expectError(await ctx.req('GET', kvPath(key, 'index=18446744073709551616')), 400, 'Invalid index');
    expectError(
      await ctx.req('GET', kvPath(key, 'stale&consistent')),
      400,
      'Cannot specify ?stale with ?consistent, conflicting semantics.',
    );
  });

  it('#61 the query checks also apply to KV PUT and DELETE', async () => {
    const key = ctx.key();
    expectError(await ctx.req('PUT', kvPath(key, 'wait=xyz'), { body: 'v' }), 400, 'Invalid wait time');
    expectError(await ctx.req('DELETE', kvPath(key, 'index=abc')), 400, 'Invalid index');
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#61 the same checks apply to session reads', async () => {
    expectError(await ctx.req('GET', '/v1/session/list?wait=10'), 400, 'Invalid wait time');
    expectError(await ctx.req('GET', '/v1/session/list?index=x'), 400, 'Invalid index');
  });

  it('#62 index=0 never blocks', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const res = await ctx.req('GET', kvPath(key, 'index=0&wait=5s'));
    expect(res.status).toBe(200);
    expect(res.elapsedMs).toBeLessThan(1_000);
  });

  it('#62 wait=0s means the default wait: the query is still blocked after 1 s', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const index = consulIndex(await ctx.req('GET', kvPath(key)));
    const abort = new AbortController();
    const blocked = track(ctx.req('GET', kvPath(key, `index=${index}&wait=0s`), { signal: abort.signal }));
    await untilParked(ctx.target, `/v1/kv/${key}`);
    // The rule under test is a duration: a wait of 0s did not mean "answer at once".
    await pause(1_000);
    expect(blocked.settled()).toBe(false);
    abort.abort();
    await expect(blocked.promise).rejects.toBeDefined();
  });

  it('#63 ?consistent and ?stale read the same entry, without X-Consul-Effective-Consistency', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const plain = await ctx.req('GET', kvPath(key));
    for (const mode of ['consistent', 'stale', 'leader']) {
      const res = await ctx.req('GET', kvPath(key, mode));
      expect(res.status, mode).toBe(200);
      expect(res.json()).toEqual(plain.json());
      expect(res.header('x-consul-effective-consistency')).toBeUndefined();
      expect(res.header('x-consul-knownleader')).toBe('true');
      expect(res.header('x-consul-lastcontact')).toBe('0');
    }
    expect(plain.header('x-consul-effective-consistency')).toBeUndefined();
    const sessions = await ctx.req('GET', '/v1/session/list?stale');
    expect(sessions.header('x-consul-effective-consistency')).toBeUndefined();
  });
});
