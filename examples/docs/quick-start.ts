/**
 * README, "A first example": a job that only one process in the cluster runs at a time.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/quick-start.ts
 *
 * Files in examples/docs/ import the sources by path ('../../src/index.js') so that `tsc` checks
 * them against the real API without a build; the docs show the same lines importing
 * 'consul-recipes', which is what you write in your project (test/docs/doc-blocks.test.ts maps
 * one to the other and nothing else).
 */
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv(); // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT

await coord.withLock('locks/nightly-report', async ({ signal, fencingToken }) => {
  // Only one process in the cluster runs this at a time. If the lock is lost mid-way
  // (partition, session expiry), `signal` aborts before anybody else can take it.
  await buildReport({ signal, fencingToken });
}, { timeout: '30s' });

await coord.close(); // releases everything, destroys its sessions, stops every loop

/** The job: writes a report stamped with the lock's fencing token. */
async function buildReport({ signal, fencingToken }: { signal: AbortSignal; fencingToken: number }): Promise<void> {
  signal.throwIfAborted();
  const report = JSON.stringify({ fencingToken, builtAt: new Date().toISOString() });
  await coord.api.kv.put('reports/nightly', report, { signal });
  const { pair } = await coord.api.kv.get('reports/nightly', { signal });
  assert.equal(JSON.parse(pair?.value?.toString() ?? '{}').fencingToken, fencingToken);
  console.log('report built under fencing token', fencingToken);
}
