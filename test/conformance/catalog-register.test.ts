/**
 * Conformance: catalog writes and the catalog details that go with them
 * (agent/catalog_endpoint.go CatalogRegister / CatalogDeregister / CatalogDatacenters /
 * CatalogNodeServiceList; agent/consul/catalog_endpoint.go Register / Deregister;
 * agent/consul/state/catalog.go ensureRegistrationTxn, deleteNodeTxn; agent/local/state.go
 * updateSyncState for EnableTagOverride; agent/http.go setCacheMeta for `?cached`).
 */
import { expect, it, vi } from 'vitest';
import { agentServiceContentHash } from '../../src/testing/dev-server/agent/content-hash.js';
import { describeConformance, expectError } from '../support/conformance.js';
import { type HealthEntryJson, serviceHelpers, uniqueName } from '../testing/dev-server/service-helpers.js';
import { type NodeJson, externalNodes, getJson } from './catalog-support.js';

describeConformance('Catalog register and deregister', (ctx) => {
  const ext = externalNodes(ctx);
  const svc = serviceHelpers(ctx);

  const get = getJson(ctx);

  it('Register (catalog_endpoint.go): an external node, its service and a service check, answered `true`', async () => {
    const node = ext.name();
    const service = uniqueName('db');
    await ext.register({
      Node: node,
      Address: '192.0.2.10',
      NodeMeta: { rack: 'r1' },
      Locality: { Region: 'eu', Zone: 'b' },
      Service: { Service: service, Tags: ['primary'], Port: 5432, Meta: { version: '2' } },
      Check: { Name: `${service}-alive`, ServiceID: service, Status: 'passing', Output: 'ok' },
    });
    const nodes = await get<NodeJson[]>('/v1/catalog/nodes');
    expect(nodes.find((n) => n.Node === node)).toMatchObject({ Address: '192.0.2.10', Meta: { rack: 'r1' }, ID: '', Locality: { Region: 'eu', Zone: 'b' } });
    const rows = await get<Array<Record<string, unknown>>>(`/v1/catalog/service/${service}`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      Node: node,
      Address: '192.0.2.10',
      NodeMeta: { rack: 'r1' },
      ServiceID: service,
      ServiceName: service,
      ServiceTags: ['primary'],
      ServicePort: 5432,
      ServiceMeta: { version: '2' },
      // NodeService.ToServiceNode: weights default to {1, 1}.
      ServiceWeights: { Passing: 1, Warning: 1 },
    });
    const entries = await get<HealthEntryJson[]>(`/v1/health/service/${service}`);
    expect(entries).toHaveLength(1);
    // checkPreApply: the check ID defaults to its name; ensureCheckTxn copies the service's name and tags.
    expect(entries[0]!.Checks).toEqual([
      expect.objectContaining({ Node: node, CheckID: `${service}-alive`, Status: 'passing', Output: 'ok', ServiceName: service, ServiceTags: ['primary'] }),
    ]);
  });

  it('checkPreApply: a check without Status is critical; Check and Checks are both applied', async () => {
    const node = ext.name();
    await ext.register({
      Node: node,
      Address: '192.0.2.11',
      Check: { Name: 'one' },
      Checks: [{ Name: 'two', Status: 'warning' }],
    });
    const checks = await get<Array<{ CheckID: string; Status: string; Node: string; ServiceID: string }>>(`/v1/health/node/${node}`);
    expect(checks.map((c) => [c.CheckID, c.Status, c.Node, c.ServiceID]).sort()).toEqual([
      ['one', 'critical', node, ''],
      ['two', 'warning', node, ''],
    ]);
  });

  it('Register validation: node, address, node ID, service name and address are checked by the server (500)', async () => {
    const put = (body: object) => ctx.req('PUT', '/v1/catalog/register', { body });
    expectError(await put({ Address: '192.0.2.1' }), 500, 'Must provide node');
    expectError(await put({ Node: uniqueName('ext') }), 500, 'Must provide address if SkipNodeUpdate is not set');
    expectError(await put({ Node: uniqueName('ext'), Address: '192.0.2.1', ID: 'not-a-uuid' }), 500, 'Bad node ID: uuid string is wrong length');
    expectError(await put({ Node: uniqueName('ext'), Address: '192.0.2.1', Service: { ID: 'x' } }), 500, 'Must provide service name with ID');
    expectError(await put({ Node: uniqueName('ext'), Address: '192.0.2.1', Service: { Service: 'x', Address: '0.0.0.0' } }), 500, 'Invalid service address');
  });

  it('ensureServiceTxn / ensureCheckTxn: a service on an unknown node, a check of an unknown service, are refused', async () => {
    const missingNode = await ctx.req('PUT', '/v1/catalog/register', {
      body: { Node: uniqueName('ghost'), SkipNodeUpdate: true, Service: { Service: uniqueName('s') } },
    });
    expectError(missingNode, 500, /Missing node registration/);
    const node = ext.name();
    const missingService = await ctx.req('PUT', '/v1/catalog/register', {
      body: { Node: node, Address: '192.0.2.12', Check: { Name: 'c', ServiceID: 'ghost' } },
    });
    expectError(missingService, 500, /Missing service registration/);
  });

  it('CatalogRegister: a body that does not decode is a 400 "Request decode failed"', async () => {
    expectError(await ctx.req('PUT', '/v1/catalog/register', { body: '{' }), 400, 'Request decode failed:');
    expectError(await ctx.req('PUT', '/v1/catalog/deregister', { body: '[1]' }), 400, 'Request decode failed:');
  });

  it('Deregister: a service (with its checks), then a check, then the node with everything on it', async () => {
    const node = ext.name();
    const a = uniqueName('a');
    const b = uniqueName('b');
    await ext.register({ Node: node, Address: '192.0.2.13', Service: { Service: a }, Check: { Name: `${a}-chk`, ServiceID: a } });
    await ext.register({ Node: node, Address: '192.0.2.13', Service: { Service: b }, Checks: [{ Name: 'node-chk' }] });
    const dereg = async (body: Record<string, unknown>): Promise<void> => {
      const res = await ctx.req('PUT', '/v1/catalog/deregister', { body: { Node: node, ...body } });
      expect(res.status, res.text).toBe(200);
      expect(JSON.parse(res.text)).toBe(true);
    };
    await dereg({ ServiceID: a });
    expect(await get<unknown[]>(`/v1/catalog/service/${a}`)).toEqual([]);
    expect((await get<Array<{ CheckID: string }>>(`/v1/health/node/${node}`)).map((c) => c.CheckID)).toEqual(['node-chk']);
    await dereg({ CheckID: 'node-chk' });
    expect(await get<unknown[]>(`/v1/health/node/${node}`)).toEqual([]);
    await dereg({});
    expect((await get<NodeJson[]>('/v1/catalog/nodes')).some((n) => n.Node === node)).toBe(false);
    expect(await get<unknown[]>(`/v1/catalog/service/${b}`)).toEqual([]);
    // Removing what is not there is not an error.
    await dereg({ ServiceID: 'ghost' });
    expectError(await ctx.req('PUT', '/v1/catalog/deregister', { body: {} }), 500, 'Must provide node');
  });

  it('CatalogDatacenters: the agent\'s datacenter', async () => {
    const self = await get<{ Config: { Datacenter: string } }>('/v1/agent/self');
    expect(await get<string[]>('/v1/catalog/datacenters')).toEqual([self.Config.Datacenter]);
  });

  it('CatalogNodeServiceList: {Node, Services: [NodeService]}, null for an unknown node', async () => {
    const node = ext.name();
    const s = uniqueName('s');
    await ext.register({ Node: node, Address: '192.0.2.14', Service: { Service: s, Port: 1234, SocketPath: '/tmp/s.sock' } });
    const body = await get<{ Node: NodeJson; Services: Array<Record<string, unknown>> }>(`/v1/catalog/node-services/${node}`);
    expect(body.Node.Node).toBe(node);
    expect(body.Services).toEqual([expect.objectContaining({ ID: s, Service: s, Port: 1234, SocketPath: '/tmp/s.sock' })]);
    expect(await get<unknown>(`/v1/catalog/node-services/${uniqueName('ghost')}`)).toBeNull();
    expectError(await ctx.req('GET', '/v1/catalog/node-services/'), 400, 'Missing node name');
  });

  it('serviceTagFilter: ?tag= with one tag matches case-insensitively', async () => {
    const node = ext.name();
    const s = uniqueName('s');
    await ext.register({ Node: node, Address: '192.0.2.15', Service: { Service: s, ID: `${s}-1`, Tags: ['Primary'] } });
    await ext.register({ Node: node, Address: '192.0.2.15', Service: { Service: s, ID: `${s}-2`, Tags: ['replica'] } });
    const rows = await get<Array<{ ServiceID: string }>>(`/v1/catalog/service/${s}?tag=primary`);
    expect(rows.map((r) => r.ServiceID)).toEqual([`${s}-1`]);
    const health = await get<HealthEntryJson[]>(`/v1/health/service/${s}?tag=PRIMARY`);
    expect(health.map((e) => e.Service.ID)).toEqual([`${s}-1`]);
  });

  it('SocketPath and Locality (structs.NodeService) are kept by the agent and shown in the catalog', async () => {
    const name = uniqueName('sock');
    await svc.register({ Name: name, SocketPath: '/tmp/web.sock', Locality: { Region: 'eu-west', Zone: 'a' } });
    const agent = await get<Record<string, unknown>>(`/v1/agent/service/${name}`);
    expect(agent.SocketPath).toBe('/tmp/web.sock');
    expect(agent.Locality).toEqual({ Region: 'eu-west', Zone: 'a' });
    const rows = await get<Array<Record<string, unknown>>>(`/v1/catalog/service/${name}`);
    expect(rows[0]?.ServiceSocketPath).toBe('/tmp/web.sock');
    expect(rows[0]?.ServiceLocality).toEqual({ Region: 'eu-west', Zone: 'a' });
    const health = await get<Array<{ Service: Record<string, unknown> }>>(`/v1/health/service/${name}`);
    expect(health[0]?.Service).toMatchObject({ SocketPath: '/tmp/web.sock', Locality: { Region: 'eu-west', Zone: 'a' } });
  });

  it('AgentService ContentHash: hashstructure over api.AgentService, as the reply shows it', async () => {
    const name = uniqueName('hash');
    await svc.register({
      Name: name,
      ID: `${name}-1`,
      Tags: ['b', 'a'],
      Meta: { version: '2', env: 'prod' },
      Port: 8080,
      Address: '10.1.2.3',
      EnableTagOverride: true,
      Weights: { Passing: 3, Warning: 1 },
    });
    const res = await ctx.req('GET', `/v1/agent/service/${name}-1`);
    expect(res.status, res.text).toBe(200);
    const body = res.json<Record<string, any>>();
    const expected = agentServiceContentHash({
      Kind: body.Kind ?? '',
      ID: body.ID,
      Service: body.Service,
      Tags: body.Tags,
      Meta: body.Meta,
      Port: body.Port,
      Address: body.Address,
      SocketPath: body.SocketPath ?? '',
      TaggedAddresses: body.TaggedAddresses ?? {},
      Weights: body.Weights,
      EnableTagOverride: body.EnableTagOverride,
      PeerName: body.PeerName ?? '',
    });
    expect(body.ContentHash).toBe(expected);
    expect(res.header('x-consul-contenthash')).toBe(expected);
  });

  it('updateSyncState: with EnableTagOverride the agent adopts tags changed through the catalog', async () => {
    const name = uniqueName('eto');
    await svc.register({ Name: name, Tags: ['a'], EnableTagOverride: true });
    const self = await get<{ Config: { NodeName: string }; Member: { Addr: string } }>('/v1/agent/self');
    // A write on the agent's own node: not tracked for deregistration, the service helper removes it.
    const res = await ctx.req('PUT', '/v1/catalog/register', {
      body: { Node: self.Config.NodeName, Address: self.Member.Addr, SkipNodeUpdate: true, Service: { Service: name, Tags: ['b'], EnableTagOverride: true } },
    });
    expect(res.status, res.text).toBe(200);
    expect((await get<Array<{ ServiceTags: string[] }>>(`/v1/catalog/service/${name}`))[0]?.ServiceTags).toEqual(['b']);
    // A real agent adopts them at its next anti-entropy sync (ae_interval, 1 min); the dev server at once.
    await vi.waitFor(
      async () => expect((await get<{ Tags: string[] }>(`/v1/agent/service/${name}`)).Tags).toEqual(['b']),
      { timeout: ctx.isDev ? 2_000 : 100_000, interval: ctx.isDev ? 20 : 1_000 },
    );
  }, 120_000);

  it('setCacheMeta: ?cached reads answer X-Cache MISS first, then HIT with Age', async () => {
    const node = ext.name();
    const s = uniqueName('cached');
    await ext.register({ Node: node, Address: '192.0.2.16', Service: { Service: s } });
    const first = await ctx.req('GET', `/v1/health/service/${s}?cached`);
    expect(first.status, first.text).toBe(200);
    expect(first.header('x-cache')).toBe('MISS');
    expect(first.header('age')).toBeUndefined();
    const second = await ctx.req('GET', `/v1/health/service/${s}?cached`);
    expect(second.header('x-cache')).toBe('HIT');
    expect(second.header('age')).toMatch(/^\d+$/);
    expect(second.json()).toEqual(first.json());
    const uncached = await ctx.req('GET', `/v1/health/service/${s}`);
    expect(uncached.header('x-cache')).toBeUndefined();
    const catalogFirst = await ctx.req('GET', `/v1/catalog/service/${s}?cached`);
    expect(catalogFirst.header('x-cache')).toBe('MISS');
    expectError(await ctx.req('GET', `/v1/catalog/services?cached&consistent`), 400, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
  });
});

describeConformance(
  'Node metadata of the dev server (startDevServer({ nodeMeta }))',
  (ctx) => {
    it('the agent node carries nodeMeta next to Consul\'s own keys; ?node-meta selects on it', async () => {
      const res = await ctx.req('GET', '/v1/catalog/nodes?node-meta=rack:r7');
      expect(res.status, res.text).toBe(200);
      const nodes = res.json<NodeJson[]>();
      expect(nodes.map((n) => n.Node)).toEqual([ctx.target.nodeName]);
      expect(nodes[0]!.Meta).toEqual({ 'consul-network-segment': '', 'consul-version': expect.any(String), rack: 'r7', zone: 'z1' });
      expect((await ctx.req('GET', '/v1/catalog/nodes?node-meta=rack:r8')).json()).toEqual([]);
      const self = (await ctx.req('GET', '/v1/agent/self')).json<{ DebugConfig: { NodeMeta: Record<string, string> } }>();
      expect(self.DebugConfig.NodeMeta).toEqual({ rack: 'r7', zone: 'z1' });
    });
  },
  { devOnly: true, dev: { nodeMeta: { rack: 'r7', zone: 'z1' } } },
);
