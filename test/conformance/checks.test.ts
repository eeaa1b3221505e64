/**
 * Conformance: agent checks registered with `/v1/agent/check/register`, TTL updates, sessions
 * bound to checks and ACLs (agent-health-catalog-events.md §1.3, §3, §4, §10; agent checklist
 * items A10, A12–A15, A18, A19, A21–A23, A33, A53–A57). Agent checklist numbers carry an `A`.
 * Items that need agent services, the catalog or health queries are a later task.
 */
import { afterEach, expect, it } from 'vitest';
import { b64, describeConformance, expectBool, expectError, type ConformanceContext, type SessionJson } from '../support/conformance.js';
import { consulFetch, kvPath, startTarget, waitFor } from '../support/target.js';
import type { HealthCheck } from '../../src/transport/index.js';

/** A check as `/v1/agent/checks` lists it: the fields the client's HealthCheck reads. */
type AgentCheck = HealthCheck;

/** Check helpers bound to a context; registered checks are deregistered after each test. */
function checkHelpers(ctx: ConformanceContext) {
  let created: string[] = [];
  afterEach(async () => {
    const ids = created;
    created = [];
    for (const id of ids) await ctx.req('PUT', `/v1/agent/check/deregister/${encodeURIComponent(id)}`);
  });
  let n = 0;
  return {
    /** A check name unique to this run (names double as IDs). */
    name(label = 'chk'): string {
      n += 1;
      return `${label}-${ctx.base.replace(/[^a-z0-9]/gi, '')}-${n}`;
    },
    async register(body: Record<string, unknown>): Promise<string> {
      const res = await ctx.req('PUT', '/v1/agent/check/register', { body });
      expect(res.status, res.text).toBe(200);
      const id = (body.ID ?? body.Name) as string;
      created.push(id);
      return id;
    },
    /** Deregister `id` after the test (for checks registered with a raw request). */
    track(id: string): void {
      created.push(id);
    },
    forget(id: string): void {
      created = created.filter((c) => c !== id);
    },
    async get(id: string): Promise<AgentCheck | undefined> {
      const res = await ctx.req('GET', '/v1/agent/checks');
      expect(res.status).toBe(200);
      return (res.json() as Record<string, AgentCheck>)[id];
    },
    async update(verb: 'pass' | 'warn' | 'fail', id: string, note?: string) {
      const q = note === undefined ? '' : `?note=${encodeURIComponent(note)}`;
      return ctx.req('PUT', `/v1/agent/check/${verb}/${encodeURIComponent(id)}${q}`);
    },
  };
}

async function sessionInfo(ctx: ConformanceContext, id: string): Promise<SessionJson | undefined> {
  const res = await ctx.req('GET', `/v1/session/info/${id}`);
  expect(res.status).toBe(200);
  return (res.json() as SessionJson[])[0];
}

