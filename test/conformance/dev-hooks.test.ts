/**
 * Dev-server-only conformance: the same Consul rules checked with a lowered `sessionTtlMin`
 * (so TTL × 2 takes about 2 s instead of 20 s), and through the fault hooks (session
 * invalidation, forced check status, leaderless windows, pause, restart). The spec sections are
 * kv-sessions-blocking.md §4.3, §4.5 and agent-health-catalog-events.md §10.
 */
import { expect, it } from 'vitest';
import { b64, describeConformance, expectBool, type ConformanceContext } from '../support/conformance.js';
import { consulIndex, kvPath, pause, waitFor, type ConsulResponse } from '../support/target.js';

async function exists(ctx: ConformanceContext, id: string): Promise<boolean> {
  const res = await ctx.req('GET', `/v1/session/info/${id}`);
  expect(res.status, res.text).toBe(200);
  return (res.json() as unknown[]).length === 1;
}

describeConformance(
  'Session TTLs with sessionTtlMin lowered to 1s',
  (ctx) => {
    it('#29 the lowered minimum is enforced with the same message shape', async () => {
      const res = await ctx.req('PUT', '/v1/session/create', { body: { TTL: '500ms' } });
      expect(res.status).toBe(500);
      expect(res.text).toContain("Invalid Session TTL '500000000', must be between [1s=24h0m0s]");
      const ok = await ctx.req('PUT', '/v1/session/create', { body: { TTL: '1s' } });
      expect(ok.status, ok.text).toBe(200);
    });

    it('#54 a 1 s TTL session outlives its TTL, is gone within 2×TTL, and releases its lock with lock-delay', async () => {
      const key = ctx.key();
      const sid = await ctx.session({ TTL: '1s', LockDelay: '1s' });
      const other = await ctx.session();
      const createdAt = Date.now();
      expectBool(await ctx.putKey(key, 'x', `acquire=${sid}`), true);
      const held = (await ctx.getKey(key)).entry!;
      await pause(1_200);
      expect(await exists(ctx, sid)).toBe(true);
      await waitFor(async () => !(await exists(ctx, sid)), { timeout: 3_000, interval: 50 });
      expect(Date.now() - createdAt).toBeGreaterThanOrEqual(1_950);
      const res = await ctx.req('GET', kvPath(key));
      const entry = (res.json() as Array<Record<string, unknown>>)[0]!;
      expect(entry).not.toHaveProperty('Session');
      expect(entry.ModifyIndex as number).toBeGreaterThan(held.ModifyIndex);
      expect(JSON.parse((await ctx.putKey(key, 'y', `acquire=${other}`)).text)).toBe(false);
    });

    it('#55 renewing a 1 s TTL session keeps it alive well past 2×TTL', async () => {
      const sid = await ctx.session({ TTL: '1s' });
      const until = Date.now() + 3_500;
      while (Date.now() < until) {
        await pause(400);
        expect((await ctx.req('PUT', `/v1/session/renew/${sid}`)).status).toBe(200);
      }
      expect(await exists(ctx, sid)).toBe(true);
    });

    it('#38 a renew restarts the full TTL × 2 window', async () => {
      const sid = await ctx.session({ TTL: '1s' });
      await pause(1_500);
      expect((await ctx.req('PUT', `/v1/session/renew/${sid}`)).status).toBe(200);
      const renewedAt = Date.now();
      await pause(1_500); // 3 s after create: gone without the renew
      expect(await exists(ctx, sid)).toBe(true);
      await waitFor(async () => !(await exists(ctx, sid)), { timeout: 3_000, interval: 50 });
      expect(Date.now() - renewedAt).toBeGreaterThanOrEqual(1_950);
    });

    it('#37 renewing an expired session answers 404', async () => {
      const sid = await ctx.session({ TTL: '1s' });
      await waitFor(async () => !(await exists(ctx, sid)), { timeout: 4_000, interval: 50 });
      const res = await ctx.req('PUT', `/v1/session/renew/${sid}`);
      expect(res.status).toBe(404);
      expect(res.text).toBe(`Session id '${sid}' not found`);
    });
  },
  { devOnly: true, dev: { sessionTtlMin: '1s' } },
);

