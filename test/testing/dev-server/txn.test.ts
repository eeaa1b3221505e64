import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { createSession, raw } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
});
afterAll(async () => {
  await server.close();
});

const kv = (KV: Record<string, unknown>) => ({ KV });

describe('/v1/txn', () => {
  it('runs a write transaction and returns blanked values except for gets', async () => {
    const res = await raw(server, 'PUT', '/v1/txn', {
      body: [kv({ Verb: 'set', Key: 't/a', Value: 'dg==' }), kv({ Verb: 'get', Key: 't/a' })],
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-consul-index']).toBeUndefined();
    const body = res.json<{ Results: Array<{ KV: { Value: unknown } }>; Errors: unknown }>();
    expect(body.Errors).toBeNull();
    expect(body.Results[0]?.KV.Value).toBeNull();
    expect(body.Results[1]?.KV.Value).toBe('dg==');
  });

  it('keeps uint64 Flags exact', async () => {
    const res = await raw(server, 'PUT', '/v1/txn', {
      body: '[{"KV":{"Verb":"set","Key":"t/flags","Flags":18446744073709551615}}]',
    });
    expect(res.text).toContain('"Flags":18446744073709551615');
    expect(server.state.getKey('t/flags')?.flags).toBe(18446744073709551615n);
  });

  it('rolls back on any failure and lists every error', async () => {
    await raw(server, 'PUT', '/v1/kv/t/x', { body: 'old' });
    const res = await raw(server, 'PUT', '/v1/txn', {
      body: [kv({ Verb: 'set', Key: 't/b', Value: 'dg==' }), kv({ Verb: 'cas', Key: 't/x', Index: 1 }), kv({ Verb: 'check-not-exists', Key: 't/x' })],
    });
    expect(res.status).toBe(409);
    expect(res.json()).toEqual({
      Results: null,
      Errors: [
        { OpIndex: 1, What: 'failed to set key "t/x", index is stale' },
        { OpIndex: 2, What: 'key "t/x" exists' },
      ],
    });
    expect(server.state.getKey('t/b')).toBeUndefined();
  });

  it('serves read-only transactions with leader headers but no index', async () => {
    const res = await raw(server, 'PUT', '/v1/txn', { body: [kv({ Verb: 'get', Key: 't/missing' })] });
    expect(res.status).toBe(409);
    expect(res.headers['x-consul-knownleader']).toBe('true');
    expect(res.headers['x-consul-index']).toBeUndefined();
    expect(res.json<{ Errors: Array<{ What: string }> }>().Errors[0]?.What).toBe('key "t/missing" doesn\'t exist');
    const ok = await raw(server, 'PUT', '/v1/txn?stale', { body: [kv({ Verb: 'get-or-empty', Key: 't/missing' })] });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ Errors: null, KnownLeader: true, Index: 0 });
  });

  it('enforces the op count and value size limits', async () => {
    const gets = (n: number) => Array.from({ length: n }, () => kv({ Verb: 'get-or-empty', Key: 't/n' }));
    expect((await raw(server, 'PUT', '/v1/txn', { body: gets(128) })).status).toBe(200);
    const tooMany = await raw(server, 'PUT', '/v1/txn', { body: gets(129) });
    expect(tooMany.status).toBe(413);
    expect(tooMany.text).toBe('Transaction contains too many operations (129 > 128)');
    const big = Buffer.alloc(524_289).toString('base64');
    const tooBig = await raw(server, 'PUT', '/v1/txn', { body: [kv({ Verb: 'set', Key: 't/big', Value: big })] });
    expect(tooBig.status).toBe(413);
  });

  it('rejects undecodable bodies with 400 Failed to parse body', async () => {
    for (const body of ['[{"KV":{"Verb":"set","Key":"a","Value":"%%%"}}]', '{nope', '[{"KV":{"Verb":"set","Key":"a","Flags":-1}}]', '[{"Nope":1}]', '']) {
      const res = await raw(server, 'PUT', '/v1/txn', { body });
      expect(res.status, body).toBe(400);
      expect(res.text).toMatch(/^Failed to parse body: /);
    }
  });

  it('refuses locks under lock-delay, held locks and empty keys before Raft', async () => {
    const s1 = await createSession(server, { LockDelay: '10s' });
    const s2 = await createSession(server);
    await raw(server, 'PUT', `/v1/kv/t/lock?acquire=${s1}`, { body: 'x' });
    const held = await raw(server, 'PUT', '/v1/txn', { body: [kv({ Verb: 'lock', Key: 't/lock', Session: s2 })] });
    expect(held.json<{ Errors: Array<{ What: string }> }>().Errors[0]?.What).toBe('failed to lock key "t/lock", lock is already held');
    await raw(server, 'PUT', `/v1/session/destroy/${s1}`);
    const delayed = await raw(server, 'PUT', '/v1/txn', { body: [kv({ Verb: 'lock', Key: 't/lock', Session: s2 })] });
    expect(delayed.status).toBe(409);
    expect(delayed.json<{ Errors: Array<{ What: string }> }>().Errors[0]?.What).toBe('failed to lock key "t/lock" due to lock delay');
    const empty = await raw(server, 'PUT', '/v1/txn', { body: [kv({ Verb: 'set', Key: '' })] });
    expect(empty.json<{ Errors: Array<{ What: string }> }>().Errors[0]?.What).toBe('Must provide key');
    const deletes = await raw(server, 'PUT', '/v1/txn', { body: [kv({ Verb: 'delete', Key: 't/none' }), kv({ Verb: 'delete-tree', Key: 't/p/' })] });
    expect(deletes.json()).toEqual({ Results: [], Errors: null });
    await raw(server, 'PUT', `/v1/session/destroy/${s2}`);
  });
});
