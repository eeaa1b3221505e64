/**
 * recipes-docs/counter.md: a shared counter, added to from several places at once.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/counter.ts
 */
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Get and add --------------------------------------------------------------------------------
const visits = coord.counter('stats/visits');
console.log(await visits.get()); // 0n while the key does not exist
console.log(await visits.add(1)); // 1n: the new value
console.log(await visits.add(-1n)); // 0n

// --- Concurrent adders --------------------------------------------------------------------------
const others = new Coordinator({ address: coord.address });
const a = coord.counter('stats/orders');
const b = others.counter('stats/orders');
await Promise.all([...Array.from({ length: 10 }, () => a.add(1)), ...Array.from({ length: 10 }, () => b.add(2))]);
console.log(await a.get()); // 30n: every add counted exactly once
assert.equal(await a.get(), 30n);

await others.close();
await coord.close();