describeConformance(
  'Dev server fault hooks',
  (ctx) => {
    const dev = () => {
      const d = ctx.target.dev;
      if (d === undefined) throw new Error('not a dev server');
      return d;
    };

    it('#50 invalidateSession releases the lock like a TTL expiry, with lock-delay', async () => {
      const key = ctx.key();
      const s1 = await ctx.session({ LockDelay: '1s' });
      const s2 = await ctx.session();
      await ctx.putKey(key, 'x', `acquire=${s1}`);
      const held = (await ctx.getKey(key)).entry!;
      await dev().invalidateSession(s1);
      expect(await exists(ctx, s1)).toBe(false);
      const entry = (await ctx.getKey(key)).entry!;
      expect(entry.Session).toBeUndefined();
      expect(entry).toMatchObject({ LockIndex: 1, Value: b64('x') });
      expect(entry.ModifyIndex).toBeGreaterThan(held.ModifyIndex);
      expectBool(await ctx.putKey(key, 'y', `acquire=${s2}`), false);
      await waitFor(async () => JSON.parse((await ctx.putKey(key, 'y', `acquire=${s2}`)).text) === true, {
        timeout: 4_000,
        interval: 50,
      });
    });

    it('#52 a 120 s LockDelay is applied capped at 60 s (read through the state view)', async () => {
      const released = ctx.key('released');
      const deleted = ctx.key('deleted');
      const s1 = await ctx.session({ LockDelay: '120s' });
      const s2 = await ctx.session({ LockDelay: '2m', Behavior: 'delete' });
      await ctx.putKey(released, 'x', `acquire=${s1}`);
      await ctx.putKey(deleted, 'x', `acquire=${s2}`);
      await ctx.req('PUT', `/v1/session/destroy/${s1}`);
      await dev().invalidateSession(s2);
      for (const key of [released, deleted]) {
        const remaining = dev().state.lockDelayMs(key);
        expect(remaining, key).toBeGreaterThan(55_000);
        expect(remaining, key).toBeLessThanOrEqual(60_000);
      }
    });

    it('#53 invalidateSession on a delete-behaviour session deletes its keys', async () => {
      const key = ctx.key();
      const s1 = await ctx.session({ Behavior: 'delete', LockDelay: '0s' });
      await ctx.putKey(key, 'x', `acquire=${s1}`);
      await dev().invalidateSession(s1);
      expect((await ctx.getKey(key)).entry).toBeUndefined();
    });

    it('#A54 serfHealth turning critical invalidates every session bound to it; new ones are refused', async () => {
      const key = ctx.key();
      const bound = await ctx.session({ LockDelay: '0s' }); // default: bound to serfHealth
      const unbound = await ctx.session({ NodeChecks: [] });
      await ctx.putKey(key, 'x', `acquire=${bound}`);
      try {
        await dev().setCheckStatus('serfHealth', 'critical');
        expect(await exists(ctx, bound)).toBe(false);
        expect(await exists(ctx, unbound)).toBe(true);
        expect((await ctx.getKey(key)).entry!.Session).toBeUndefined();
        const refused = await ctx.req('PUT', '/v1/session/create');
        expect(refused.status).toBe(500);
        expect(refused.text).toContain("Check 'serfHealth' is in critical state");
      } finally {
        await dev().setCheckStatus('serfHealth', 'passing');
      }
      await ctx.session();
    });

    it('#A54 forcing an agent check to warning keeps its sessions, critical ends them', async () => {
      const name = `hook-${ctx.base.replace(/[^a-z0-9]/gi, '')}`;
      expect((await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: name, TTL: '30s', Status: 'passing' } })).status).toBe(200);
      try {
        const sid = await ctx.session({ NodeChecks: [name] });
        await dev().setCheckStatus(name, 'warning');
        expect(await exists(ctx, sid)).toBe(true);
        await dev().setCheckStatus(name, 'critical', 'forced');
        expect(await exists(ctx, sid)).toBe(false);
        const checks = (await ctx.req('GET', '/v1/agent/checks')).json() as Record<string, { Status: string; Output: string }>;
        expect(checks[name]).toMatchObject({ Status: 'critical', Output: 'forced' });
      } finally {
        await ctx.req('PUT', `/v1/agent/check/deregister/${name}`);
      }
    });

    it('leaderless: writes and default reads fail with 500 No cluster leader; stale reads still answer', async () => {
      const key = ctx.key();
      await ctx.putKey(key, 'v');
      dev().leaderless();
      try {
        const put = await ctx.putKey(key, 'w');
        expect(put.status).toBe(500);
        expect(put.text).toContain('No cluster leader');
        const get = await ctx.req('GET', kvPath(key));
        expect(get.status).toBe(500);
        expect(get.text).toContain('No cluster leader');
        const stale = await ctx.req('GET', kvPath(key, 'stale'));
        expect(stale.status).toBe(200);
        expect(stale.header('x-consul-knownleader')).toBe('false');
        expect((stale.json() as Array<{ Value: string }>)[0]?.Value).toBe(b64('v'));
        const leader = await ctx.req('GET', '/v1/status/leader');
        expect(leader.json()).toBe('');
      } finally {
        dev().restoreLeader();
      }
      expectBool(await ctx.putKey(key, 'w'), true);
      expect((await ctx.req('GET', '/v1/status/leader')).json()).not.toBe('');
    });

    it('leaderless(ms) restores the leader by itself', async () => {
      dev().leaderless(300);
      expect((await ctx.putKey(ctx.key(), 'v')).status).toBe(500);
      await waitFor(async () => (await ctx.putKey(ctx.key(), 'v')).status === 200, { timeout: 3_000, interval: 50 });
    });

    it('pause holds requests until resume, then answers them', async () => {
      const key = ctx.key();
      await ctx.putKey(key, 'v');
      dev().pause();
      let settled: ConsulResponse | undefined;
      const pending = ctx.req('GET', kvPath(key)).then((r) => (settled = r));
      try {
        await pause(300);
        expect(settled).toBeUndefined();
      } finally {
        dev().resume();
      }
      const res = await pending;
      expect(res.status).toBe(200);
    });

    it('restart keeping state keeps KV, sessions and the index, and forgets lock-delays', async () => {
      const key = ctx.key();
      const s1 = await ctx.session({ LockDelay: '60s' });
      const s2 = await ctx.session();
      await ctx.putKey(key, 'x', `acquire=${s1}`);
      await ctx.req('PUT', `/v1/session/destroy/${s1}`);
      expectBool(await ctx.putKey(key, 'y', `acquire=${s2}`), false);
      const before = consulIndex(await ctx.req('GET', kvPath(key)));
      await dev().restart({ keepState: true });
      const after = await ctx.req('GET', kvPath(key));
      expect(after.status).toBe(200);
      expect(consulIndex(after)).toBeGreaterThanOrEqual(before);
      expect(await exists(ctx, s2)).toBe(true);
      // §4.5: lock-delays live in the leader's memory only and are lost on restart.
      expectBool(await ctx.putKey(key, 'y', `acquire=${s2}`), true);
    });

    it('restart without state starts from an empty store on the same URL', async () => {
      const key = ctx.key();
      await ctx.putKey(key, 'x');
      const url = ctx.target.url;
      await dev().restart({ keepState: false });
      expect(dev().url).toBe(url);
      expect((await ctx.getKey(key)).entry).toBeUndefined();
      const list = await ctx.req('GET', '/v1/session/list');
      expect(list.json()).toEqual([]);
    });
  },
  { devOnly: true },
);
