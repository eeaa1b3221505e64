/**
 * recipes-docs/semaphore.md and the README's Semaphore section: permits, withSemaphore, the
 * `.lock` record, and a limit conflict.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/semaphore.ts
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Coordinator, LockConflictError } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Acquire and release ------------------------------------------------------------------------
const sem = coord.semaphore('semaphores/db', { limit: 3 });
const permit = await sem.acquire({ timeout: '30s' }); // LockTimeoutError after 30 s
try {
  await runQuery({ signal: permit.signal });
} finally {
  await permit.release();
}

// --- withSemaphore: at most `limit` of these run at once, cluster-wide ---------------------------
let running = 0;
let peak = 0;
await Promise.all(['batch-1', 'batch-2', 'batch-3', 'batch-4', 'batch-5'].map((batch) =>
  coord.withSemaphore('semaphores/db-migrations', { limit: 2 }, async ({ signal }) => {
    running += 1;
    peak = Math.max(peak, running);
    await runMigrationBatch(batch, { signal });
    running -= 1;
  }, { timeout: '30s' }),
));
console.log('at most', peak, 'batches ran at once'); // 2
assert.ok(peak <= 2);

// --- The record every contender shares ----------------------------------------------------------
const held = await coord.semaphore('semaphores/db', { limit: 3 }).acquire();
const { pair } = await coord.api.kv.get('semaphores/db/.lock');
console.log(pair?.value?.toString()); // {"Limit":3,"Holders":{"<session id>":true}}
assert.deepEqual(JSON.parse(pair?.value?.toString() ?? ''), { Limit: 3, Holders: { [held.session.id]: true } });

// --- Every contender must use the same limit ----------------------------------------------------
try {
  await coord.semaphore('semaphores/db', { limit: 2 }).acquire();
} catch (err) {
  if (!(err instanceof LockConflictError)) throw err;
  console.log(err.message); // conflict on "semaphores/db": semaphore limit conflict (record: 3, local: 2)
}
await held.release();

await coord.close();

async function runQuery({ signal }: { signal: AbortSignal }): Promise<void> {
  await delay(10, undefined, { signal });
}

async function runMigrationBatch(batch: string, { signal }: { signal: AbortSignal }): Promise<void> {
  await delay(50, undefined, { signal });
  await coord.api.kv.put(`migrations/done/${batch}`, 'ok', { signal });
}
