/**
 * recipes-docs/service-discovery.md and the README's Service section: register this process with
 * a TTL check, follow the healthy instances, pick one, look one up, change health, deregister.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/service-discovery.ts
 */
import assert from 'node:assert/strict';
import { Coordinator, type ServiceInstance } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Register and discover ----------------------------------------------------------------------
const reg = await coord.registerService({
  name: 'billing', port: 8080, tags: ['v2'],
  check: { ttl: '5s' },                       // heartbeated for you every ttl/3
  deregisterCriticalServiceAfter: '1m',
});
const instances = coord.serviceWatcher('billing', { passingOnly: true, tag: 'v2' });
await instances.ready();
const target = instances.pick();              // round-robin over healthy instances
console.log(target?.id, target?.address, target?.port); // billing-1a2b3c4d 127.0.0.1 8080
assert.equal(target?.id, reg.id);

// --- Health changes reach every watcher ---------------------------------------------------------
const changed = new Promise<readonly ServiceInstance[]>((resolve) => instances.once('change', resolve));
await reg.setHealth('warning', 'queue backlog 900'); // heartbeats now repeat 'warning'
console.log(await changed);                   // []: warning is not passing
const now = await coord.resolve('billing', { passingOnly: false }); // one-shot lookup
console.log(now.map((i) => `${i.id} ${i.status}`)); // [ 'billing-1a2b3c4d warning' ]
assert.equal(now[0]?.status, 'warning');

await reg.deregister();
await instances.close();
await coord.close();
