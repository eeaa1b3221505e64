/**
 * README, "A first example", the line after it: the same job with fast crash failover. The
 * session is bound to a check this process heartbeats, so a crashed holder loses the lock when
 * the check expires (healthCheckTtl), not up to 2×ttl later, and lock-delay is 1 s, not 15 s.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/quick-start-fast.ts
 */
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// Crash failover ≈ healthCheckTtl + lockDelay (about 3 s) instead of up to 2×ttl + lockDelay (45 s):
await coord.withLock('locks/nightly-report', buildReport, { timeout: '30s', healthCheckTtl: '2s', lockDelay: '1s' });

await coord.close();

/** The job: checks it ran under a session bound to its own heartbeat check, with a 1 s lock-delay. */
async function buildReport({ signal, fencingToken }: { signal: AbortSignal; fencingToken: number }): Promise<void> {
  signal.throwIfAborted();
  const { pair } = await coord.api.kv.get('locks/nightly-report', { signal });
  assert.ok(pair?.session, 'the lock key carries our session');
  const { session } = await coord.api.sessions.info(pair.session, { signal });
  assert.equal(session?.LockDelay, 1_000_000_000);
  assert.equal(session?.ServiceChecks?.length, 1);
  console.log('report built under fencing token', fencingToken, 'with fast failover');
}
