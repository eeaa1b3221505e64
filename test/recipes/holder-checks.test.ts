/**
 * Sessions the recipes create are bound to serfHealth only when lock-delay still guarantees that
 * the holder learns of a loss first (lockDelay ≥ ttl). Consul invalidates a session at once when
 * serfHealth goes critical (the node fell out of gossip, e.g. in a partition), and the holder
 * cannot hear of it: it only counts itself lost at its local deadline.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/index.js';
import { defaultHolderChecks } from '../../src/recipes/hold/options.js';
import { startFaultProxy, type FaultProxy } from '../../src/testing/index.js';
import { startTarget, waitFor, type Target } from '../support/target.js';

let target: Target;
let proxy: FaultProxy;
const coords: Coordinator[] = [];

function coordinator(address: string): Coordinator {
  const c = new Coordinator({ address, retry: { retries: 0 } });
  coords.push(c);
  return c;
}

function nodeChecksOf(sessionId: string): readonly string[] | undefined {
  return target.dev!.state.listSessions().find((s) => s.id === sessionId)?.checks;
}

beforeEach(async () => {
  target = await startTarget({ kind: 'dev', dev: { sessionTtlMin: '100ms' } });
  proxy = await startFaultProxy({ target: target.url });
});

afterEach(async () => {
  target.dev!.setCheckStatus('serfHealth', 'passing');
  proxy.heal();
  for (const c of coords.splice(0).reverse()) await c.close();
  await proxy.close();
  await target.close();
});

describe('defaultHolderChecks', () => {
  it('binds to serfHealth only when lock-delay guards the hold and covers the ttl', () => {
    expect(defaultHolderChecks(true, 15_000, 15_000)).toEqual(['serfHealth']);
    expect(defaultHolderChecks(true, 15_000, 1_000)).toEqual([]);
    expect(defaultHolderChecks(false, 15_000, 60_000)).toEqual([]);
  });
});

describe('the sessions recipes create', () => {
  it('a lock with the default ttl and lock-delay is bound to serfHealth', async () => {
    const handle = await coordinator(target.url).lock('locks/serf-default').acquire();
    expect(nodeChecksOf(handle.session.id)).toEqual(['serfHealth']);
  });

  it('a lock with lockDelay below ttl, an election and a semaphore are not', async () => {
    const c = coordinator(target.url);
    const lock = await c.lock('locks/serf-short', { lockDelay: '1s' }).acquire();
    const term = await c.election('elections/serf').campaign();
    const permit = await c.semaphore('sems/serf', { limit: 1 }).acquire();
    expect(nodeChecksOf(lock.session.id)).toEqual([]);
    expect(nodeChecksOf(term.sessionId)).toEqual([]);
    expect(nodeChecksOf(permit.session.id)).toEqual([]);
  });

  it('an explicit checks option is used as given', async () => {
    const handle = await coordinator(target.url).lock('locks/serf-explicit', { lockDelay: 0, checks: ['serfHealth'] }).acquire();
    expect(nodeChecksOf(handle.session.id)).toEqual(['serfHealth']);
  });
});

describe('when the holder is cut off and Consul marks its node failed', () => {
  it('a serfHealth-bound lock holder still aborts its signal before anybody else acquires', async () => {
    const key = 'locks/serf-partition';
    const holderCoord = coordinator(proxy.url);
    // lockDelay ≥ ttl: bound to serfHealth by default.
    const lock = holderCoord.lock(key, { ttl: '1s', lockDelay: '1s' });
    const handle = await lock.acquire();
    expect(nodeChecksOf(handle.session.id)).toEqual(['serfHealth']);

    const order: string[] = [];
    lock.once('lost', () => order.push('holder lost'));
    proxy.partition('hold');
    // The servers notice the node is gone long before the session TTL: invalidated at once.
    target.dev!.setCheckStatus('serfHealth', 'critical');
    expect(target.dev!.state.listSessions().some((s) => s.id === handle.session.id)).toBe(false);

    // Another client (not bound to serfHealth, which is critical now) waits for the key.
    const other = coordinator(target.url).lock(key, { ttl: '1s', lockDelay: 0, checks: [] });
    const acquired = other.acquire().then(() => order.push('other acquired'));
    await acquired;
    await waitFor(() => order.length === 2, { timeout: 5000 });
    expect(order).toEqual(['holder lost', 'other acquired']);
    expect(handle.signal.aborted).toBe(true);
  });

  it('a leader (not bound to serfHealth by default) keeps its session until its own deadline', async () => {
    const c = coordinator(proxy.url);
    // Default lock-delay (1s) below the ttl: not bound to serfHealth.
    const election = c.election('elections/serf-partition', { ttl: '2s' });
    const term = await election.campaign();
    expect(nodeChecksOf(term.sessionId)).toEqual([]);
    target.dev!.setCheckStatus('serfHealth', 'critical');
    // Not invalidated by the node check: the session ends by TTL, after the leader's deadline.
    expect(target.dev!.state.listSessions().some((s) => s.id === term.sessionId)).toBe(true);
    expect(election.isLeader).toBe(true);
  });
});
