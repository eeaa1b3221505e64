/**
 * recipes-docs/config-watcher.md and the README's Config watcher section: a live, decoded view
 * of a KV prefix, its `change` events, iteration, and a value that does not decode.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/config-watcher.ts
 */
import assert from 'node:assert/strict';
import { Coordinator, DecodeError, type ConfigChanges, type ConfigSnapshot } from '../../src/index.js';

const coord = Coordinator.fromEnv();
await coord.api.kv.put('config/billing/db/url', '"postgres://db-1/billing"');
await coord.api.kv.put('config/billing/feature/new-checkout', 'false');

// --- Watch a prefix -----------------------------------------------------------------------------
const config = coord.configWatcher('config/billing/', { decode: 'json' });
await config.ready({ timeout: '10s' });
console.log(config.get('db/url'));          // 'postgres://db-1/billing' (keys are relative to the prefix)
config.on('change', (snapshot, { added, modified, deleted }) => reconfigure(snapshot, { added, modified, deleted }));
config.on('error', (err) => console.warn(String(err))); // failed reads, values that do not decode

// --- Iterate snapshots --------------------------------------------------------------------------
setTimeout(() => void coord.api.kv.put('config/billing/feature/new-checkout', 'true'), 10);
for await (const snapshot of config) {      // the current snapshot first, then each new one
  if (snapshot.get('feature/new-checkout') === true) break; // leaving the loop keeps the watcher
}

// --- A value that does not decode ---------------------------------------------------------------
const rejected = new Promise<DecodeError>((resolve) => config.once('error', (err) => resolve(err as DecodeError)));
await coord.api.kv.put('config/billing/db/pool', '{ not json');
const err = await rejected;
console.log(err.code, err.key);             // 'ERR_DECODE' 'config/billing/db/pool'
console.log(config.snapshot().has('db/pool')); // false: the last good snapshot stays
assert.ok(err instanceof DecodeError);
assert.equal(config.snapshot().has('db/pool'), false);

await config.close();
await coord.close();

/** What a service would do with a new configuration: here, log what changed. */
function reconfigure(snapshot: ConfigSnapshot, changes: ConfigChanges): void {
  console.log('config', snapshot.index, changes);
}
