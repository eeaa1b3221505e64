/**
 * recipes-docs/rwlock.md: readers share, a writer holds alone, and the with-helpers.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/rwlock.ts
 */
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Readers and a writer -----------------------------------------------------------------------
const catalog = coord.readWriteLock('locks/catalog');
const reader1 = await catalog.read().acquire();
const reader2 = await catalog.read().acquire(); // readers hold together
const writer = catalog.write();
const queued = new Promise<void>((resolve) => writer.once('waiting', resolve)); // its key is in line
const writing = writer.acquire({ timeout: '30s' });
await queued;
console.log(await catalog.read().tryAcquire()); // null: a reader arriving now queues behind the writer
await reader1.release();
await reader2.release();
const held = await writing; // alone now
console.log(held.mode, held.fencingToken > reader2.fencingToken); // 'write' true
await held.release();

// --- With helpers -------------------------------------------------------------------------------
const price = await catalog.withReadLock(async ({ signal }) => {
  const { pair } = await coord.api.kv.get('catalog/price', { signal });
  return pair?.value?.toString() ?? 'unset';
});
await catalog.withWriteLock(async ({ signal, fencingToken }) => {
  await coord.api.kv.put('catalog/price', JSON.stringify({ cents: 999, fencingToken }), { signal });
});
console.log(price); // 'unset'
assert.equal(price, 'unset');

await coord.close();
