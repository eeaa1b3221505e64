/**
 * recipes-docs/testing.md: tests of your own code against the embedded dev server, with fault
 * hooks and the fault proxy. Written with node:test so the file runs as it is (it starts its own
 * dev server; CONSUL_HTTP_ADDR is not used):
 *
 *   npx tsx examples/docs/testing.ts
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { Coordinator, LockLostError } from '../../src/index.js';
import { startDevServer, startFaultProxy } from '../../src/testing/index.js';

const server = await startDevServer({ port: 0, sessionTtlMin: '1s' }); // lower TTLs for fast tests
const proxy = await startFaultProxy({ target: server.url });
const coord = new Coordinator({ address: proxy.url });
after(async () => {
  await coord.close();
  await proxy.close();
  await server.close();
});

test('a partitioned holder loses its lock at its local deadline', async () => {
  const handle = await coord.lock('locks/partition', { ttl: '2s', lockDelay: '1s' }).acquire();
  proxy.partition();                         // requests hang, as in a network partition
  await once(handle.signal, 'abort');        // ttl after the last successful renewal
  assert.ok(handle.signal.reason instanceof LockLostError);
  proxy.heal();                              // held bytes are delivered; new requests flow
});

test('an invalidated session ends the hold at once', async () => {
  const handle = await coord.lock('locks/invalidate').acquire();
  server.invalidateSession(handle.session.id); // as if its TTL had expired on the server
  await once(handle.signal, 'abort');
  assert.equal(server.state.lockDelayMs('locks/invalidate') > 0, true); // lock-delay is now set
});

test('without a leader, a new session fails once the retries are spent', async () => {
  const impatient = new Coordinator({ address: server.url, retry: { retries: 0 } });
  server.leaderless();                       // until restoreLeader(); leaderless(ms) ends by itself
  await assert.rejects(impatient.session(), { code: 'ERR_CONSUL', statusCode: 500 }); // No cluster leader
  server.restoreLeader();
  await impatient.close();
});

test('a write made once the watcher is parked is the one that wakes it', async () => {
  const watcher = coord.configWatcher('app/');
  const changed = new Promise<{ size: number }>((resolve) => watcher.once('change', resolve));
  await watcher.ready();
  await server.waitForParked({ endpoint: '/v1/kv/app/' }); // its next read now waits for a change
  await coord.api.kv.put('app/x', '1');                      // so this write is what wakes it
  assert.equal((await changed).size, 1);
  await watcher.close();
});

test('nothing is left on the server', async () => {
  await coord.close();
  assert.deepEqual(server.state.listSessions(), []);
});
