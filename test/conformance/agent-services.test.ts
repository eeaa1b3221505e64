/**
 * Conformance: agent services, their checks and the check runtime, maintenance mode, agent
 * health reads and sessions bound to service checks (agent-health-catalog-events.md §2, §4–§7,
 * §10, §1.3; agent checklist items A1–A7, A20, A23–A33, A53–A55, A57). Agent checklist numbers
 * carry an `A`; `#A0` marks a rule of the spec that has no checklist number.
 */
import { expect, it } from 'vitest';
import { describeConformance, expectError, type SessionJson } from '../support/conformance.js';
import { untilParked } from '../support/parked.js';
import { consulFetch, pause, startTarget, waitFor } from '../support/target.js';
import { closedPort, serviceHelpers, statusServer, tcpListener, uniqueName } from '../testing/dev-server/service-helpers.js';

describeConformance('Agent services', (ctx) => {
  const svc = serviceHelpers(ctx);

  const sessionInfo = async (id: string): Promise<SessionJson | undefined> => {
    const res = await ctx.req('GET', `/v1/session/info/${id}`);
    expect(res.status).toBe(200);
    return (res.json() as SessionJson[])[0];
  };

  it('#A1 a registration answers 200 with an empty body; the agent lists it with defaults filled in', async () => {
    const name = uniqueName('web');
    const res = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: name, Port: 8080 } });
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe('');
    expect(res.header('content-type')).toBeUndefined();
    svc.track(name);
    const listed = (await svc.agentServices())[name];
    expect(listed).toMatchObject({ ID: name, Service: name, Tags: [], Meta: {}, Port: 8080, Address: '', Weights: { Passing: 1, Warning: 1 } });
  });

  it('#A2 a missing Name or an any-address answers 400', async () => {
    expectError(await ctx.req('PUT', '/v1/agent/service/register', { body: { Port: 1 } }), 400, 'Missing service name');
    for (const address of ['0.0.0.0', '::']) {
      const res = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: uniqueName('web'), Address: address } });
      expectError(res, 400, 'Invalid service address');
    }
  });

  it('#A3 a malformed or empty body answers 400 Request decode failed', async () => {
    expectError(await ctx.req('PUT', '/v1/agent/service/register', { body: '{bad' }), 400, 'Request decode failed:');
    expectError(await ctx.req('PUT', '/v1/agent/service/register', { body: '' }), 400, 'Request decode failed: EOF');
    // Check objects are decoded strictly.
    const strict = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: uniqueName('web'), Check: { TTL: '10s', Bogus: 1 } } });
    expectError(strict, 400, 'Request decode failed:');
  });

  it('#A4 an invalid check definition answers 400 Invalid check', async () => {
    const name = uniqueName('web');
    const noInterval = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: name, Check: { HTTP: 'http://127.0.0.1:1/' } } });
    expectError(noInterval, 400, 'Invalid check: Interval must be > 0');
    const both = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: name, Check: { TTL: '10s', Interval: '10s' } } });
    expectError(both, 400, 'Invalid check: Interval and TTL cannot both be specified');
    const empty = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: name, Checks: [{}] } });
    expectError(empty, 400, 'Invalid check: TTL must be > 0 for TTL checks');
    expect((await svc.agentServices())[name]).toBeUndefined();
  });

  it('#A5 a check Status other than passing/warning/critical answers 400', async () => {
    const res = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: uniqueName('web'), Check: { TTL: '10s', Status: 'bogus' } } });
    expectError(res, 400, "Status for checks must 'passing', 'warning', 'critical'");
  });

  it('#A6 a service check gets ID service:<id>, a default name, status critical and the service fields', async () => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Tags: ['t1'], Check: { TTL: '10s' } });
    const check = (await svc.agentChecks())[`service:${id}`];
    expect(check).toMatchObject({
      CheckID: `service:${id}`,
      Name: `Service '${name}' check`,
      Status: 'critical',
      ServiceID: id,
      ServiceName: name,
      ServiceTags: ['t1'],
      Type: 'ttl',
      Node: ctx.target.nodeName,
    });
  });

  it('#A7 several checks are numbered service:<id>:<n> in order, each with its own status', async () => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Checks: [{ TTL: '10s' }, { TTL: '20s', Status: 'passing' }] });
    const checks = await svc.agentChecks();
    expect(checks[`service:${id}:1`]?.Status).toBe('critical');
    expect(checks[`service:${id}:2`]?.Status).toBe('passing');
    // An explicit CheckID and Name are used as given; an empty Check object is ignored.
    const other = uniqueName('web');
    await svc.register({ Name: other, Check: {}, Checks: [{ CheckID: `${other}-chk`, Name: 'mine', TTL: '10s' }] });
    const again = await svc.agentChecks();
    expect(again[`${other}-chk`]).toMatchObject({ Name: 'mine', ServiceID: other });
    expect(again[`service:${other}`]).toBeUndefined();
  });

  it('#A20 re-registering the same definition keeps a passing check passing', async () => {
    const name = uniqueName('web');
    const def = { Name: name, ID: `${name}-1`, Check: { TTL: '30s' } };
    await svc.register(def);
    expect((await ctx.req('PUT', `/v1/agent/check/pass/service:${def.ID}?note=fine`)).status).toBe(200);
    await svc.register(def);
    expect((await svc.agentChecks())[`service:${def.ID}`]).toMatchObject({ Status: 'passing', Output: 'fine' });
    expect((await svc.catalogCheck(`service:${def.ID}`))?.Status).toBe('passing');
  });

  it('#A0 ?replace-existing-checks drops the checks missing from the new definition; without it they stay', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, Checks: [{ CheckID: `${name}-a`, TTL: '30s' }, { CheckID: `${name}-b`, TTL: '30s' }] });
    await svc.register({ Name: name, Checks: [{ CheckID: `${name}-a`, TTL: '30s' }] });
    expect(Object.keys(await svc.agentChecks())).toEqual(expect.arrayContaining([`${name}-a`, `${name}-b`]));
    await svc.register({ Name: name, Checks: [{ CheckID: `${name}-a`, TTL: '30s' }] }, '?replace-existing-checks');
    const checks = await svc.agentChecks();
    expect(checks[`${name}-a`]).toBeDefined();
    expect(checks[`${name}-b`]).toBeUndefined();
    expect(await svc.catalogCheck(`${name}-b`)).toBeUndefined();
  });

  it('#A23 a check registered against a known ServiceID takes the service name and tags', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, Tags: ['x'] });
    const res = await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: `${name}-extra`, TTL: '30s', ServiceID: name } });
    expect(res.status, res.text).toBe(200);
    expect((await svc.agentChecks())[`${name}-extra`]).toMatchObject({ ServiceID: name, ServiceName: name, ServiceTags: ['x'] });
    const ghost = await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: uniqueName('c'), TTL: '30s', ServiceID: 'ghost' } });
    expectError(ghost, 404, 'ServiceID "ghost" does not exist');
  });

  it('#A24 deregistering an unknown service answers 404 with the ID hint', async () => {
    const res = await ctx.req('PUT', '/v1/agent/service/deregister/ghost');
    expectError(res, 404, 'Unknown service ID "ghost". Ensure that the service ID is passed, not the service name.');
  });

  it('#A25 deregistering removes the service and its checks from the agent and the catalog before the reply', async () => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Check: { TTL: '30s' } });
    expect((await svc.catalog(name)).rows.map((r) => r.ServiceID)).toEqual([id]);
    const res = await ctx.req('PUT', `/v1/agent/service/deregister/${id}`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    svc.forget(id);
    expect((await svc.catalog(name)).rows).toEqual([]);
    expect((await svc.agentChecks())[`service:${id}`]).toBeUndefined();
    expect((await svc.agentServices())[id]).toBeUndefined();
    expect(await svc.catalogCheck(`service:${id}`)).toBeUndefined();
  });

  it('#A26 service maintenance adds a critical maintenance check and takes the service out of ?passing', async () => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Check: { TTL: '30s', Status: 'passing' } });
    expect((await svc.health(name, '?passing')).entries).toHaveLength(1);
    const res = await ctx.req('PUT', `/v1/agent/service/maintenance/${id}?enable=true`);
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe('');
    const check = (await svc.agentChecks())[`_service_maintenance:${id}`];
    expect(check).toMatchObject({
      Status: 'critical',
      Name: 'Service Maintenance Mode',
      Type: 'maintenance',
      ServiceID: id,
      ServiceName: name,
      Notes: 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.',
    });
    expect((await svc.health(name, '?passing')).entries).toEqual([]);
    // Enabling again is a no-op; disabling removes the check.
    expect((await ctx.req('PUT', `/v1/agent/service/maintenance/${id}?enable=true&reason=other`)).status).toBe(200);
    expect((await svc.agentChecks())[`_service_maintenance:${id}`]?.Notes).toMatch(/^Maintenance mode is enabled/);
    expect((await ctx.req('PUT', `/v1/agent/service/maintenance/${id}?enable=false`)).status).toBe(200);
    expect((await svc.agentChecks())[`_service_maintenance:${id}`]).toBeUndefined();
    expect((await svc.health(name, '?passing')).entries).toHaveLength(1);
    // A reason becomes the Notes.
    await ctx.req('PUT', `/v1/agent/service/maintenance/${id}?enable=true&reason=${encodeURIComponent('deploying v2')}`);
    expect((await svc.agentChecks())[`_service_maintenance:${id}`]?.Notes).toBe('deploying v2');
  });

  it('#A27 a missing or unparsable enable answers 400; an unknown service 404', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name });
    expectError(await ctx.req('PUT', `/v1/agent/service/maintenance/${name}`), 400, 'Missing value for enable');
    expectError(await ctx.req('PUT', `/v1/agent/service/maintenance/${name}?enable=maybe`), 400, 'Invalid value for enable: "maybe"');
    expectError(await ctx.req('PUT', '/v1/agent/service/maintenance/ghost?enable=true'), 404, 'Unknown service ID "ghost"');
  });

  it('#A28 node maintenance adds a critical _node_maintenance check; every service on the node fails ?passing', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, Check: { TTL: '30s', Status: 'passing' } });
    expect((await svc.health(name, '?passing')).entries).toHaveLength(1);
    svc.trackNodeMaintenance();
    const res = await ctx.req('PUT', '/v1/agent/maintenance?enable=true&reason=r');
    expect(res.status, res.text).toBe(200);
    expect((await svc.agentChecks())._node_maintenance).toMatchObject({
      Status: 'critical',
      Notes: 'r',
      Name: 'Node Maintenance Mode',
      Type: 'maintenance',
      ServiceID: '',
    });
    const { entries } = await svc.health(name);
    expect(entries[0]?.Checks.map((c) => c.CheckID)).toContain('_node_maintenance');
    expect((await svc.health(name, '?passing')).entries).toEqual([]);
    expectError(await ctx.req('PUT', '/v1/agent/maintenance'), 400, 'Missing value for enable');
    expect((await ctx.req('PUT', '/v1/agent/maintenance?enable=false')).status).toBe(200);
    expect((await svc.agentChecks())._node_maintenance).toBeUndefined();
    expect((await svc.health(name, '?passing')).entries).toHaveLength(1);
  });

  it('#A29 a service in maintenance reads 503 with X-Consul-Reason: maintenance from the agent', async () => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Check: { TTL: '30s', Status: 'passing' } });
    await ctx.req('PUT', `/v1/agent/service/maintenance/${id}?enable=true`);
    const res = await ctx.req('GET', `/v1/agent/health/service/name/${name}`);
    expect(res.status).toBe(503);
    expect(res.header('x-consul-reason')).toBe('maintenance');
    const body = res.json<Array<{ AggregatedStatus: string; Service: { ID: string }; Checks: Array<{ CheckID: string }> }>>();
    expect(body).toHaveLength(1);
    expect(body[0]).toMatchObject({ AggregatedStatus: 'maintenance', Service: { ID: id } });
    const text = await ctx.req('GET', `/v1/agent/health/service/name/${name}?format=text`);
    expect([text.status, text.text]).toEqual([503, 'maintenance']);
    const byId = await ctx.req('GET', `/v1/agent/health/service/id/${id}`);
    expect(byId.status).toBe(503);
    expect(byId.json<{ AggregatedStatus: string }>().AggregatedStatus).toBe('maintenance');
  });

  it('#A30 an unknown service name reads 404 with body [] and a Not Found reason', async () => {
    const res = await ctx.req('GET', '/v1/agent/health/service/name/ghost');
    expect(res.status).toBe(404);
    expect(res.json()).toEqual([]);
    expect(res.header('x-consul-reason')).toBe('ServiceName ghost Not Found');
    const byId = await ctx.req('GET', '/v1/agent/health/service/id/ghost');
    expect(byId.status).toBe(404);
    expect(byId.json()).toMatchObject({ AggregatedStatus: 'critical', Service: null, Checks: null });
    const text = await ctx.req('GET', '/v1/agent/health/service/id/ghost', { headers: { Accept: 'text/plain' } });
    expect([text.status, text.text]).toEqual([404, 'ServiceId ghost not found']);
  });

  it('#A31 the agent health status is the worst over the instances: warning 429, passing 200, critical 503', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, ID: `${name}-1`, Check: { TTL: '30s', Status: 'passing' } });
    expect((await ctx.req('GET', `/v1/agent/health/service/name/${name}`)).status).toBe(200);
    await ctx.req('PUT', `/v1/agent/check/warn/service:${name}-1`);
    const warn = await ctx.req('GET', `/v1/agent/health/service/name/${name}`);
    expect([warn.status, warn.header('x-consul-reason')]).toEqual([429, 'warning']);
    await svc.register({ Name: name, ID: `${name}-2`, Check: { TTL: '30s' } });
    const worst = await ctx.req('GET', `/v1/agent/health/service/name/${name}`);
    expect([worst.status, worst.header('x-consul-reason')]).toEqual([503, 'critical']);
    expect(worst.json<unknown[]>()).toHaveLength(2);
  });

  it('#A32 reading an unknown service ID answers 404; a known one carries its ContentHash', async () => {
    expectError(await ctx.req('GET', '/v1/agent/service/ghost'), 404, 'unknown service ID: ghost');
    const name = uniqueName('web');
    await svc.register({ Name: name, Tags: ['a'], Port: 80 });
    const res = await ctx.req('GET', `/v1/agent/service/${name}`);
    expect(res.status).toBe(200);
    const body = res.json<{ ID: string; ContentHash: string }>();
    expect(body).toMatchObject({ ID: name, Service: name, Tags: ['a'], Port: 80 });
    expect(body.ContentHash).toMatch(/^[0-9a-f]+$/);
    expect(res.header('x-consul-contenthash')).toBe(body.ContentHash);
  });

  it('#A0 /v1/agent/service/:id?hash= blocks until the service changes', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, Tags: ['a'] });
    const first = await ctx.req('GET', `/v1/agent/service/${name}`);
    const hash = first.header('x-consul-contenthash')!;
    const same = await ctx.req('GET', `/v1/agent/service/${name}?hash=${hash}&wait=200ms`);
    expect(same.header('x-consul-contenthash')).toBe(hash);
    const blocked = ctx.req('GET', `/v1/agent/service/${name}?hash=${hash}&wait=30s`);
    await untilParked(ctx.target, `/v1/agent/service/${name}`);
    await svc.register({ Name: name, Tags: ['b'] });
    const changed = await blocked;
    expect(changed.json<{ Tags: string[] }>().Tags).toEqual(['b']);
    expect(changed.header('x-consul-contenthash')).not.toBe(hash);
  });

  it('#A0 an agent write is in the catalog and health endpoints when it answers', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, Address: '127.0.0.1', Port: 9000, Tags: ['v1'], Meta: { version: '1' }, Check: { TTL: '30s' } });
    const { rows } = await svc.catalog(name);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ ServiceID: name, ServiceName: name, ServiceTags: ['v1'], ServicePort: 9000, ServiceAddress: '127.0.0.1' });
    const services = (await svc.agentServices())[name];
    expect(services?.TaggedAddresses?.lan_ipv4).toEqual({ Address: '127.0.0.1', Port: 9000 });
    await ctx.req('PUT', `/v1/agent/check/pass/service:${name}`);
    const { entries } = await svc.health(name, '?passing');
    expect(entries.map((e) => e.Service.ID)).toEqual([name]);
  });

  it('#A53 a session cannot bind a critical or an unknown service check', async () => {
    const name = uniqueName('web');
    await svc.register({ Name: name, ID: `${name}-1`, Check: { TTL: '30s' } });
    const critical = await ctx.req('PUT', '/v1/session/create', { body: { Checks: [`service:${name}-1`] } });
    expect(critical.status).toBe(500);
    expect(critical.text).toContain(`Check 'service:${name}-1' is in critical state`);
    const viaServiceChecks = await ctx.req('PUT', '/v1/session/create', { body: { ServiceChecks: [{ ID: `service:${name}-1` }] } });
    expect(viaServiceChecks.status).toBe(500);
    expect(viaServiceChecks.text).toContain('is in critical state');
    const unknown = await ctx.req('PUT', '/v1/session/create', { body: { Checks: ['x'] } });
    expect(unknown.status).toBe(500);
    expect(unknown.text).toContain("Missing check 'x' registration");
  });

  it('#A54 a bound service check failing ends the session; warning does not', async () => {
    const name = uniqueName('web');
    const checkId = `service:${name}-1`;
    await svc.register({ Name: name, ID: `${name}-1`, Check: { TTL: '30s', Status: 'passing' } });
    const warned = await ctx.session({ ServiceChecks: [{ ID: checkId }] });
    expect((await ctx.req('PUT', `/v1/agent/check/warn/${checkId}`)).status).toBe(200);
    expect((await sessionInfo(warned))?.ID).toBe(warned);
    expect((await sessionInfo(warned))?.ServiceChecks).toEqual([expect.objectContaining({ ID: checkId })]);
    expect((await ctx.req('PUT', `/v1/agent/check/pass/${checkId}`)).status).toBe(200);
    const failed = await ctx.session({ NodeChecks: ['serfHealth'], ServiceChecks: [{ ID: checkId }] });
    expect((await ctx.req('PUT', `/v1/agent/check/fail/${checkId}`)).status).toBe(200);
    expect(await sessionInfo(failed)).toBeUndefined();
    expect(await sessionInfo(warned)).toBeUndefined();
  });

  it('#A55 deregistering the service ends the sessions bound to its checks', async () => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Check: { TTL: '30s', Status: 'passing' } });
    const sid = await ctx.session({ Checks: [`service:${id}`] });
    expect((await sessionInfo(sid))?.ID).toBe(sid);
    expect((await ctx.req('PUT', `/v1/agent/service/deregister/${id}`)).status).toBe(200);
    svc.forget(id);
    expect(await sessionInfo(sid)).toBeUndefined();
  });

  it('#A55 a maintenance check only ends sessions that list it', async () => {
    const name = uniqueName('web');
    const id = `${name}-1`;
    await svc.register({ Name: name, ID: id, Check: { TTL: '30s', Status: 'passing' } });
    const sid = await ctx.session({ Checks: [`service:${id}`] });
    expect((await ctx.req('PUT', `/v1/agent/service/maintenance/${id}?enable=true`)).status).toBe(200);
    expect((await sessionInfo(sid))?.ID).toBe(sid);
  });
});

