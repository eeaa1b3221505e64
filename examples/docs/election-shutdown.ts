/**
 * recipes-docs/leader-election.md, "Graceful shutdown": on SIGTERM the leader resigns (the key
 * is deleted, so the next campaigner is elected at once), the Coordinator closes, and the
 * process exits 0. This example sends itself the SIGTERM a process manager would send.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/election-shutdown.ts
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Coordinator } from '../../src/index.js';

const coord = Coordinator.fromEnv();
const election = coord.election('elections/shutdown-demo', { healthCheckTtl: '3s' });
election.on('deposed', (reason) => {
  console.log('deposed:', reason); // 'resigned'
  assert.equal(reason, 'resigned');
});
await election.campaign();

election.resignOnSignals(['SIGTERM', 'SIGINT'], { beforeExit: () => coord.close() });

// Stand-in for the process manager (systemd, Kubernetes, docker stop):
setTimeout(() => process.kill(process.pid, 'SIGTERM'), 50);
await delay(20_000); // the leader's work; the shutdown above exits with code 0 long before
throw new Error('SIGTERM did not stop the process');
