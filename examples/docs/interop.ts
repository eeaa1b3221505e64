/**
 * recipes-docs/interop.md: the keys, flags and records that Go's api.Lock / api.Semaphore and
 * `consul lock` share with this library, read back raw from Consul.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/interop.ts
 */
import assert from 'node:assert/strict';
import { Coordinator, LOCK_FLAG_VALUE, SEMAPHORE_FLAG_VALUE } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- The lock `consul lock jobs/nightly <cmd>` takes --------------------------------------------
const handle = await coord.lock('jobs/nightly/.lock').acquire(); // `consul lock <prefix>` = <prefix>/.lock
const { pair } = await coord.api.kv.get('jobs/nightly/.lock');
console.log(pair?.flags === LOCK_FLAG_VALUE, pair?.session === handle.session.id); // true true
console.log(LOCK_FLAG_VALUE.toString(16));  // '2ddccbc058a50c18' (a bigint: it is above 2^53)
await handle.release();

// --- The semaphore `consul lock -n 2 jobs/reindex <cmd>` shares ---------------------------------
const permit = await coord.semaphore('jobs/reindex', { limit: 2 }).acquire();
const { pairs } = await coord.api.kv.list('jobs/reindex/');
for (const entry of pairs) console.log(entry.key, entry.flags === SEMAPHORE_FLAG_VALUE, entry.session ?? '-');
// jobs/reindex/.lock true -                  {"Limit":2,"Holders":{"<session>":true}}
// jobs/reindex/<session> true <session>      the contender key, locked by its own session
await permit.release();

assert.equal(pair?.flags, 0x2ddccbc058a50c18n);
assert.equal(pairs.length, 2);
assert.ok(pairs.every((p) => p.flags === 0xe0f69a2baa414de0n));
await coord.close();
