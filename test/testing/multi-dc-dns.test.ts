/**
 * The DNS interface across datacenters (agent/dns.go): `<service>.service.<dc>.consul` answers
 * from that datacenter's catalog, and `<query>.query.consul` executes a prepared query with its
 * failover (preparedQueryLookup), naming the datacenter that answered in its SRV targets.
 */
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevCluster, startDevCluster } from '../../src/testing/index.js';

let cluster: DevCluster;
let resolver: Resolver;

beforeAll(async () => {
  cluster = await startDevCluster({ datacenters: { dc1: 1, dc2: 1 }, dnsPort: 0 });
  for (const dc of cluster.datacenters) {
    const agent = cluster.agentsIn(dc)[0]!;
    const res = await fetch(`${agent.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: `api-${dc}`, Name: 'api', Port: dc === 'dc1' ? 8001 : 8002, Check: { CheckID: `c-${dc}`, TTL: '1h', Status: 'passing' } }),
    });
    expect(res.status).toBe(200);
  }
  const dc1 = cluster.agentsIn('dc1')[0]!;
  const created = await fetch(`${dc1.url}/v1/query`, { method: 'POST', body: JSON.stringify({ Name: 'api-ha', Service: { Service: 'api', Failover: { Datacenters: ['dc2'] } } }) });
  expect(created.status).toBe(200);
  resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${dc1.server.dns!.port}`]);
});

afterAll(async () => {
  await cluster.close();
});

describe('DNS across datacenters', () => {
  it('<service>.service.dc2.consul answers dc2’s instances, with dc2 targets', async () => {
    const srv = await resolver.resolveSrv('api.service.dc2.consul');
    expect(srv.map((r) => [r.port, r.name])).toEqual([[8002, 'dc2-node-1.node.dc2.consul']]);
    await expect(resolver.resolveSrv('api.service.dc9.consul')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('<query>.query.consul answers locally, fails over to dc2 when dc1 has no healthy instance, and back', async () => {
    expect((await resolver.resolveSrv('api-ha.query.consul')).map((r) => r.port)).toEqual([8001]);
    cluster.agentsIn('dc1')[0]!.server.setCheckStatus('c-dc1', 'critical');
    const failed = await resolver.resolveSrv('api-ha.query.consul');
    expect(failed.map((r) => [r.port, r.name])).toEqual([[8002, 'dc2-node-1.node.dc2.consul']]);
    cluster.agentsIn('dc1')[0]!.server.setCheckStatus('c-dc1', 'passing');
    expect((await resolver.resolveSrv('api-ha.query.consul')).map((r) => r.port)).toEqual([8001]);
    await expect(resolver.resolve4('no-such-query.query.consul')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
