/**
 * recipes-docs/barrier.md: a barrier that holds workers until a migration is done, and a double
 * barrier that starts and ends three workers together.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/barrier.ts
 */
import assert from 'node:assert/strict';
import { Coordinator, TimeoutError } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Barrier ------------------------------------------------------------------------------------
const migration = coord.barrier('deploy/migration-running');
await migration.set(); // workers wait from now on

const worker = coord.barrier('deploy/migration-running').wait({ timeout: '1m' }).then(() => console.log('worker: migration done, starting'));
await runMigration();
await migration.remove(); // every waiter passes
await worker;

try {
  await migration.set();
  await coord.barrier('deploy/migration-running').wait({ timeout: '200ms' });
} catch (err) {
  if (!(err instanceof TimeoutError)) throw err;
  console.log(err.code); // 'ERR_TIMEOUT'
} finally {
  await migration.remove();
}

// --- Double barrier -----------------------------------------------------------------------------
async function participant(name: string): Promise<void> {
  const round = coord.doubleBarrier('batch/nightly', { count: 3 });
  await round.enter({ timeout: '1m' }); // resolves when all 3 entered
  console.log(`${name}: everybody is here, working`);
  await round.leave({ timeout: '1m' }); // resolves when all 3 left
  console.log(`${name}: everybody is done`);
}
await Promise.all(['a', 'b', 'c'].map(participant));
assert.equal((await coord.api.kv.list('batch/nightly/')).pairs.length, 0);

await coord.close();

async function runMigration(): Promise<void> {
  await coord.api.kv.put('deploy/schema-version', '42');
}
