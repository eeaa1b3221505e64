/**
 * Conformance: catalog and health reads over agent-registered services (agent-health-catalog-
 * events.md §7–§9, §1.4; agent checklist items A8–A11, A34–A42). Agent checklist numbers carry an
 * `A`; `#A0` marks a rule of the spec that has no checklist number.
 */
import { expect, it } from 'vitest';
import { describeConformance, expectError } from '../support/conformance.js';
import { parkedFromNow, untilParked } from '../support/parked.js';
import { consulIndex } from '../support/target.js';
import { type HealthCheckJson, serviceHelpers, uniqueName } from '../testing/dev-server/service-helpers.js';

describeConformance('Catalog and health', (ctx) => {
  const svc = serviceHelpers(ctx);

  /** Item A6's setup: service `<name>` with instance `<name>-1` and a critical TTL check. */
  const registerWeb = async (extra: Record<string, unknown> = {}): Promise<{ name: string; id: string }> => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Check: { TTL: '30s' }, ...extra });
    return { name, id };
  };

  it('#A8 a health entry carries the node-level serfHealth and the instance check, node checks first', async () => {
    const { name, id } = await registerWeb();
    const { res, entries } = await svc.health(name);
    expect(res.header('x-consul-index')).toMatch(/^[1-9]\d*$/);
    expect(res.header('x-consul-knownleader')).toBe('true');
    expect(res.header('x-consul-effective-consistency')).toBe('leader');
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry.Node.Node).toBe(ctx.target.nodeName);
    expect(entry.Service).toMatchObject({ ID: id, Service: name, Tags: [] });
    const checks = entry.Checks.map((c) => [c.CheckID, c.Status]);
    expect(checks).toEqual([
      ['serfHealth', 'passing'],
      [`service:${id}`, 'critical'],
    ]);
  });

  it('#A9 ?passing drops an instance with a critical check', async () => {
    const { name } = await registerWeb();
    expect((await svc.health(name, '?passing')).entries).toEqual([]);
    expect((await svc.health(name, '?passing=false')).entries).toHaveLength(1);
  });

  it('#A10 a pass reaches the catalog before the reply: passing with the note as Output, ?passing lists it', async () => {
    const { name, id } = await registerWeb();
    const res = await ctx.req('PUT', `/v1/agent/check/pass/service:${id}?note=ok`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    const check = await svc.catalogCheck(`service:${id}`);
    expect(check).toMatchObject({ Status: 'passing', Output: 'ok', ServiceName: name });
    expect((await svc.health(name, '?passing')).entries).toHaveLength(1);
    expect((await svc.health(name, '?passing=1')).entries).toHaveLength(1);
  });

  it('#A11 warning is not passing', async () => {
    const { name, id } = await registerWeb({ Check: { TTL: '30s', Status: 'passing' } });
    expect((await svc.health(name, '?passing')).entries).toHaveLength(1);
    expect((await ctx.req('PUT', `/v1/agent/check/warn/service:${id}`)).status).toBe(200);
    expect((await svc.health(name, '?passing')).entries).toEqual([]);
    expect((await svc.health(name)).entries[0]?.Checks.find((c) => c.CheckID === `service:${id}`)?.Status).toBe('warning');
  });

  it('#A34 /v1/catalog/services merges the tags of all instances, each once', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, ID: `${name}-1`, Tags: ['a', 'b'] });
    await svc.register({ Name: name, ID: `${name}-2`, Tags: ['b', 'c'] });
    const res = await ctx.req('GET', '/v1/catalog/services');
    expect(res.status).toBe(200);
    const services = res.json<Record<string, string[]>>();
    expect([...(services[name] ?? [])].sort()).toEqual(['a', 'b', 'c']);
    expect(services.consul).toEqual([]);
    expect(consulIndex(res)).toBeGreaterThanOrEqual(1n);
  });

  it('#A35 ?tag matches case-insensitively and every given tag must be present', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, ID: `${name}-1`, Tags: ['a', 'x'] });
    await svc.register({ Name: name, ID: `${name}-2`, Tags: ['b'] });
    expect((await svc.catalog(name, '?tag=A')).rows.map((r) => r.ServiceID)).toEqual([`${name}-1`]);
    expect((await svc.catalog(name, '?tag=a&tag=zz')).rows).toEqual([]);
    expect((await svc.catalog(name, '?tag=a&tag=X')).rows.map((r) => r.ServiceID)).toEqual([`${name}-1`]);
    expect((await svc.health(name, '?tag=B')).entries.map((e) => e.Service.ID)).toEqual([`${name}-2`]);
    expect((await svc.catalog(name)).rows.map((r) => r.ServiceID)).toEqual([`${name}-1`, `${name}-2`]);
  });

  it('#A36 /v1/catalog/node of an unknown node is 200 null; the agent node lists its services', async () => {
    const res = await ctx.req('GET', '/v1/catalog/node/ghost');
    expect(res.status).toBe(200);
    expect(res.json()).toBeNull();
    expectError(await ctx.req('GET', '/v1/catalog/node/'), 400, 'Missing node name');
    const name = uniqueName('web');
    await svc.register({ Name: name, Port: 81 });
    const mine = await ctx.req('GET', `/v1/catalog/node/${ctx.target.nodeName}`);
    const body = mine.json<{ Node: { Node: string }; Services: Record<string, { ID: string; Service: string; Tags: string[]; Port: number }> }>();
    expect(body.Node.Node).toBe(ctx.target.nodeName);
    expect(body.Services[name]).toMatchObject({ ID: name, Service: name, Tags: [], Port: 81 });
    const nodes = await ctx.req('GET', '/v1/catalog/nodes');
    expect(nodes.json<Array<{ Node: string }>>().map((n) => n.Node)).toContain(ctx.target.nodeName);
  });

  it('#A37 an unknown service reads 200 [] with an X-Consul-Index of at least 1', async () => {
    for (const path of ['/v1/health/service/ghost', '/v1/catalog/service/ghost', '/v1/health/checks/ghost']) {
      const res = await ctx.req('GET', path);
      expect(res.status, path).toBe(200);
      expect(res.json(), path).toEqual([]);
      expect(consulIndex(res), path).toBeGreaterThanOrEqual(1n);
    }
    expectError(await ctx.req('GET', '/v1/health/service/'), 400, 'Missing service name');
    expectError(await ctx.req('GET', '/v1/catalog/service/'), 400, 'Missing service name');
    expectError(await ctx.req('GET', '/v1/health/checks/'), 400, 'Missing service name');
  });

  it('#A38 an unparsable ?passing answers 400', async () => {
    const { name } = await registerWeb();
    expectError(await ctx.req('GET', `/v1/health/service/${name}?passing=maybe`), 400, 'Invalid value for ?passing');
  });

  it('#A39 /v1/health/state lists checks by status; any lists all; an empty state is 400', async () => {
    const { id } = await registerWeb();
    const any = (await ctx.req('GET', '/v1/health/state/any')).json<HealthCheckJson[]>();
    expect(any.map((c) => c.CheckID)).toEqual(expect.arrayContaining(['serfHealth', `service:${id}`]));
    const critical = await ctx.req('GET', '/v1/health/state/critical');
    expect(critical.status).toBe(200);
    const rows = critical.json<HealthCheckJson[]>();
    expect(rows.map((c) => c.CheckID)).toContain(`service:${id}`);
    expect(rows.every((c) => c.Status === 'critical')).toBe(true);
    expect((await ctx.req('GET', '/v1/health/state/passing')).json<HealthCheckJson[]>().every((c) => c.Status === 'passing')).toBe(true);
    expectError(await ctx.req('GET', '/v1/health/state/'), 400, 'Missing check state');
  });

  it('#A40 /v1/health/checks/:service lists only that service’s checks, never node-level ones', async () => {
    // `Check` first, then `Checks`: two checks, numbered.
    const { name, id } = await registerWeb({ Checks: [{ TTL: '30s', Status: 'passing' }] });
    const other = await registerWeb();
    const res = await ctx.req('GET', `/v1/health/checks/${name}`);
    expect(res.status).toBe(200);
    expect(consulIndex(res)).toBeGreaterThanOrEqual(1n);
    const checks = res.json<HealthCheckJson[]>();
    expect(checks.map((c) => c.CheckID).sort()).toEqual([`service:${id}:1`, `service:${id}:2`]);
    expect(checks.every((c) => c.ServiceName === name)).toBe(true);
    expect(checks.some((c) => c.CheckID === 'serfHealth' || c.ServiceName === other.name)).toBe(false);
  });

  it('#A41 a blocking /v1/catalog/services waits out its wait, or returns early with a larger index on a register', async () => {
    const first = await ctx.req('GET', '/v1/catalog/services');
    const index = consulIndex(first);
    const idle = await ctx.req('GET', `/v1/catalog/services?index=${index}&wait=1s`);
    expect(idle.status).toBe(200);
    expect(idle.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(consulIndex(idle)).toBe(index);
    const name = uniqueName('web');
    const parked = parkedFromNow(ctx.target, '/v1/catalog/services');
    const blocked = ctx.req('GET', `/v1/catalog/services?index=${index}&wait=20s`);
    await parked();
    await svc.register({ Name: name });
    const woke = await blocked;
    expect(woke.elapsedMs).toBeLessThan(15_000);
    expect(consulIndex(woke)).toBeGreaterThan(index);
    expect(Object.keys(woke.json<object>())).toContain(name);
  });

  it('#A42 a bad ?wait or ?index answers 400', async () => {
    expectError(await ctx.req('GET', '/v1/catalog/services?wait=abc'), 400, 'Invalid wait time');
    expectError(await ctx.req('GET', '/v1/catalog/services?index=x'), 400, 'Invalid index');
    expectError(await ctx.req('GET', '/v1/health/service/web?index=-1'), 400, 'Invalid index');
  });

  it('#A0 a blocking health read wakes on a status change of its service and reports the new state', async () => {
    const { name, id } = await registerWeb();
    const first = await svc.health(name);
    const index = consulIndex(first.res);
    const blocked = ctx.req('GET', `/v1/health/service/${name}?index=${index}&wait=20s`);
    await untilParked(ctx.target, `/v1/health/service/${name}`);
    // Another service's change does not move this service's index: had it woken the query, the
    // answer (already decided when the registration returns) would lack the passing status below.
    await registerWeb();
    await ctx.req('PUT', `/v1/agent/check/pass/service:${id}`);
    const woke = await blocked;
    expect(consulIndex(woke)).toBeGreaterThan(index);
    const entries = woke.json<Array<{ Checks: HealthCheckJson[] }>>();
    expect(entries[0]?.Checks.find((c) => c.CheckID === `service:${id}`)?.Status).toBe('passing');
  });

  it('#A0 an update that changes neither status nor output writes nothing: the service index stays', async () => {
    const { name, id } = await registerWeb({ Check: { TTL: '30s', Status: 'passing' } });
    const before = consulIndex((await svc.health(name)).res);
    await ctx.req('PUT', `/v1/agent/check/pass/service:${id}`);
    // Same status, same (empty) output: nothing to sync.
    expect(consulIndex((await svc.health(name)).res)).toBe(before);
  });

  it('#A0 the catalog row joins the node and shows the service fields', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, Address: '127.0.0.2', Port: 7000, Meta: { version: '2' }, Tags: ['t'] });
    const { rows } = await svc.catalog(name);
    expect(rows[0]).toMatchObject({
      Node: ctx.target.nodeName,
      ServiceID: name,
      ServiceName: name,
      ServiceTags: ['t'],
      ServiceAddress: '127.0.0.2',
      ServicePort: 7000,
      ServiceMeta: { version: '2' },
      ServiceWeights: { Passing: 1, Warning: 1 },
    });
    const health = (await svc.health(name)).entries[0]!;
    expect(health.Service).toMatchObject({ ID: name, Address: '127.0.0.2', Port: 7000, Meta: { version: '2' } });
  });
});

