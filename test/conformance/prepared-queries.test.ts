/**
 * Conformance: prepared queries, after Consul's source —
 * agent/prepared_query_endpoint.go (HTTP: create, list, get, update, delete, execute, explain),
 * agent/consul/prepared_query_endpoint.go (Apply/parseQuery, execute, tagFilter, queryFailover),
 * agent/consul/state/prepared_query.go (name aliasing, PreparedQueryResolve) and
 * agent/consul/prepared_query/template.go (name_prefix_match rendering).
 * The single-datacenter rules run against the dev server (and real Consul when configured);
 * failover runs on a dev cluster of three datacenters.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DevCluster, startDevCluster, startDevServer } from '../../src/testing/index.js';
import { describeConformance } from '../support/conformance.js';

interface ExecuteJson {
  Service: string;
  Nodes: Array<{ Node: { Node: string; Datacenter: string; Meta: Record<string, string> }; Service: { ID: string; Tags: string[] }; Checks: unknown[] }>;
  Datacenter: string;
  Failovers: number;
  DNS: { TTL: string };
}

describeConformance('prepared queries (prepared_query_endpoint.go, state/prepared_query.go)', (ctx) => {
  const created: string[] = [];
  const services: string[] = [];

  afterEach(async () => {
    for (const id of created.splice(0)) await ctx.req('DELETE', `/v1/query/${id}`);
    for (const id of services.splice(0)) await ctx.req('PUT', `/v1/agent/service/deregister/${id}`);
  });

  async function createQuery(body: Record<string, unknown>): Promise<string> {
    const res = await ctx.req('POST', '/v1/query', { body });
    expect(res.status, res.text).toBe(200);
    const id = (res.json() as { ID: string }).ID;
    created.push(id);
    return id;
  }

  async function register(id: string, name: string, extra: Record<string, unknown> = {}): Promise<void> {
    const res = await ctx.req('PUT', '/v1/agent/service/register', { body: { ID: id, Name: name, Port: 8080, ...extra } });
    expect(res.status, res.text).toBe(200);
    services.push(id);
  }

  function unique(name: string): string {
    return `${name}-${ctx.base.replace(/[^a-z0-9]/gi, '').slice(-12).toLowerCase()}`;
  }

  it('Apply(create) answers {"ID"}; GET /v1/query/:id returns it in a list; GET /v1/query lists it', async () => {
    const name = unique('billing');
    const id = await createQuery({ Name: name, Service: { Service: name, OnlyPassing: true, Tags: ['v1'] } });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const one = await ctx.req('GET', `/v1/query/${id}`);
    expect(one.status).toBe(200);
    const [query] = one.json() as Array<{ ID: string; Name: string; Service: { Service: string; OnlyPassing: boolean; Tags: string[] }; CreateIndex: number; ModifyIndex: number }>;
    expect(query).toMatchObject({ ID: id, Name: name, Service: { Service: name, OnlyPassing: true, Tags: ['v1'] } });
    expect(query!.CreateIndex).toBe(query!.ModifyIndex);
    expect(Number(one.headers['x-consul-index'])).toBeGreaterThanOrEqual(query!.ModifyIndex);
    const all = (await ctx.req('GET', '/v1/query')).json() as Array<{ ID: string }>;
    expect(all.map((q) => q.ID)).toContain(id);
  });

  it('parseQuery refuses a query without a service, and an unnamed one without a session', async () => {
    const noService = await ctx.req('POST', '/v1/query', { body: { Name: unique('x'), Service: {} } });
    expect(noService.status).toBe(500);
    expect(noService.text).toContain('Must provide a Service name to query');
    const anonymous = await ctx.req('POST', '/v1/query', { body: { Service: { Service: 'x' } } });
    expect(anonymous.status).toBe(500);
    expect(anonymous.text).toContain('Must be bound to a session');
    const nearest = await ctx.req('POST', '/v1/query', { body: { Name: unique('y'), Service: { Service: 'x', Failover: { NearestN: -1 } } } });
    expect(nearest.status).toBe(500);
    expect(nearest.text).toContain("Bad NearestN '-1', must be >= 0");
  });

  it('preparedQuerySetTxn refuses a name that aliases another query’s name', async () => {
    const name = unique('dup');
    await createQuery({ Name: name, Service: { Service: 'a' } });
    const again = await ctx.req('POST', '/v1/query', { body: { Name: name, Service: { Service: 'b' } } });
    expect(again.status).toBe(500);
    expect(again.text).toContain(`name '${name}' aliases an existing query name`);
  });

  it('Apply(update) keeps CreateIndex and replaces the definition; Apply(delete) removes it; a missing one is a 404 "Query not found"', async () => {
    const name = unique('upd');
    const id = await createQuery({ Name: name, Service: { Service: 'a' } });
    const update = await ctx.req('PUT', `/v1/query/${id}`, { body: { Name: name, Service: { Service: 'b' } } });
    expect(update.status).toBe(200);
    const [after] = (await ctx.req('GET', `/v1/query/${id}`)).json() as Array<{ Service: { Service: string }; CreateIndex: number; ModifyIndex: number }>;
    expect(after!.Service.Service).toBe('b');
    expect(after!.ModifyIndex).toBeGreaterThan(after!.CreateIndex);
    expect((await ctx.req('DELETE', `/v1/query/${id}`)).status).toBe(200);
    created.splice(created.indexOf(id), 1);
    const gone = await ctx.req('GET', `/v1/query/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.text.trim()).toBe('Query not found');
    const updateGone = await ctx.req('PUT', `/v1/query/${id}`, { body: { Name: name, Service: { Service: 'b' } } });
    expect(updateGone.status).toBe(500);
    expect(updateGone.text).toContain(`Cannot modify non-existent prepared query: '${id}'`);
  });

  it('execute by ID or by name answers the healthy instances, Datacenter and Failovers 0', async () => {
    const svc = unique('web');
    await register(`${svc}-1`, svc, { Check: { TTL: '30s', Status: 'passing' } });
    await register(`${svc}-2`, svc, { Check: { TTL: '30s', Status: 'critical' } });
    const id = await createQuery({ Name: svc, Service: { Service: svc } });
    const dc = ((await ctx.req('GET', '/v1/agent/self')).json() as { Config: { Datacenter: string } }).Config.Datacenter;
    for (const target of [id, svc]) {
      const res = await ctx.req('GET', `/v1/query/${target}/execute`);
      expect(res.status).toBe(200);
      const body = res.json() as ExecuteJson;
      expect(body.Service).toBe(svc);
      expect(body.Nodes.map((n) => n.Service.ID)).toEqual([`${svc}-1`]);
      expect(body.Datacenter).toBe(dc);
      expect(body.Failovers).toBe(0);
    }
    expect((await ctx.req('GET', '/v1/query/no-such-query/execute')).status).toBe(404);
  });

  it('OnlyPassing leaves out warning instances too (FilterIgnore)', async () => {
    const svc = unique('warn');
    await register(`${svc}-1`, svc, { Check: { TTL: '30s', Status: 'passing' } });
    await register(`${svc}-2`, svc, { Check: { TTL: '30s', Status: 'warning' } });
    const lax = await createQuery({ Name: `${svc}-lax`, Service: { Service: svc } });
    const strict = await createQuery({ Name: `${svc}-strict`, Service: { Service: svc, OnlyPassing: true } });
    const ids = async (q: string): Promise<string[]> => ((await ctx.req('GET', `/v1/query/${q}/execute`)).json() as ExecuteJson).Nodes.map((n) => n.Service.ID).sort();
    expect(await ids(lax)).toEqual([`${svc}-1`, `${svc}-2`]);
    expect(await ids(strict)).toEqual([`${svc}-1`]);
  });

  it('tagFilter: every tag required, "!tag" excluded, case-insensitively', async () => {
    const svc = unique('tags');
    await register(`${svc}-1`, svc, { Tags: ['Primary', 'v1'] });
    await register(`${svc}-2`, svc, { Tags: ['v1'] });
    await register(`${svc}-3`, svc, { Tags: ['primary', 'canary'] });
    const q = await createQuery({ Name: svc, Service: { Service: svc, Tags: ['primary', '!CANARY'] } });
    const body = (await ctx.req('GET', `/v1/query/${q}/execute`)).json() as ExecuteJson;
    expect(body.Nodes.map((n) => n.Service.ID)).toEqual([`${svc}-1`]);
  });

  it('NodeMeta keeps only instances on nodes carrying every pair', async () => {
    const svc = unique('meta');
    await register(`${svc}-1`, svc);
    const self = (await ctx.req('GET', '/v1/agent/self')).json() as { Meta: Record<string, string> | null };
    const version = self.Meta?.['consul-version'] ?? '';
    const match = await createQuery({ Name: `${svc}-match`, Service: { Service: svc, NodeMeta: { 'consul-version': version } } });
    const miss = await createQuery({ Name: `${svc}-miss`, Service: { Service: svc, NodeMeta: { 'consul-version': 'nope' } } });
    expect(((await ctx.req('GET', `/v1/query/${match}/execute`)).json() as ExecuteJson).Nodes).toHaveLength(1);
    expect(((await ctx.req('GET', `/v1/query/${miss}/execute`)).json() as ExecuteJson).Nodes).toHaveLength(0);
  });

  it('a name_prefix_match template answers names by longest prefix, rendering ${name.suffix} and ${match(N)}; by ID it is refused', async () => {
    const svc = unique('tmpl');
    await register(`${svc}-1`, svc, { Tags: ['blue'] });
    const prefix = `geo-${svc.slice(-6)}-`;
    const id = await createQuery({
      Name: prefix,
      Template: { Type: 'name_prefix_match', Regexp: `^${prefix}(.+?)-(blue|green)$` },
      Service: { Service: '${match(1)}', Tags: ['${match(2)}'] },
    });
    const res = await ctx.req('GET', `/v1/query/${prefix}${svc}-blue/execute`);
    expect(res.status, res.text).toBe(200);
    const body = res.json() as ExecuteJson;
    expect(body.Service).toBe(svc);
    expect(body.Nodes.map((n) => n.Service.ID)).toEqual([`${svc}-1`]);
    expect(((await ctx.req('GET', `/v1/query/${prefix}${svc}-green/execute`)).json() as ExecuteJson).Nodes).toHaveLength(0);
    const explain = (await ctx.req('GET', `/v1/query/${prefix}${svc}-blue/explain`)).json() as { Query: { Service: { Service: string; Tags: string[] } } };
    expect(explain.Query.Service).toMatchObject({ Service: svc, Tags: ['blue'] });
    const byId = await ctx.req('GET', `/v1/query/${id}/execute`);
    expect(byId.status).toBe(500);
    expect(byId.text).toContain('prepared query templates can only be resolved up by name, not by ID');
  });

  it('a template with a bad interpolation is refused at create', async () => {
    const res = await ctx.req('POST', '/v1/query', {
      body: { Name: unique('bad-'), Template: { Type: 'name_prefix_match' }, Service: { Service: '${nope}' } },
    });
    expect(res.status).toBe(500);
    expect(res.text).toContain('failed compiling template');
  });

  it('a query bound to a session is deleted with the session (deleteSessionTxn)', async () => {
    const session = await ctx.session();
    const res = await ctx.req('POST', '/v1/query', { body: { Session: session, Service: { Service: 'x' } } });
    expect(res.status).toBe(200);
    const id = (res.json() as { ID: string }).ID;
    expect((await ctx.req('GET', `/v1/query/${id}`)).status).toBe(200);
    await ctx.req('PUT', `/v1/session/destroy/${session}`);
    expect((await ctx.req('GET', `/v1/query/${id}`)).status).toBe(404);
  });
});

describe('prepared query failover across datacenters (prepared_query_endpoint.go queryFailover)', () => {
  let cluster: DevCluster;
  const url = (dc: string): string => cluster.agentsIn(dc)[0]!.url;
  const send = async (base: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> => {
    const res = await fetch(base + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, text: await res.text() };
  };
  const execute = async (name: string): Promise<ExecuteJson> => JSON.parse((await send(url('dc1'), 'GET', `/v1/query/${name}/execute`)).text) as ExecuteJson;

  beforeAll(async () => {
    // RTT from dc1: dc3 is nearer than dc2.
    cluster = await startDevCluster({ datacenters: { dc1: 1, dc2: 1, dc3: 1 }, datacenterRtt: { dc1: { dc2: 50, dc3: 10 } } });
    for (const dc of ['dc1', 'dc2', 'dc3']) {
      const res = await send(url(dc), 'PUT', '/v1/agent/service/register', { ID: `api-${dc}`, Name: 'api', Port: 80, Check: { TTL: '1h', Status: 'passing' } });
      expect(res.status).toBe(200);
    }
  });
  afterAll(async () => {
    await cluster.close();
  });
  afterEach(async () => {
    for (const dc of ['dc1', 'dc2', 'dc3']) {
      await send(url(dc), 'PUT', `/v1/agent/check/pass/service:api-${dc}`);
      cluster.healDatacenter(dc);
    }
  });

  async function create(body: Record<string, unknown>): Promise<void> {
    const res = await send(url('dc1'), 'POST', '/v1/query', body);
    expect(res.status, res.text).toBe(200);
  }

  it('answers locally while local instances are healthy', async () => {
    await create({ Name: 'api-nearest', Service: { Service: 'api', Failover: { NearestN: 2 } } });
    const body = await execute('api-nearest');
    expect(body).toMatchObject({ Datacenter: 'dc1', Failovers: 0 });
    expect(body.Nodes.map((n) => n.Service.ID)).toEqual(['api-dc1']);
  });

  it('NearestN tries the nearest other datacenters by RTT first, and reports Datacenter and Failovers', async () => {
    await send(url('dc1'), 'PUT', '/v1/agent/check/fail/service:api-dc1');
    const body = await execute('api-nearest');
    expect(body).toMatchObject({ Datacenter: 'dc3', Failovers: 1 });
    expect(body.Nodes.map((n) => [n.Service.ID, n.Node.Datacenter])).toEqual([['api-dc3', 'dc3']]);
  });

  it('Datacenters are tried in the listed order, after the NearestN ones; unknown ones are skipped', async () => {
    await create({ Name: 'api-listed', Service: { Service: 'api', Failover: { Datacenters: ['dc9', 'dc2', 'dc3'] } } });
    await send(url('dc1'), 'PUT', '/v1/agent/check/fail/service:api-dc1');
    expect(await execute('api-listed')).toMatchObject({ Datacenter: 'dc2', Failovers: 1 });
    await send(url('dc2'), 'PUT', '/v1/agent/check/fail/service:api-dc2');
    expect(await execute('api-listed')).toMatchObject({ Datacenter: 'dc3', Failovers: 2 });
  });

  it('a partitioned datacenter is skipped (the attempt still counts) and the next one answers', async () => {
    await send(url('dc1'), 'PUT', '/v1/agent/check/fail/service:api-dc1');
    cluster.partitionDatacenter('dc2');
    const body = await execute('api-listed');
    expect(body).toMatchObject({ Datacenter: 'dc3', Failovers: 2 });
    expect(body.Nodes.map((n) => n.Service.ID)).toEqual(['api-dc3']);
  });

  it('with no healthy instance anywhere the answer is empty, from the last datacenter tried', async () => {
    for (const dc of ['dc1', 'dc2', 'dc3']) await send(url(dc), 'PUT', `/v1/agent/check/fail/service:api-${dc}`);
    const body = await execute('api-listed');
    expect(body.Nodes).toEqual([]);
    expect(body).toMatchObject({ Datacenter: 'dc3', Failovers: 2 });
  });

  it('a query is stored in one datacenter: another datacenter does not know it, ?dc= reaches it', async () => {
    expect((await send(url('dc2'), 'GET', '/v1/query/api-nearest/execute')).status).toBe(404);
    const there = await send(url('dc2'), 'GET', '/v1/query/api-nearest/execute?dc=dc1');
    expect(there.status).toBe(200);
  });
});

describe('a prepared query whose token is gone (Execute filters with the query’s Token)', () => {
  it('answers 403 "ACL not found" to every caller, and runs again once its Token is valid', async () => {
    const server = await startDevServer({ aclToken: 'root-token' });
    try {
      const headers = { 'X-Consul-Token': 'root-token' };
      await fetch(`${server.url}/v1/agent/service/register`, { method: 'PUT', headers, body: JSON.stringify({ ID: 'api-1', Name: 'api', Port: 80 }) });
      // The dev server knows one token: any other stands for a token deleted since.
      const created = await fetch(`${server.url}/v1/query`, { method: 'POST', headers, body: JSON.stringify({ Name: 'api', Token: 'deleted-token', Service: { Service: 'api' } }) });
      expect(created.status).toBe(200);
      const { ID } = (await created.json()) as { ID: string };
      const denied = await fetch(`${server.url}/v1/query/api/execute`, { headers });
      expect(denied.status).toBe(403);
      expect((await denied.text()).trim()).toBe('ACL not found');
      // The management token sees the stored token (others would see <hidden>).
      const [shown] = (await (await fetch(`${server.url}/v1/query/${ID}`, { headers })).json()) as Array<{ Token: string }>;
      expect(shown!.Token).toBe('deleted-token');
      const fixed = await fetch(`${server.url}/v1/query/${ID}`, { method: 'PUT', headers, body: JSON.stringify({ Name: 'api', Token: 'root-token', Service: { Service: 'api' } }) });
      expect(fixed.status).toBe(200);
      const ok = (await (await fetch(`${server.url}/v1/query/api/execute`)).json()) as ExecuteJson;
      expect(ok.Nodes.map((n) => n.Service.ID)).toEqual(['api-1']);
    } finally {
      await server.close();
    }
  });
});
