/**
 * recipes-docs/events.md and the README's Events section: watch a user event, fire it, receive it
 * once; filters; the payload limit.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/events.ts
 */
import assert from 'node:assert/strict';
import { Coordinator, ConfigError, type UserEvent } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Watch, fire, receive -----------------------------------------------------------------------
const deploys = coord.events.watch('deploy');
await deploys.ready();                        // from now on, every event the agent gets is delivered
const id = await coord.events.fire('deploy', JSON.stringify({ version: '1.4.2' }));
for await (const ev of deploys) {
  console.log(ev.name, ev.payload?.toString()); // deploy {"version":"1.4.2"}
  break;                                      // leaving the loop closes the watcher
}
await deploys.close(); // already closing since the loop was left; close() is idempotent
assert.equal(deploys.state, 'closed');

// --- Listen with `event`, fire with filters -----------------------------------------------------
const received: UserEvent[] = [];
const cache = coord.events.watch('cache-flush');
cache.on('event', (ev) => received.push(ev));
await cache.ready();
await coord.events.fire('cache-flush', 'users', { node: '.*' });           // every agent whose node name matches
await coord.events.fire('cache-flush', 'orders', { service: '^billing' }); // only agents running a billing service
await coord.events.fire('cache-flush', 'sessions');
await waitUntil(() => received.length > 0 && received.at(-1)?.payload?.toString() === 'sessions');
console.log(received.map((ev) => ev.payload?.toString())); // [ 'users', 'sessions' ]: no billing service here
await cache.close();
assert.deepEqual(received.map((ev) => ev.payload?.toString()), ['users', 'sessions']);

// --- Payloads are small -------------------------------------------------------------------------
try {
  await coord.events.fire('deploy', 'x'.repeat(600));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.log(err.message); // event payload must be at most 512 bytes (Consul's user event limit), got 600
}

assert.match(id, /^[0-9a-f-]{36}$/);
await coord.close();

/** Events arrive in order: once the last one fired is here, every earlier one kept is too. */
async function waitUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(done(), 'the last event fired never arrived');
}
