/**
 * recipes-docs/guarantees.md: why a fencing token is needed, and how a downstream store uses it
 * to refuse a holder that lost its lock but still runs.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/guarantees.ts
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- A stale holder and a fenced store ----------------------------------------------------------
const a = await coord.lock('locks/ledger').acquire();
await coord.api.kv.delete('locks/ledger');          // the lock is lost (here: an operator)…
await once(a.signal, 'abort');                      // …and `a` is told, but suppose its code
const b = await coord.lock('locks/ledger').acquire(); // still had a write in flight
console.log(b.fencingToken > a.fencingToken);       // true: tokens grow with every holder

console.log(await fencedWrite('ledger/balance', b.fencingToken, '100')); // true
console.log(await fencedWrite('ledger/balance', a.fencingToken, '90'));  // false: refused, a newer holder wrote
await b.release();
await a.release();

/**
 * The store's side: remember the highest token seen and refuse older writers. The check and the
 * write are one step (a check-and-set on the record), as `UPDATE … WHERE token <= $1` would be.
 */
async function fencedWrite(key: string, fencingToken: number, data: string): Promise<boolean> {
  const { pair } = await coord.api.kv.get(key, { consistent: true });
  const current = pair?.value ? (JSON.parse(pair.value.toString()) as { token: number }) : { token: 0 };
  if (current.token > fencingToken) return false;
  return coord.api.kv.put(key, JSON.stringify({ token: fencingToken, data }), { cas: pair?.modifyIndex ?? 0 });
}

assert.equal(await fencedWrite('ledger/balance', a.fencingToken, '80'), false);
await coord.close();