describeConformance('Agent service checks that probe (§4)', (ctx) => {
  const svc = serviceHelpers(ctx);
  // The agent must reach the test's loopback listeners: not possible from inside a container.
  const probing = ctx.kind !== 'container';

  it.runIf(probing)('#A0 an HTTP check follows its endpoint: 2xx passing, 429 warning, anything else critical', async () => {
    const endpoint = await statusServer(200);
    try {
      const name = uniqueName('http');
      await svc.register({ Name: name, Check: { HTTP: endpoint.url, Interval: '1s', Timeout: '2s' } });
      const statusOf = async (): Promise<string | undefined> => (await svc.agentChecks())[`service:${name}`]?.Status;
      await waitFor(async () => (await statusOf()) === 'passing', { timeout: 5_000, interval: 50 });
      const passing = (await svc.agentChecks())[`service:${name}`]!;
      expect(passing.Output).toBe(`HTTP GET ${endpoint.url}: 200 OK Output: status 200`);
      expect(passing.Type).toBe('http');
      expect((await svc.catalogCheck(`service:${name}`))?.Status).toBe('passing');
      endpoint.status = 429;
      await waitFor(async () => (await statusOf()) === 'warning', { timeout: 5_000, interval: 50 });
      endpoint.status = 503;
      await waitFor(async () => (await statusOf()) === 'critical', { timeout: 5_000, interval: 50 });
      expect((await svc.agentChecks())[`service:${name}`]?.Output).toBe(`HTTP GET ${endpoint.url}: 503 Service Unavailable Output: status 503`);
      expect((await svc.health(name, '?passing')).entries).toEqual([]);
    } finally {
      await endpoint.close();
    }
  });

  it.runIf(probing)('#A0 an HTTP check that cannot connect is critical with the transport error', async () => {
    const address = await closedPort();
    const name = uniqueName('http');
    await svc.register({ Name: name, Check: { HTTP: `http://${address}/`, Interval: '1s', Status: 'passing' } });
    await waitFor(async () => (await svc.agentChecks())[`service:${name}`]?.Status === 'critical', { timeout: 5_000, interval: 50 });
    expect((await svc.agentChecks())[`service:${name}`]?.Output).toContain('connection refused');
  });

  it.runIf(probing)('#A0 a TCP check passes while the port accepts and is critical when it does not', async () => {
    const listener = await tcpListener();
    const refused = await closedPort();
    try {
      const up = uniqueName('tcp');
      const down = uniqueName('tcp');
      await svc.register({ Name: up, Check: { TCP: listener.address, Interval: '1s' } });
      await svc.register({ Name: down, Check: { TCP: refused, Interval: '1s', Status: 'passing' } });
      await waitFor(async () => (await svc.agentChecks())[`service:${up}`]?.Status === 'passing', { timeout: 5_000, interval: 50 });
      expect((await svc.agentChecks())[`service:${up}`]).toMatchObject({ Output: `TCP connect ${listener.address}: Success`, Type: 'tcp' });
      await waitFor(async () => (await svc.agentChecks())[`service:${down}`]?.Status === 'critical', { timeout: 5_000, interval: 50 });
      expect((await svc.agentChecks())[`service:${down}`]?.Output).toContain('connection refused');
    } finally {
      await listener.close();
    }
  });

  it.runIf(probing)('#A0 FailuresBeforeCritical holds a check at its status until that many failures in a row', async () => {
    const endpoint = await statusServer(200);
    try {
      const name = uniqueName('http');
      await svc.register({ Name: name, Check: { HTTP: endpoint.url, Interval: '1s', FailuresBeforeCritical: 3 } });
      await waitFor(async () => (await svc.agentChecks())[`service:${name}`]?.Status === 'passing', { timeout: 5_000, interval: 50 });
      endpoint.status = 500;
      const hitsAtFailure = endpoint.hits;
      await waitFor(() => endpoint.hits >= hitsAtFailure + 2, { timeout: 5_000, interval: 50 });
      // Two failures seen: still passing.
      expect((await svc.agentChecks())[`service:${name}`]?.Status).toBe('passing');
      await waitFor(async () => (await svc.agentChecks())[`service:${name}`]?.Status === 'critical', { timeout: 5_000, interval: 50 });
      expect(endpoint.hits).toBeGreaterThanOrEqual(hitsAtFailure + 3);
    } finally {
      await endpoint.close();
    }
  });
});

