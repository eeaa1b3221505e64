/**
 * Lock and LeaderElection on a three-node dev cluster, where the holder's node can die: its
 * session, bound to that node's `serfHealth`, is invalidated by the leader once the failure
 * detector gives up on the node (leader.go handleFailedMember → checkSessionsTxn), with lock-delay.
 * The holder, still running but cut off (fault proxy), counts itself lost at its own deadline,
 * before lock-delay lets the next holder in.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { LockLostError } from '../../src/errors.js';
import { LeaderElection } from '../../src/recipes/election/election.js';
import { Lock } from '../../src/recipes/lock/lock.js';
import { type DevCluster, startDevCluster } from '../../src/testing/index.js';
import { type FaultProxy, startFaultProxy } from '../../src/testing/fault-proxy.js';
import { waitFor } from '../support/wait.js';
import { nextEvent } from './lock-fixture.js';

let cluster: DevCluster | undefined;
let coords: Coordinator[] = [];
let proxies: FaultProxy[] = [];
/** Every "Session TTL expired" the datacenter logged (to tell a TTL expiry from serfHealth). */
let ttlExpiries: string[] = [];

afterEach(async () => {
  for (const p of proxies) p.heal();
  await Promise.all(coords.splice(0).map((c) => c.close()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await cluster?.close();
  cluster = undefined;
  ttlExpiries = [];
});

async function start(): Promise<DevCluster> {
  cluster = await startDevCluster({
    nodes: 3,
    suspicionTimeout: '200ms',
    electionTimeout: '100ms',
    sessionTtlMin: '1s',
    logger: {
      debug: (message, fields) => {
        if (message === 'Session TTL expired') ttlExpiries.push(String(fields?.session));
      },
    },
  });
  return cluster;
}

function coord(address: string): Coordinator {
  const c = new Coordinator({ address, retry: { retries: 3, minTimeout: 50, maxTimeout: 500 } });
  coords.push(c);
  return c;
}

async function proxyTo(url: string): Promise<FaultProxy> {
  const p = await startFaultProxy({ target: url });
  proxies.push(p);
  return p;
}

describe('a lock whose holder’s node dies', () => {
  it('is released through serfHealth; the cut-off holder learns first; the next holder gets it after lock-delay', async () => {
    const c = await start();
    const key = 'cluster/lock';
    // The holder runs on node-2 (its agent is node-2's); the contender on node-1.
    const proxy = await proxyTo(c.agent('node-2').url);
    const options = { ttl: '2s', lockDelay: '2s' };
    const a = new Lock(coord(proxy.url), key, options);
    const b = new Lock(coord(c.agent('node-1').url), key, { ...options, retryTime: '100ms' });
    const handleA = await a.acquire();
    const state = c.agent('node-1').server.state;
    const sessionA = handleA.session.id;
    // lockDelay ≥ ttl: the session is bound to the holder node's serfHealth.
    expect(state.listSessions().find((s) => s.id === sessionA)).toMatchObject({ node: 'node-2', checks: ['serfHealth'] });

    const events: string[] = [];
    handleA.signal.addEventListener('abort', () => events.push('A: signal aborted'));
    a.on('lost', () => events.push('A: lost'));
    let delayLeftWhenBAcquired: number | undefined;
    b.on('acquired', () => {
      events.push('B: acquired');
      delayLeftWhenBAcquired = state.lockDelayMs(key);
    });
    const waiting = nextEvent(b, 'waiting');
    const pendingB = b.acquire({ timeout: '20s' });
    await waiting;

    // Node 2 dies; the holder process survives but is cut off from every agent.
    proxy.partition();
    await c.killNode('node-2');

    await waitFor(() => !state.listSessions().some((s) => s.id === sessionA), { message: 'A’s session invalidated' });
    const serf = state.listChecks().find((x) => x.node === 'node-2' && x.checkId === 'serfHealth');
    expect(serf).toMatchObject({ status: 'critical', output: 'Agent not live or unreachable' });
    // The invalidation came from serfHealth, not from the session's TTL timer.
    expect(ttlExpiries).not.toContain(sessionA);
    expect(state.getKey(key)?.session).toBeUndefined();
    expect(state.lockDelayMs(key)).toBeGreaterThan(0);

    const handleB = await pendingB;
    expect(events).toEqual(['A: signal aborted', 'A: lost', 'B: acquired']);
    expect(handleA.signal.reason).toBeInstanceOf(LockLostError);
    expect(delayLeftWhenBAcquired).toBe(0);
    expect(handleB.fencingToken).toBeGreaterThan(handleA.fencingToken);
    await handleB.release();
  });
});

describe('leader election across three nodes', () => {
  it('elects a new leader among the survivors when the leader’s node is killed', async () => {
    const c = await start();
    const key = 'cluster/leader';
    const options = { ttl: '1s', lockDelay: '1s' };
    // Each campaigner runs on its own node, behind a proxy so that its node's death cuts it off.
    const proxies3 = await Promise.all(c.agents.map((a) => proxyTo(a.url)));
    const elections = c.agents.map((a, i) => ({
      node: a.node,
      proxy: proxies3[i]!,
      election: new LeaderElection(coord(proxies3[i]!.url), key, { ...options, value: { node: a.node } }),
    }));
    const controller = new AbortController();
    const terms = elections.map((e) => e.election.campaign({ signal: controller.signal }).then(() => e));
    const first = await Promise.race(terms);
    const state = c.agent('node-1').server.state;
    expect(state.getKey(key)?.session).toBeDefined();

    const events: string[] = [];
    first.election.on('deposed', () => events.push(`${first.node}: deposed`));
    const others = elections.filter((e) => e !== first);
    for (const o of others) o.election.on('elected', () => events.push(`${o.node}: elected`));

    first.proxy.partition();
    await c.killNode(first.node);
    const second = await Promise.race(terms.filter((_, i) => elections[i] !== first));
    expect(others).toContain(second);
    expect(events).toEqual([`${first.node}: deposed`, `${second.node}: elected`]);
    // The old leader's session died with its node's serfHealth, not by TTL.
    expect((await waitFor(() => state.listChecks().find((x) => x.node === first.node && x.checkId === 'serfHealth' && x.status === 'critical'))).output).toBe(
      'Agent not live or unreachable',
    );
    const leader = await second.election.leader();
    expect(leader?.value).toEqual({ node: second.node });
    controller.abort();
    await second.election.resign();
  });
});
