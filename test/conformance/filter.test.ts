/**
 * Conformance: `?filter=` (go-bexpr) on every endpoint Consul filters. The filtered types follow
 * the endpoints: api.AgentService (agent_endpoint.go AgentServices), structs.HealthCheck
 * (AgentChecks; health_endpoint.go HealthNodeChecks, HealthServiceChecks, HealthChecksInState),
 * structs.Node (Catalog.ListNodes), structs.ServiceNode (Catalog.ServiceNodes, and
 * Catalog.ListServices, which filters the instances before grouping them by name),
 * structs.NodeService (Catalog.NodeServices / NodeServiceList) and structs.CheckServiceNode
 * (Health.ServiceNodes). A bad expression is refused with bexpr.CreateFilter's message.
 */
import { expect, it } from 'vitest';
import { describeConformance, expectError } from '../support/conformance.js';
import { type HealthEntryJson, serviceHelpers, uniqueName } from '../testing/dev-server/service-helpers.js';
import { type NodeJson, externalNodes, filterQuery, getJson } from './catalog-support.js';

describeConformance('Filter expressions (?filter)', (ctx) => {
  const ext = externalNodes(ctx);
  const svc = serviceHelpers(ctx);

  const get = getJson(ctx);

  /** Two external nodes, each with one instance of `service`, v1 passing on r1 and v2 critical on r2. */
  const twoInstances = async (): Promise<{ service: string; n1: string; n2: string }> => {
    const service = uniqueName('api');
    const n1 = ext.name('n1');
    const n2 = ext.name('n2');
    await ext.register({
      Node: n1,
      Address: '192.0.2.21',
      NodeMeta: { rack: 'r1' },
      Service: { Service: service, ID: `${service}-1`, Tags: ['v1'], Meta: { version: '1' }, Port: 8001 },
      Checks: [{ Name: `${service}-1-chk`, ServiceID: `${service}-1`, Status: 'passing' }, { Name: `${n1}-node`, Status: 'passing' }],
    });
    await ext.register({
      Node: n2,
      Address: '192.0.2.22',
      NodeMeta: { rack: 'r2' },
      Service: { Service: service, ID: `${service}-2`, Tags: ['v2'], Meta: { version: '2' }, Port: 8002 },
      Check: { Name: `${service}-2-chk`, ServiceID: `${service}-2`, Status: 'critical' },
    });
    return { service, n1, n2 };
  };

  it('AgentServices: over api.AgentService (Meta, Tags, Port)', async () => {
    const a = uniqueName('fa');
    const b = uniqueName('fb');
    await svc.register({ Name: a, Port: 1001, Tags: ['blue'], Meta: { env: 'prod' } });
    await svc.register({ Name: b, Port: 1002, Tags: ['green'], Meta: { env: 'dev' } });
    const mine = (body: Record<string, unknown>): string[] => Object.keys(body).filter((k) => k === a || k === b);
    expect(mine(await get(`/v1/agent/services${filterQuery('Meta.env == prod')}`))).toEqual([a]);
    expect(mine(await get(`/v1/agent/services${filterQuery('green in Tags or Port == 1001')}`)).sort()).toEqual([a, b].sort());
    expect(mine(await get(`/v1/agent/services${filterQuery(`Service matches "^${b}$"`)}`))).toEqual([b]);
  });

  it('AgentChecks: over structs.HealthCheck', async () => {
    const a = uniqueName('fa');
    await svc.register({ Name: a, Checks: [{ CheckID: `${a}-ok`, TTL: '30s', Status: 'passing' }, { CheckID: `${a}-bad`, TTL: '30s' }] });
    const body = await get<Record<string, unknown>>(`/v1/agent/checks${filterQuery(`ServiceName == "${a}" and Status == passing`)}`);
    expect(Object.keys(body)).toEqual([`${a}-ok`]);
  });

  it('Catalog.ListNodes: over structs.Node (Meta, Address)', async () => {
    const { n1, n2 } = await twoInstances();
    const names = (await get<NodeJson[]>(`/v1/catalog/nodes${filterQuery('Meta.rack == r2')}`)).map((n) => n.Node);
    expect(names).toContain(n2);
    expect(names).not.toContain(n1);
    const both = (await get<NodeJson[]>(`/v1/catalog/nodes${filterQuery('Address matches "^192\\\\.0\\\\.2\\\\.2[12]$"')}`)).map((n) => n.Node);
    expect(both.sort()).toEqual([n1, n2].sort());
  });

  it('Catalog.ServiceNodes: over structs.ServiceNode (ServiceMeta, NodeMeta, ServiceTags)', async () => {
    const { service, n2 } = await twoInstances();
    const rows = await get<Array<{ Node: string; ServiceID: string }>>(`/v1/catalog/service/${service}${filterQuery('ServiceMeta.version == "2"')}`);
    expect(rows.map((r) => r.Node)).toEqual([n2]);
    const byNode = await get<Array<{ ServiceID: string }>>(`/v1/catalog/service/${service}${filterQuery('NodeMeta.rack == r1 and "v1" in ServiceTags')}`);
    expect(byNode.map((r) => r.ServiceID)).toEqual([`${service}-1`]);
  });

  it('Catalog.ListServices: the instances are filtered as ServiceNode rows before grouping', async () => {
    const { service } = await twoInstances();
    const body = await get<Record<string, string[]>>(`/v1/catalog/services${filterQuery('NodeMeta.rack == r2')}`);
    expect(body[service]).toEqual(['v2']);
    const none = await get<Record<string, string[]>>(`/v1/catalog/services${filterQuery(`ServiceName == "${service}" and ServicePort == 9999`)}`);
    expect(none[service]).toBeUndefined();
  });

  it('Catalog.NodeServices and NodeServiceList: over structs.NodeService', async () => {
    const node = ext.name();
    const a = uniqueName('a');
    const b = uniqueName('b');
    await ext.register({ Node: node, Address: '192.0.2.23', Service: { Service: a, Port: 1 } });
    await ext.register({ Node: node, Address: '192.0.2.23', Service: { Service: b, Port: 2 } });
    const map = await get<{ Services: Record<string, unknown> }>(`/v1/catalog/node/${node}${filterQuery('Port == 2')}`);
    expect(Object.keys(map.Services)).toEqual([b]);
    const list = await get<{ Services: Array<{ ID: string }> }>(`/v1/catalog/node-services/${node}${filterQuery(`Service == "${a}"`)}`);
    expect(list.Services.map((s) => s.ID)).toEqual([a]);
  });

  it('Health.NodeChecks, ServiceChecks and ChecksInState: over structs.HealthCheck', async () => {
    const { service, n1, n2 } = await twoInstances();
    const nodeChecks = await get<Array<{ CheckID: string }>>(`/v1/health/node/${n1}${filterQuery('ServiceID == ""')}`);
    expect(nodeChecks.map((c) => c.CheckID)).toEqual([`${n1}-node`]);
    const serviceChecks = await get<Array<{ Node: string }>>(`/v1/health/checks/${service}${filterQuery('Status == critical')}`);
    expect(serviceChecks.map((c) => c.Node)).toEqual([n2]);
    const inState = await get<Array<{ CheckID: string }>>(`/v1/health/state/any${filterQuery(`ServiceName == "${service}" and Status != critical`)}`);
    expect(inState.map((c) => c.CheckID)).toEqual([`${service}-1-chk`]);
  });

  it('Health.ServiceNodes: over structs.CheckServiceNode (Node, Service, Checks as "any check")', async () => {
    const { service, n1, n2 } = await twoInstances();
    const ids = async (expr: string): Promise<string[]> =>
      (await get<HealthEntryJson[]>(`/v1/health/service/${service}${filterQuery(expr)}`)).map((e) => e.Node.Node).sort();
    expect(await ids('Service.Meta.version == "1"')).toEqual([n1]);
    expect(await ids('Checks.Status == critical')).toEqual([n2]);
    expect(await ids('Node.Meta.rack == r2 or Service.Port == 8001')).toEqual([n1, n2].sort());
    expect(await ids('not Checks.Status == critical')).toEqual([n1]);
    expect(await ids('Checks is not empty and "v1" in Service.Tags')).toEqual([n1]);
  });

  it('bexpr.CreateFilter errors: parse and selector errors answer 500 with their text (a plain error through agent/http.go, as hashicorp/consul#7338 shows)', async () => {
    const prefix = 'Failed to create boolean expression evaluator: ';
    expectError(await ctx.req('GET', `/v1/catalog/nodes${filterQuery('Foo == 1')}`), 500, `${prefix}Selector ["Foo"] is not valid`);
    expectError(await ctx.req('GET', `/v1/agent/services${filterQuery('Port matches "1"')}`), 500, `${prefix}Invalid match operator "Matches" for selector "Port"`);
    expectError(await ctx.req('GET', `/v1/health/service/x${filterQuery('Service.Meta.version ==')}`), 500, `${prefix}1:24 (23): no match found, expected:`);
    expectError(await ctx.req('GET', `/v1/agent/checks${filterQuery('Status == "passing')}`), 500, `${prefix}1:19 (18): rule string: Unterminated string literal`);
    expectError(await ctx.req('GET', `/v1/catalog/service/x${filterQuery('ServicePort == abc')}`), 500, `${prefix}Failed to coerce value "abc" for selector "ServicePort"`);
  });
});