describeConformance('Agent checks', (ctx) => {
  const checks = checkHelpers(ctx);

  it('#A21 a registered check gets ID = Name, status critical, no service and type ttl', async () => {
    const name = checks.name('disk');
    const res = await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: name, TTL: '30s', Notes: 'n' } });
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe('');
    expect(res.header('content-type')).toBeUndefined();
    checks.track(name);
    const check = await checks.get(name);
    expect(check).toMatchObject({
      CheckID: name,
      Name: name,
      Status: 'critical',
      Notes: 'n',
      ServiceID: '',
      ServiceName: '',
      ServiceTags: [],
      Type: 'ttl',
      Node: ctx.target.nodeName,
    });
  });

  it('#A21 an explicit ID and Status are kept', async () => {
    const name = checks.name('named');
    const id = await checks.register({ ID: `${name}-id`, Name: name, TTL: '30s', Status: 'passing' });
    expect(await checks.get(id)).toMatchObject({ CheckID: id, Name: name, Status: 'passing' });
  });

  it('#A22 a missing Name or a bad Status answers 400', async () => {
    expectError(await ctx.req('PUT', '/v1/agent/check/register', { body: { TTL: '30s' } }), 400, 'Missing check name');
    const bad = await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: checks.name(), TTL: '30s', Status: 'nope' } });
    expectError(bad, 400, 'Bad check status');
  });

  it('#A23 a ServiceID not registered on the agent answers 404', async () => {
    const res = await ctx.req('PUT', '/v1/agent/check/register', {
      body: { Name: checks.name(), TTL: '30s', ServiceID: 'ghost' },
    });
    expectError(res, 404, 'ServiceID "ghost" does not exist');
  });

  it('#A10 pass with a note sets passing and the note becomes Output; the reply is empty', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s' });
    const res = await checks.update('pass', id, 'ok');
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe('');
    expect(await checks.get(id)).toMatchObject({ Status: 'passing', Output: 'ok', Notes: '' });
    await checks.update('warn', id, 'meh');
    expect(await checks.get(id)).toMatchObject({ Status: 'warning', Output: 'meh' });
    await checks.update('fail', id);
    expect(await checks.get(id)).toMatchObject({ Status: 'critical', Output: '' });
  });

  it('#A12 update sets Status and Output from a JSON body', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s' });
    const res = await ctx.req('PUT', `/v1/agent/check/update/${id}`, { body: { Status: 'passing', Output: 'hi' } });
    expect(res.status, res.text).toBe(200);
    expect(await checks.get(id)).toMatchObject({ Status: 'passing', Output: 'hi' });
  });

  it('#A13 update with a bad status or an unknown field answers 400', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s' });
    expectError(
      await ctx.req('PUT', `/v1/agent/check/update/${id}`, { body: { Status: 'bogus' } }),
      400,
      "Invalid check status: 'bogus'",
    );
    expectError(
      await ctx.req('PUT', `/v1/agent/check/update/${id}`, { body: { Status: 'passing', Nope: 1 } }),
      400,
      'Request decode failed:',
    );
    expect((await checks.get(id))?.Status).toBe('critical');
  });

  it('#A14 updating an unknown check answers 404 with the ID hint', async () => {
    for (const verb of ['pass', 'warn', 'fail'] as const) {
      const res = await checks.update(verb, 'nope');
      expectError(res, 404, 'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.');
    }
    const res = await ctx.req('PUT', '/v1/agent/check/update/nope', { body: { Status: 'passing' } });
    expectError(res, 404, 'Unknown check ID "nope"');
  });

  it('#A15 a TTL update on a non-TTL check answers 500', async () => {
    const id = await checks.register({ Name: checks.name('c1'), HTTP: 'http://127.0.0.1:1/health', Interval: '10s' });
    const res = await checks.update('pass', id);
    expectError(res, 500, `CheckID "${id}" does not have associated TTL`);
  });

  it('#A14 deregistering an unknown check answers 404; a known one 200 with an empty body', async () => {
    expectError(await ctx.req('PUT', '/v1/agent/check/deregister/nope'), 404, 'Unknown check ID "nope"');
    const name = checks.name();
    await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: name, TTL: '30s' } });
    const res = await ctx.req('PUT', `/v1/agent/check/deregister/${name}`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(await checks.get(name)).toBeUndefined();
  });

  it('#A18 a TTL check not renewed in time turns critical with the expiry output', async () => {
    const updated = await checks.register({ Name: checks.name('ttl'), TTL: '1s' });
    const never = await checks.register({ Name: checks.name('ttl'), TTL: '1s' });
    await checks.update('pass', updated, 'x');
    expect((await checks.get(updated))?.Status).toBe('passing');
    const expired = await waitFor(
      async () => {
        const c = await checks.get(updated);
        return c?.Status === 'critical' ? c : undefined;
      },
      { timeout: 5_000, interval: 100 },
    );
    expect(expired.Output).toBe('TTL expired (last output before timeout follows): x');
    await waitFor(async () => (await checks.get(never))?.Output === 'TTL expired', { timeout: 5_000, interval: 100 });
    expect((await checks.get(never))?.Status).toBe('critical');
  });

  it('#A19 an output above 4096 bytes is cut and annotated', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s' });
    const note = 'a'.repeat(5000);
    expect((await checks.update('pass', id, note)).status).toBe(200);
    const output = (await checks.get(id))!.Output;
    expect(output).toBe(`${'a'.repeat(4096)} ... (captured 4096 of 5000 bytes)`);
  });

  it('#A53 a session cannot bind a critical or an unknown check', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s' });
    const critical = await ctx.req('PUT', '/v1/session/create', { body: { Checks: [id] } });
    expect(critical.status).toBe(500);
    expect(critical.text).toContain(`Check '${id}' is in critical state`);
    const unknown = await ctx.req('PUT', '/v1/session/create', { body: { Checks: ['x-unknown'] } });
    expect(unknown.status).toBe(500);
    expect(unknown.text).toContain("Missing check 'x-unknown' registration");
  });

  it('#A53 non-default Checks without NodeChecks bind those checks plus serfHealth', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s', Status: 'passing' });
    const sid = await ctx.session({ Checks: [id] });
    const s = await sessionInfo(ctx, sid);
    const bound = [...(s?.NodeChecks ?? []), ...(s?.Checks ?? [])];
    expect(new Set(bound)).toEqual(new Set([id, 'serfHealth']));
  });

  it('#A54 a bound check turning critical invalidates the session and releases its lock', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s', Status: 'passing' });
    const sid = await ctx.session({ NodeChecks: ['serfHealth', id], LockDelay: '0s' });
    const key = ctx.key();
    expectBool(await ctx.putKey(key, 'v', `acquire=${sid}`), true);
    expect((await checks.update('fail', id)).status).toBe(200);
    expect(await sessionInfo(ctx, sid)).toBeUndefined();
    const res = await ctx.req('GET', kvPath(key));
    const entry = (res.json() as Array<Record<string, unknown>>)[0]!;
    expect(entry).not.toHaveProperty('Session');
    expect(entry.Value).toBe(b64('v'));
  });

  it('#A54 a bound check turning warning leaves the session alive', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s', Status: 'passing' });
    const sid = await ctx.session({ NodeChecks: [id] });
    expect((await checks.update('warn', id)).status).toBe(200);
    expect((await sessionInfo(ctx, sid))?.ID).toBe(sid);
    expect((await ctx.req('PUT', '/v1/agent/check/update/' + id, { body: { Status: 'critical' } })).status).toBe(200);
    expect(await sessionInfo(ctx, sid)).toBeUndefined();
  });

  it('#A54 a bound check expiring by TTL invalidates the session', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '1s', Status: 'passing' });
    const sid = await ctx.session({ NodeChecks: [id] });
    await waitFor(async () => (await sessionInfo(ctx, sid)) === undefined, { timeout: 5_000, interval: 100 });
  });

  it('#A55 deregistering a bound check invalidates the session (delete behaviour deletes its key)', async () => {
    const id = await checks.register({ Name: checks.name(), TTL: '30s', Status: 'passing' });
    const sid = await ctx.session({ NodeChecks: [id], Behavior: 'delete', LockDelay: '0s' });
    const key = ctx.key();
    expectBool(await ctx.putKey(key, 'v', `acquire=${sid}`), true);
    expect((await ctx.req('PUT', `/v1/agent/check/deregister/${id}`)).status).toBe(200);
    checks.forget(id);
    expect(await sessionInfo(ctx, sid)).toBeUndefined();
    expect((await ctx.getKey(key)).entry).toBeUndefined();
  });

  it('#A56 "Checks": [] binds no check at all, so no check can invalidate it', async () => {
    const sid = await ctx.session({ Checks: [] });
    const s = await sessionInfo(ctx, sid);
    expect(s?.NodeChecks ?? []).toEqual([]);
    expect(s?.ServiceChecks ?? []).toEqual([]);
  });
});

