/**
 * recipes-docs/leader-election.md and the README's Leader election section: campaign, lead while
 * the term lasts, resign, hand-over to a follower, observe the leader, proclaim a new value.
 *
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/election.ts
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Coordinator, type LeaderInfo } from '../../src/index.js';

const coord = Coordinator.fromEnv();

// --- Campaign, lead, resign ---------------------------------------------------------------------
const election = coord.election('elections/billing', { value: { id: 'worker-1' }, healthCheckTtl: '5s' });
election.on('deposed', (reason) => console.log('no longer leader:', reason));
const term = await election.campaign();   // resolves once this instance leads
await runLeaderLoop({ signal: term.signal, fencingToken: term.fencingToken });
await election.resign();                  // hand over at once: no TTL, no lock-delay wait
assert.equal(election.state, 'idle');

// --- A follower takes over ----------------------------------------------------------------------
const a = coord.election('elections/reports', { value: { id: 'a' } });
const b = coord.election('elections/reports', { value: { id: 'b' } });
const termA = await a.campaign();
const campaignB = b.campaign();            // waits, without polling, while `a` leads
console.log(await b.leader());             // { value: { id: 'a' }, sessionId: '…', fencingToken: … }
await a.resign();                          // deletes the key: `b` is elected within a few round trips
const termB = await campaignB;
console.log(termB.fencingToken > termA.fencingToken); // true: every term has a larger token
assert.ok(termB.fencingToken > termA.fencingToken);

// --- Observe the leader (no session needed) -----------------------------------------------------
const seen: (LeaderInfo | null)[] = [];
for await (const leader of a.observe()) {  // the current leader first, then every change
  seen.push(leader);
  if (leader === null) break;              // `b` resigned: no leader
  if (seen.length === 1) await b.resign();
}
console.log(seen.map((leader) => leader?.value ?? null)); // [ { id: 'b' }, null ]
assert.deepEqual(seen.map((leader) => leader?.value ?? null), [{ id: 'b' }, null]);

// --- Proclaim: change the advertised value, keep the term ---------------------------------------
const again = await b.campaign();
await b.proclaim({ id: 'b', draining: true });
const now = await a.leader();
console.log(now?.value, now?.fencingToken === again.fencingToken); // { id: 'b', draining: true } true
assert.equal(now?.fencingToken, again.fencingToken);

await coord.close(); // resigns `b` ('deposed' with reason 'closed'), destroys every session

/** Leader-only work: a few steps, each checking the term's signal first. */
async function runLeaderLoop({ signal, fencingToken }: { signal: AbortSignal; fencingToken: number }): Promise<void> {
  for (let step = 1; step <= 3 && !signal.aborted; step++) {
    await coord.api.kv.put('billing/leader-output', JSON.stringify({ step, fencingToken }), { signal });
    await delay(20, undefined, { signal });
  }
}
