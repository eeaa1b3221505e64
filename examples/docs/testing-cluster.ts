/**
 * recipes-docs/testing.md: the dev cluster (a node dies), script checks and the DNS interface.
 * Written with node:test so the file runs as it is (it starts its own servers; CONSUL_HTTP_ADDR
 * is not used):
 *
 *   npx tsx examples/docs/testing-cluster.ts
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Resolver } from 'node:dns/promises';
import { test } from 'node:test';
import { Coordinator } from '../../src/index.js';
import { startDevCluster, startDevServer } from '../../src/testing/index.js';

test('a lock holder’s node dies: serfHealth fails, the session goes, the lock moves on', async () => {
  const cluster = await startDevCluster({ nodes: 3, suspicionTimeout: '200ms', sessionTtlMin: '1s' });
  const [one, two] = cluster.agents;        // [{ node: 'node-1', url }, { node: 'node-2', url }, …]
  const holder = new Coordinator({ address: two!.url });
  const waiter = new Coordinator({ address: one!.url });
  const opts = { ttl: '2s', lockDelay: '2s' }; // lockDelay ≥ ttl: the session is bound to serfHealth
  const held = await holder.lock('jobs/nightly', opts).acquire();
  const next = waiter.lock('jobs/nightly', opts).acquire();

  await cluster.killNode('node-2');          // its serfHealth turns critical after 200 ms
  await once(held.signal, 'abort');          // the holder gives up at its own deadline
  const mine = await next;                   // node-1's contender gets it after lock-delay
  await mine.release();

  await cluster.restartNode('node-2');       // back with its local services, serfHealth passing
  await holder.close();
  await waiter.close();
  await cluster.close();
});

test('script checks run only when the agent enables them', async () => {
  const server = await startDevServer({ enableScriptChecks: true });
  const coord = new Coordinator({ address: server.url });
  const reg = await coord.registerService({
    name: 'billing',
    port: 8080,
    check: { args: ['sh', '-c', 'exit 1'], interval: '1s', timeout: '5s' }, // exit 1 = warning
  });
  for (;;) {
    const check = server.state.listChecks().find((c) => c.checkId === `service:${reg.id}`);
    if (check?.status === 'warning') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await reg.deregister();
  await coord.close();
  await server.close();
});

test('the DNS interface answers service lookups', async () => {
  const server = await startDevServer({ dnsPort: 0 }); // server.dns = { host, port }
  const coord = new Coordinator({ address: server.url });
  const reg = await coord.registerService({ name: 'billing', address: '127.0.0.5', port: 8080, tags: ['v2'] });

  const resolver = new Resolver();
  resolver.setServers([`${server.dns!.host}:${server.dns!.port}`]);
  assert.deepEqual(await resolver.resolve4('billing.service.consul'), ['127.0.0.5']);
  const [srv] = await resolver.resolveSrv('_billing._v2.service.consul');
  assert.equal(srv!.port, 8080);

  await reg.deregister();
  await coord.close();
  await server.close();
});