describeConformance(
  'Agent checks on a fresh agent',
  () => {
    it('#A33 a fresh dev agent has no local checks ({}), serfHealth lives in the catalog only', async () => {
      const fresh = await startTarget({ kind: 'dev' });
      try {
        const res = await consulFetch(fresh, 'GET', '/v1/agent/checks');
        expect(res.status).toBe(200);
        expect(res.json()).toEqual({});
      } finally {
        await fresh.close();
      }
    });
  },
  { devOnly: true },
);

const ROOT = 'root-secret-for-conformance';

describeConformance(
  'ACLs (default deny, one management token)',
  (ctx) => {
    const register = (name: string, options: Parameters<ConformanceContext['req']>[2] = {}) =>
      ctx.req('PUT', '/v1/agent/check/register', { body: { Name: name, TTL: '30s' }, ...options });

    afterEach(async () => {
      const res = await ctx.req('GET', '/v1/agent/checks');
      for (const id of Object.keys(res.json() as object)) await ctx.req('PUT', `/v1/agent/check/deregister/${id}`);
    });

    it('#A57 a write without a token answers 403 Permission denied', async () => {
      const res = await register('a1', { token: null });
      expectError(res, 403, 'Permission denied');
      const kv = await ctx.req('PUT', kvPath(ctx.key()), { body: 'v', token: null });
      expectError(kv, 403, 'Permission denied');
      expect((await ctx.getKey(ctx.key())).entry).toBeUndefined();
    });

    it('#A57 the token is accepted as ?token=, X-Consul-Token or Authorization: Bearer', async () => {
      expect((await ctx.req('PUT', `/v1/agent/check/register?token=${ROOT}`, { body: { Name: 'q', TTL: '30s' }, token: null })).status).toBe(200);
      expect((await register('h', { token: null, headers: { 'X-Consul-Token': ROOT } })).status).toBe(200);
      expect((await register('b', { token: null, headers: { Authorization: `Bearer ${ROOT}` } })).status).toBe(200);
      expect((await register('b2', { token: null, headers: { Authorization: `bearer ${ROOT}` } })).status).toBe(200);
    });

    it('#A57 ?token= wins over the header', async () => {
      const queryGood = await ctx.req('PUT', `/v1/agent/check/register?token=${ROOT}`, {
        body: { Name: 'w1', TTL: '30s' },
        token: null,
        headers: { 'X-Consul-Token': 'wrong-secret' },
      });
      expect(queryGood.status, queryGood.text).toBe(200);
      const queryBad = await ctx.req('PUT', '/v1/agent/check/register?token=wrong-secret', {
        body: { Name: 'w2', TTL: '30s' },
        token: null,
        headers: { 'X-Consul-Token': ROOT },
      });
      expectError(queryBad, 403, 'ACL not found');
    });

    it('#A57 an unknown secret answers 403 ACL not found; another Authorization scheme is ignored', async () => {
      expectError(await register('u', { token: 'not-a-known-secret' }), 403, 'ACL not found');
      expectError(await register('s', { token: null, headers: { Authorization: `Basic ${ROOT}` } }), 403, 'Permission denied');
    });

    it('#A52 status endpoints do no ACL check', async () => {
      const res = await ctx.req('GET', '/v1/status/leader', { token: null });
      expect(res.status).toBe(200);
      expect(res.text.trim()).toMatch(/^"[^"]+:\d+"$/);
    });
  },
  { devOnly: true, dev: { aclToken: ROOT } },
);