describeConformance(
  'Catalog and health without a leader',
  (ctx) => {
    const svc = serviceHelpers(ctx);

    it('#A0 default reads fail with 500 No cluster leader; ?stale answers from the follower view', async () => {
      const name = uniqueName('web');
      await svc.register({ Name: name });
      ctx.target.dev!.leaderless();
      try {
        expectError(await ctx.req('GET', `/v1/catalog/service/${name}`), 500, 'No cluster leader');
        expectError(await ctx.req('GET', `/v1/health/service/${name}`), 500, 'No cluster leader');
        const stale = await ctx.req('GET', `/v1/health/service/${name}?stale`);
        expect(stale.status).toBe(200);
        expect(stale.header('x-consul-knownleader')).toBe('false');
        expect(stale.header('x-consul-effective-consistency')).toBe('stale');
        // Agent writes still succeed; the catalog catches up when the leader is back.
        const later = uniqueName('web');
        await svc.register({ Name: later });
        expect((await ctx.req('GET', `/v1/catalog/service/${later}?stale`)).json()).toEqual([]);
      } finally {
        ctx.target.dev!.restoreLeader();
      }
      const services = (await ctx.req('GET', '/v1/catalog/services')).json<Record<string, string[]>>();
      expect(Object.keys(services)).toEqual(expect.arrayContaining([name]));
    });
  },
  { devOnly: true },
);
