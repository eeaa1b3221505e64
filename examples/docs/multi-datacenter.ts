/**
 * recipes-docs/multi-datacenter.md: `dc` per call, failover through a prepared query, and the
 * refusal of `dc` by session-bound recipes, on a two-datacenter dev cluster. Written with
 * node:test so the file runs as it is (it starts its own cluster; CONSUL_HTTP_ADDR is not used):
 *
 *   npx tsx examples/docs/multi-datacenter.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, Coordinator, type DatacenterMove } from '../../src/index.js';
import { startDevCluster } from '../../src/testing/index.js';

test('dc per call, failover to dc2 and back, and no lock in another datacenter', async () => {
  const cluster = await startDevCluster({ datacenters: { dc1: 2, dc2: 1 } });
  for (const agent of cluster.agents) {
    // One `billing` instance per node, with a TTL check the test drives.
    await fetch(`${agent.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: `billing-${agent.node}`, Name: 'billing', Port: 9000, Check: { CheckID: `c-${agent.node}`, TTL: '1h', Status: 'passing' } }),
    });
  }
  const setDc1 = (status: 'passing' | 'critical'): void => {
    for (const agent of cluster.agentsIn('dc1')) agent.server.setCheckStatus(`c-${agent.node}`, status);
  };
  const coord = new Coordinator({ address: cluster.agentsIn('dc1')[0]!.url });

  // Per datacenter: each one has its own KV store, catalog, sessions and events.
  await coord.api.kv.put('app/mode', 'blue', { dc: 'dc2' });
  const remote = coord.configWatcher('app/', { dc: 'dc2' });
  assert.equal((await remote.ready()).get('mode'), 'blue');
  const there = await coord.resolve('billing', { dc: 'dc2' });
  assert.deepEqual(there.map((i) => i.datacenter), ['dc2']);

  // Failover: the healthy instances here, or else those of dc2.
  const watcher = coord.serviceWatcher('billing', { failover: { datacenters: ['dc2'] } });
  await watcher.ready();
  watcher.on('failedOver', ({ from, to }) => console.log(`billing: ${from} → ${to}`));
  watcher.on('failedBack', ({ from, to }) => console.log(`billing: back ${from} → ${to}`));

  const failedOver = new Promise<DatacenterMove>((resolve) => watcher.once('failedOver', resolve));
  setDc1('critical');                                   // every dc1 instance fails
  const found = await coord.resolve('billing', { failover: { datacenters: ['dc2'] } });
  assert.deepEqual(found.map((i) => i.datacenter), ['dc2']);
  const moved = await failedOver;
  assert.equal(moved.to, 'dc2');

  const failedBack = new Promise<DatacenterMove>((resolve) => watcher.once('failedBack', resolve));
  setDc1('passing');                                    // dc1 recovers
  await failedBack;
  assert.equal(watcher.datacenter, 'dc1');

  // A session (and so a lock) belongs to one datacenter: `dc` is refused, saying why.
  assert.throws(() => coord.lock('jobs/nightly', { dc: 'dc2' } as never), ConfigError);

  await coord.close();                                  // deletes the failover query and its session
  await cluster.close();
});