describeConformance(
  'Fresh agent (§8)',
  () => {
    it('#A33 a fresh agent lists only the consul service in the catalog and nothing locally', async () => {
      const fresh = await startTarget({ kind: 'dev' });
      try {
        expect((await consulFetch(fresh, 'GET', '/v1/catalog/services')).json()).toEqual({ consul: [] });
        expect((await consulFetch(fresh, 'GET', '/v1/agent/services')).json()).toEqual({});
        expect((await consulFetch(fresh, 'GET', '/v1/agent/checks')).json()).toEqual({});
        const consul = (await consulFetch(fresh, 'GET', '/v1/catalog/service/consul')).json<Array<{ ServicePort: number }>>();
        expect(consul).toHaveLength(1);
        expect(consul[0]?.ServicePort).toBe(8300);
      } finally {
        await fresh.close();
      }
    });
  },
  { devOnly: true },
);

describeConformance(
  'DeregisterCriticalServiceAfter (§4, lowered minimum and reap interval)',
  (ctx) => {
    const svc = serviceHelpers(ctx);

    it('#A0 a service whose check stays critical past the limit is deregistered with its checks and sessions', async () => {
      const name = uniqueName('reap');
      const id = `${name}-1`;
      await svc.register({ Name: name, ID: id, Check: { TTL: '300ms', Status: 'passing', DeregisterCriticalServiceAfter: '1ms' } });
      const sid = await ctx.session({ Checks: [`service:${id}`] });
      // TTL expiry → critical, then the (raised) 1 s limit, then the next reap pass.
      await waitFor(async () => (await svc.agentServices())[id] === undefined, { timeout: 5_000, interval: 50 });
      svc.forget(id);
      expect((await svc.catalog(name)).rows).toEqual([]);
      expect((await svc.agentChecks())[`service:${id}`]).toBeUndefined();
      const info = await ctx.req('GET', `/v1/session/info/${sid}`);
      expect(info.json()).toEqual([]);
    });

    it('#A0 a non-critical update resets the critical clock', async () => {
      const name = uniqueName('reap');
      await svc.register({ Name: name, Check: { TTL: '30s', DeregisterCriticalServiceAfter: '1ms' } });
      await ctx.req('PUT', `/v1/agent/check/fail/service:${name}`);
      await ctx.req('PUT', `/v1/agent/check/pass/service:${name}`);
      await pause(1_300);
      await ctx.req('PUT', `/v1/agent/check/fail/service:${name}`);
      // Critical for well under the limit since the last failure, though 1.3 s after the first.
      await pause(300);
      expect((await svc.agentServices())[name]).toBeDefined();
      await waitFor(async () => (await svc.agentServices())[name] === undefined, { timeout: 5_000, interval: 50 });
      svc.forget(name);
    });

    it('#A0 a check that was never reported critical is not reaped, however long it keeps its initial status', async () => {
      const name = uniqueName('reap');
      await svc.register({ Name: name, Check: { TTL: '30s', DeregisterCriticalServiceAfter: '1ms' } });
      await pause(1_300);
      expect((await svc.agentServices())[name]).toBeDefined();
    });
  },
  { devOnly: true, dev: { checkDeregisterIntervalMin: '1s', checkReapInterval: '100ms' } },
);

