/**
 * recipes-docs/lock.md and the README's Lock section: acquire and release, withLock, a try that
 * never waits, timeouts and aborts, and what a holder sees when its lock is lost.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/lock.ts
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Coordinator, LockLostError, LockTimeoutError } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Acquire and release ------------------------------------------------------------------------
const lock = coord.lock('locks/orders', { ttl: '15s', lockDelay: '15s' });
const handle = await lock.acquire({ timeout: '10s' }); // LockTimeoutError after 10 s
try {
  await processOrders({ signal: handle.signal, fencingToken: handle.fencingToken });
} finally {
  await handle.release();
}

// Or let withLock do the bookkeeping:
await coord.withLock('locks/orders', async ({ signal, fencingToken }) => {
  await processOrders({ signal, fencingToken });
}, { timeout: '30s' });
assert.equal(lock.state, 'idle');

// --- Try once -----------------------------------------------------------------------------------
const first = await coord.lock('locks/reports').acquire();
const second = await coord.lock('locks/reports').tryAcquire(); // one attempt, never waits
console.log(second); // null: the key is held by `first`
await first.release();
assert.equal(second, null);

// --- Timeouts and aborts ------------------------------------------------------------------------
const holder = await coord.lock('locks/reports').acquire();
try {
  await coord.lock('locks/reports').acquire({ timeout: '250ms' });
} catch (err) {
  if (!(err instanceof LockTimeoutError)) throw err;
  console.log(err.code); // 'ERR_LOCK_TIMEOUT'; nothing was left behind on the server
}
const controller = new AbortController();
const waiting = coord.lock('locks/reports').acquire({ signal: controller.signal });
controller.abort(new Error('shutting down'));
await waiting.catch((err: Error) => console.log(err.message)); // 'shutting down': the signal's reason
await holder.release();

// --- When the lock is lost ----------------------------------------------------------------------
const audit = coord.lock('locks/audit');
audit.on('lost', (err) => console.log('lost:', err.reason)); // 'the lock key was deleted'
const held = await audit.acquire();
await coord.api.kv.delete('locks/audit');                      // an operator deletes the key
await once(held.signal, 'abort');                              // aborts first, then 'lost' fires
console.log(held.signal.reason instanceof LockLostError, audit.state); // true 'lost'
assert.equal((held.signal.reason as LockLostError).code, 'ERR_LOCK_LOST');
await held.release(); // resolves once the cleanup after the loss is done

// --- Fair mode ----------------------------------------------------------------------------------
const turn = await coord.lock('locks/queue', { fair: true }).acquire();
const served: string[] = [];
const waiters = ['a', 'b', 'c'].map((name) => ({ name, lock: coord.lock('locks/queue', { fair: true }) }));
const done: Promise<void>[] = [];
for (const { name, lock } of waiters) {
  const waiting = new Promise<void>((resolve) => lock.once('waiting', () => resolve())); // in line behind the one before
  done.push(lock.acquire().then((h) => { served.push(name); return h.release(); }));
  await waiting;
}
await turn.release(); // wakes the first in line, and only it
await Promise.all(done);
console.log(served); // [ 'a', 'b', 'c' ]: first come, first served
assert.deepEqual(served, ['a', 'b', 'c']);

await coord.close();

/** Downstream work: checks the signal before each step and stamps writes with the token. */
async function processOrders({ signal, fencingToken }: { signal: AbortSignal; fencingToken: number }): Promise<void> {
  for (const order of ['o-1', 'o-2']) {
    signal.throwIfAborted();
    await coord.api.kv.put(`orders/processed/${order}`, JSON.stringify({ fencingToken }), { signal });
  }
}
