/**
 * recipes-docs/session.md: one session shared by several locks, its events, and what its loss
 * does to everything that hangs from it.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/session.ts
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- One session, several locks -----------------------------------------------------------------
const session = await coord.session({ name: 'billing worker', ttl: '15s', lockDelay: '5s' });
session.on('lost', (err) => console.log('session lost:', err.message));
const orders = await coord.lock('locks/billing/orders', { session }).acquire();
const invoices = await coord.lock('locks/billing/invoices', { session }).acquire();
console.log(orders.session === invoices.session, session.state); // true 'active'
await orders.release();                     // releases the key; the session lives on
await invoices.release();
await session.destroy();                    // never destroyed by the locks: yours to destroy

// --- Losing the session loses everything under it -----------------------------------------------
const shared = await coord.session({ ttl: '15s' });
const a = await coord.lock('locks/billing/a', { session: shared }).acquire();
const b = await coord.lock('locks/billing/b', { session: shared }).acquire();
await coord.api.sessions.destroy(shared.id);      // an operator runs `consul session destroy`
await Promise.all([once(a.signal, 'abort'), once(b.signal, 'abort')]); // both holds are lost
console.log(a.signal.reason.message);             // lock on "locks/billing/a" was lost: the lock key was released (…)
assert.equal(a.signal.reason.code, 'ERR_LOCK_LOST');

await coord.close(); // destroys `shared` too: the Coordinator owns every session it created
