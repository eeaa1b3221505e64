/**
 * Conformance: transactions, `PUT /v1/txn` (consul-api/kv-sessions-blocking.md §5, checklist
 * items 64–70).
 */
import { expect, it } from 'vitest';
import { b64, describeConformance, expectBool, expectError, type DirEntryJson } from '../support/conformance.js';
import { consulIndex } from '../support/target.js';

interface TxnAnswer {
  Results: Array<{ KV: DirEntryJson }> | null;
  Errors: Array<{ OpIndex: number; What: string }> | null;
}

type KvOp = { Verb: string; Key?: string; Value?: string | null; Flags?: number; Index?: number; Session?: string };

const kv = (op: KvOp): { KV: KvOp } => ({ KV: op });

describeConformance('Transactions', (ctx) => {
  const txn = (ops: unknown) => ctx.req('PUT', '/v1/txn', { body: ops as object });

  it('#64 set then get: 200, the set result has no value, the get result has it, Errors null', async () => {
    const a = ctx.key('a');
    const res = await txn([kv({ Verb: 'set', Key: a, Value: b64('v') }), kv({ Verb: 'get', Key: a })]);
    expect(res.status, res.text).toBe(200);
    const body = res.json() as TxnAnswer;
    expect(body.Errors).toBeNull();
    expect(body.Results).toHaveLength(2);
    expect(body.Results![0]!.KV).toMatchObject({ Key: a, Value: null });
    expect(body.Results![1]!.KV).toMatchObject({ Key: a, Value: 'dg==' });
    expect(res.header('x-consul-index')).toBeUndefined();
  });

  it('#64 every write of one transaction shares one index', async () => {
    const a = ctx.key('a');
    const b = ctx.key('b');
    const res = await txn([kv({ Verb: 'set', Key: a, Value: b64('1') }), kv({ Verb: 'set', Key: b, Value: b64('2') })]);
    expect(res.status).toBe(200);
    const [ra, rb] = (res.json() as TxnAnswer).Results!;
    expect(ra!.KV.ModifyIndex).toBe(rb!.KV.ModifyIndex);
    expect((await ctx.getKey(a)).entry!.ModifyIndex).toBe(ra!.KV.ModifyIndex);
  });

  it('#65 a failing op discards the whole transaction: 409, Results null, Errors with OpIndex', async () => {
    const a = ctx.key('a');
    const b = ctx.key('b');
    await ctx.putKey(a, 'one');
    const stale = (await ctx.getKey(a)).entry!.ModifyIndex;
    await ctx.putKey(a, 'two');
    const res = await txn([
      kv({ Verb: 'set', Key: b, Value: b64('x') }),
      kv({ Verb: 'cas', Key: a, Value: b64('three'), Index: stale }),
    ]);
    expect(res.status, res.text).toBe(409);
    const body = res.json() as TxnAnswer;
    expect(body.Results).toBeNull();
    expect(body.Errors).toEqual([{ OpIndex: 1, What: `failed to set key "${a}", index is stale` }]);
    expect((await ctx.getKey(b)).entry).toBeUndefined();
    expect((await ctx.getKey(a)).entry!.Value).toBe(b64('two'));
  });

  it('#65 later ops see the effects of earlier ones', async () => {
    const a = ctx.key('a');
    const res = await txn([
      kv({ Verb: 'check-not-exists', Key: a }),
      kv({ Verb: 'set', Key: a, Value: b64('1') }),
      kv({ Verb: 'get', Key: a }),
      kv({ Verb: 'delete', Key: a }),
      kv({ Verb: 'check-not-exists', Key: a }),
    ]);
    expect(res.status, res.text).toBe(200);
    expect((res.json() as TxnAnswer).Results!.map((r) => r.KV.Key)).toEqual([a, a]);
  });

  it('#66 a read-only transaction failing answers 409 with KnownLeader and no X-Consul-Index', async () => {
    const missing = ctx.key('missing');
    const res = await txn([kv({ Verb: 'get', Key: missing })]);
    expect(res.status, res.text).toBe(409);
    const body = res.json() as TxnAnswer;
    expect(body.Errors).toEqual([{ OpIndex: 0, What: `key "${missing}" doesn't exist` }]);
    expect(res.header('x-consul-knownleader')).toBe('true');
    expect(res.header('x-consul-lastcontact')).toBe('0');
    expect(res.header('x-consul-index')).toBeUndefined();
  });

  it('#66 a read-only transaction reads values and honours ?stale', async () => {
    const a = ctx.key('a');
    await ctx.putKey(a, 'v');
    const res = await ctx.req('PUT', '/v1/txn?stale', { body: [kv({ Verb: 'get', Key: a })] });
    expect(res.status).toBe(200);
    expect((res.json() as TxnAnswer).Results![0]!.KV).toMatchObject({ Key: a, Value: b64('v') });
    expect(res.header('x-consul-knownleader')).toBe('true');
    expectError(await ctx.req('PUT', '/v1/txn?stale&consistent', { body: [kv({ Verb: 'get', Key: a })] }), 400);
  });

  it('#67 129 operations answer 413 Transaction contains too many operations; 128 are accepted', async () => {
    const a = ctx.key('a');
    await ctx.putKey(a, 'v');
    const ops = (n: number) => Array.from({ length: n }, () => kv({ Verb: 'get', Key: a }));
    const tooMany = await txn(ops(129));
    expectError(tooMany, 413, 'Transaction contains too many operations (129 > 128)');
    const ok = await txn(ops(128));
    expect(ok.status, ok.text).toBe(200);
    expect((ok.json() as TxnAnswer).Results).toHaveLength(128);
  });

  it('#68 lock on a held key, check-not-exists on an existing key and a check-index mismatch answer 409', async () => {
    const k = ctx.key('k');
    const s1 = await ctx.session();
    const s2 = await ctx.session();
    expectBool(await ctx.putKey(k, 'v', `acquire=${s1}`), true);
    const index = (await ctx.getKey(k)).entry!.ModifyIndex;

    const lock = await txn([kv({ Verb: 'lock', Key: k, Value: b64('x'), Session: s2 })]);
    expect(lock.status).toBe(409);
    expect((lock.json() as TxnAnswer).Errors).toEqual([{ OpIndex: 0, What: `failed to lock key "${k}", lock is already held` }]);

    const exists = await txn([kv({ Verb: 'check-not-exists', Key: k })]);
    expect(exists.status).toBe(409);
    expect((exists.json() as TxnAnswer).Errors).toEqual([{ OpIndex: 0, What: `key "${k}" exists` }]);

    const mismatch = await txn([kv({ Verb: 'check-index', Key: k, Index: index + 7 })]);
    expect(mismatch.status).toBe(409);
    const what = (mismatch.json() as TxnAnswer).Errors![0]!.What;
    expect(what.startsWith(`failed index check for key "${k}"`), what).toBe(true);
    expect(what).toBe(`failed index check for key "${k}", current modify index ${index} != ${index + 7}`);
  });

  it('#68 lock, check-session and unlock follow the HTTP lock rules', async () => {
    const k = ctx.key('k');
    const s1 = await ctx.session({ LockDelay: '0s' });
    const locked = await txn([
      kv({ Verb: 'lock', Key: k, Value: b64('x'), Session: s1 }),
      kv({ Verb: 'check-session', Key: k, Session: s1 }),
    ]);
    expect(locked.status, locked.text).toBe(200);
    expect((locked.json() as TxnAnswer).Results![0]!.KV).toMatchObject({ LockIndex: 1, Session: s1, Value: null });
    const unlocked = await txn([kv({ Verb: 'unlock', Key: k, Value: b64('x'), Session: s1 })]);
    expect(unlocked.status, unlocked.text).toBe(200);
    const entry = (await ctx.getKey(k)).entry!;
    expect(entry.Session).toBeUndefined();
    expect(entry.LockIndex).toBe(1);
  });

  it('#50 a txn lock during a lock-delay answers 409 due to lock delay', async () => {
    const k = ctx.key('k');
    const s1 = await ctx.session({ LockDelay: '10s' });
    const s2 = await ctx.session();
    await ctx.putKey(k, 'v', `acquire=${s1}`);
    await ctx.req('PUT', `/v1/session/destroy/${s1}`);
    const res = await txn([kv({ Verb: 'lock', Key: k, Value: b64('x'), Session: s2 })]);
    expect(res.status, res.text).toBe(409);
    expect((res.json() as TxnAnswer).Errors).toEqual([{ OpIndex: 0, What: `failed to lock key "${k}" due to lock delay` }]);
  });

  it('#69 a Value that is not base64 answers 400 Failed to parse body', async () => {
    const res = await ctx.req('PUT', '/v1/txn', { body: `[{"KV":{"Verb":"set","Key":"${ctx.key('a')}","Value":"%%%"}}]` });
    expectError(res, 400, 'Failed to parse body');
  });

  it('#69 invalid JSON answers 400 Failed to parse body', async () => {
    expectError(await ctx.req('PUT', '/v1/txn', { body: '[{"KV":' }), 400, 'Failed to parse body');
  });

  it('#70 delete and delete-tree return no result entries', async () => {
    const a = ctx.key('a');
    const p = ctx.key('p/');
    await ctx.putKey(a, 'v');
    await ctx.putKey(`${p}x`, 'v');
    const before = consulIndex(await ctx.req('GET', `/v1/kv/${p}?recurse`));
    const res = await txn([kv({ Verb: 'delete', Key: a }), kv({ Verb: 'delete-tree', Key: p })]);
    expect(res.status, res.text).toBe(200);
    const body = res.json() as TxnAnswer;
    expect(body.Results ?? []).toEqual([]);
    expect(body.Errors).toBeNull();
    expect((await ctx.getKey(a)).entry).toBeUndefined();
    const gone = await ctx.req('GET', `/v1/kv/${p}?recurse`);
    expect(gone.status).toBe(404);
    expect(consulIndex(gone)).toBeGreaterThan(before);
  });

  it('#70 an unknown verb is reported per op', async () => {
    const res = await txn([kv({ Verb: 'frobnicate', Key: ctx.key('a') })]);
    expect(res.status).toBe(409);
    expect((res.json() as TxnAnswer).Errors).toEqual([{ OpIndex: 0, What: 'unknown KV verb "frobnicate"' }]);
  });
});