const ROOT = 'root-secret-for-service-conformance';

describeConformance(
  'Agent services with ACLs (default deny, one management token)',
  (ctx) => {
    const svc = serviceHelpers(ctx);

    it('#A57 registering without a token answers 403 Permission denied; the management token works in every form', async () => {
      const name = uniqueName('web');
      const denied = await ctx.req('PUT', '/v1/agent/service/register', { body: { Name: name }, token: null });
      expectError(denied, 403, 'Permission denied');
      expect(denied.text).toContain("lacks permission 'service:write'");
      const viaQuery = await ctx.req('PUT', `/v1/agent/service/register?token=${ROOT}`, { body: { Name: name }, token: null });
      expect(viaQuery.status, viaQuery.text).toBe(200);
      svc.track(name);
      const viaBearer = await ctx.req('PUT', '/v1/agent/service/register', {
        body: { Name: name },
        token: null,
        headers: { Authorization: `Bearer ${ROOT}` },
      });
      expect(viaBearer.status).toBe(200);
      const queryWins = await ctx.req('PUT', '/v1/agent/service/register?token=nope', { body: { Name: name }, token: null, headers: { 'X-Consul-Token': ROOT } });
      expectError(queryWins, 403, 'ACL not found');
      expectError(await ctx.req('PUT', `/v1/agent/service/deregister/${name}`, { token: 'nope' }), 403, 'ACL not found');
      expectError(await ctx.req('PUT', `/v1/agent/service/deregister/${name}`, { token: null }), 403, 'Permission denied');
      expectError(await ctx.req('PUT', `/v1/agent/service/maintenance/${name}?enable=true`, { token: null }), 403, 'Permission denied');
      expectError(await ctx.req('PUT', '/v1/agent/maintenance?enable=true', { token: null }), 403, 'Permission denied');
    });

    it('#A57 reads without a token are filtered, not refused; single-service reads are refused', async () => {
      const name = uniqueName('web');
      await svc.register({ Name: name, Check: { TTL: '30s', Status: 'passing' } });
      expect((await ctx.req('GET', '/v1/agent/services', { token: null })).json()).toEqual({});
      expect((await ctx.req('GET', '/v1/catalog/services', { token: null })).json()).toEqual({});
      expect((await ctx.req('GET', `/v1/health/service/${name}`, { token: null })).json()).toEqual([]);
      expect((await ctx.req('GET', `/v1/catalog/service/${name}`, { token: null })).json()).toEqual([]);
      expectError(await ctx.req('GET', `/v1/agent/service/${name}`, { token: null }), 403, 'Permission denied');
      expectError(await ctx.req('GET', `/v1/agent/health/service/name/${name}`, { token: null }), 403, 'Permission denied');
      expect(Object.keys(await svc.agentServices())).toContain(name);
      expect((await svc.health(name)).entries).toHaveLength(1);
    });
  },
  { devOnly: true, dev: { aclToken: ROOT } },
);
