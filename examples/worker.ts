/**
 * A worker service with a leader-only job. Run as many copies as you like; exactly one at a time
 * runs the job, and a stopped or crashed copy is replaced quickly.
 *
 *   consul-recipes dev &                                   # or any Consul agent
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/worker.ts
 *
 * What it shows:
 * - campaign in a loop: after a term ends (session lost, key deleted) the worker campaigns again;
 * - leader-only work guarded by `term.signal` (checked before every step, passed to every request)
 *   and by the fencing token (the downstream record refuses writes from an older term);
 * - fast crash detection (`healthCheckTtl`) and a clean hand-over on SIGTERM/SIGINT
 *   (`resignOnSignals`): the key is deleted before exit, so the next worker is elected at once.
 *
 * Environment: CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN (Consul), ELECTION_KEY (default
 * 'elections/example-worker'), WORKER_ID (default host-pid), JOB_INTERVAL_MS (default 1000).
 * Logs are JSON lines on stdout.
 */
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { Coordinator } from '../src/coordinator.js';
import { ClosedError } from '../src/errors.js';
import { LeaderElection, type LeaderTerm } from '../src/recipes/election/election.js';

const key = process.env.ELECTION_KEY ?? 'elections/example-worker';
/** The job's downstream record: what the leader produces, stamped with its term's token. */
const outputKey = `${key}.output`;
const workerId = process.env.WORKER_ID ?? `${hostname()}-${process.pid}`;
const jobIntervalMs = Number(process.env.JOB_INTERVAL_MS ?? 1000);

function log(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), worker: workerId, event, ...fields })}\n`);
}

const coord = Coordinator.fromEnv();
const election = new LeaderElection(coord, key, {
  value: { id: workerId, pid: process.pid },
  // Renewal TTL: bounds how long a partitioned leader keeps acting (it steps down after ttl).
  ttl: '15s',
  // A crashed worker is replaced about this long after its last heartbeat (+ lockDelay).
  healthCheckTtl: '3s',
  // Margin after a crash for the old leader's in-flight requests; a graceful stop pays none.
  lockDelay: '1s',
});

election.on('elected', (term) => log('elected', { token: term.fencingToken }));
election.on('deposed', (_reason, d) => log('deposed', { token: d.fencingToken, reason: d.reason, error: d.error?.message }));
election.on('leader', (leader) => log('leader', { leader: leader && { ...leader } }));
election.on('error', (err) => log('error', { error: err instanceof Error ? err.message : String(err) }));

// SIGTERM (Kubernetes, systemd, docker stop) or Ctrl-C: resign, close, exit 0. A second signal
// kills at once.
election.resignOnSignals(['SIGTERM', 'SIGINT'], {
  beforeExit: async (signal) => {
    log('shutdown', { signal });
    await coord.close();
  },
});

log('campaigning', { key });
for (;;) {
  let term: LeaderTerm;
  try {
    term = await election.campaign();
  } catch (err) {
    if (err instanceof ClosedError) break; // shutting down
    log('campaign-failed', { error: err instanceof Error ? err.message : String(err) });
    await delay(1000);
    continue;
  }
  await lead(term);
  if (!election.isLeader) log('campaigning', { key });
}

/** Runs the job while the term lasts. */
async function lead(term: LeaderTerm): Promise<void> {
  while (!term.signal.aborted) {
    try {
      await runJobOnce(term);
      await delay(jobIntervalMs, undefined, { signal: term.signal });
    } catch (err) {
      if (term.signal.aborted) return; // the term ended mid-step: stop, do not retry
      log('job-failed', { error: err instanceof Error ? err.message : String(err) });
      await delay(jobIntervalMs, undefined, { signal: term.signal }).catch(() => undefined);
    }
  }
}

/**
 * One step of the leader-only job: bump a counter in the downstream record. The record carries
 * the token of the term that wrote it; a write is refused when the record already belongs to a
 * newer term (the fencing check a database would do with `WHERE token <= $1`), and the
 * check-and-set makes that comparison and the write one atomic step.
 */
async function runJobOnce(term: LeaderTerm): Promise<void> {
  const { signal, fencingToken } = term;
  const { pair } = await coord.api.kv.get(outputKey, { signal, consistent: true });
  const current = pair?.value ? (JSON.parse(pair.value.toString()) as { token: number; count: number }) : { token: 0, count: 0 };
  if (current.token > fencingToken) {
    log('fenced', { token: fencingToken, newer: current.token });
    return;
  }
  signal.throwIfAborted(); // last check before the write
  const next = { token: fencingToken, count: current.count + 1, by: workerId };
  const written = await coord.api.kv.put(outputKey, JSON.stringify(next), { cas: pair?.modifyIndex ?? 0, signal });
  if (written) log('job', next);
}
