/**
 * Leader election with real processes: three tsx workers campaign on one key of a dev server
 * running in this process. Leaders are SIGKILLed, SIGTERMed and SIGSTOPped; safety is checked
 * from the workers' own reports (see `checkOneLeaderAtATime`), never by timing thresholds.
 */
import { describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { LeaderElection, type LeaderInfo } from '../../src/recipes/election/election.js';
import { checkOneLeaderAtATime, isActing, isDeposed, isElected, useProcessFixture, type WorkerReport } from './support.js';

const fx = useProcessFixture();

/** Crash detection in half a second via the heartbeat check; a short lock-delay on top. */
const FAST = { ttl: '10s', healthCheckTtl: '500ms', lockDelay: '200ms' } as const;

function elected(r: WorkerReport): r is Extract<WorkerReport, { type: 'elected' }> {
  return isElected(r);
}

/** Watches the key from this process (no session) and records every change. */
function observeKey(): { seen: Array<LeaderInfo | null>; stop: () => Promise<void> } {
  const coord = new Coordinator({ address: fx.dev.url });
  const watcher = new LeaderElection(coord, fx.key);
  const seen: Array<LeaderInfo | null> = [];
  const controller = new AbortController();
  const done = (async () => {
    try {
      for await (const leader of watcher.observe({ signal: controller.signal })) seen.push(leader);
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    }
  })();
  return {
    seen,
    stop: async () => {
      controller.abort();
      await done;
      await coord.close();
    },
  };
}

/** Waits until `worker` has acted `n` times under `token`. */
async function actedTimes(id: string, token: number, n: number): Promise<void> {
  let count = 0;
  await fx.waitFor((r) => isActing(r) && r.id === id && r.token === token && ++count >= n, `${id} acting ${n}× under ${token}`);
}

describe('three workers on one key', () => {
  it('elect one leader at a time; a SIGKILLed leader is replaced, and observers see every change', async () => {
    const observer = observeKey();
    for (const id of ['w1', 'w2', 'w3']) fx.spawn(id, FAST);

    const first = await fx.waitFor(elected, 'first elected');
    await actedTimes(first.id, first.token, 3);
    fx.worker(first.id).kill('SIGKILL');
    const second = await fx.waitFor((r): r is typeof first => elected(r) && r.id !== first.id, 'second elected');
    expect(second.token).toBeGreaterThan(first.token);
    await actedTimes(second.id, second.token, 3);

    fx.worker(second.id).kill('SIGKILL');
    const third = await fx.waitFor((r): r is typeof first => elected(r) && r.id !== first.id && r.id !== second.id, 'third elected');
    expect(third.token).toBeGreaterThan(second.token);
    await actedTimes(third.id, third.token, 3);

    expect(checkOneLeaderAtATime(fx.reports)).toEqual([first.token, second.token, third.token]);
    // The killed workers never said goodbye; their terms ended on the server.
    expect(fx.reports.filter(isDeposed)).toEqual([]);

    await observer.stop();
    // Every term, in order, with "no leader" between terms (and at the start).
    expect(observer.seen.map((l) => l?.fencingToken ?? null)).toEqual([null, first.token, null, second.token, null, third.token]);
    expect(observer.seen.filter((l) => l !== null).map((l) => (l?.value as { id: string }).id)).toEqual([first.id, second.id, third.id]);
  });

  it('hand over on SIGTERM without waiting for TTL or lock-delay', async () => {
    // Lock-delay at Consul's 60 s cap and a 60 s TTL, no heartbeat check: had the leader not
    // deleted its key, the next election would come after this test's timeout.
    const SLOW = { ttl: '60s', lockDelay: '60s' };
    const observer = observeKey();
    for (const id of ['w1', 'w2', 'w3']) fx.spawn(id, SLOW);

    const first = await fx.waitFor(elected, 'first elected');
    await actedTimes(first.id, first.token, 2);
    fx.worker(first.id).kill('SIGTERM');
    const second = await fx.waitFor((r): r is typeof first => elected(r) && r.id !== first.id, 'second elected', 10_000);
    expect(await fx.worker(first.id).exited).toEqual({ code: 0, signal: null });
    await actedTimes(second.id, second.token, 2);

    fx.worker(second.id).kill('SIGTERM');
    const third = await fx.waitFor((r): r is typeof first => elected(r) && r.id !== first.id && r.id !== second.id, 'third elected', 10_000);
    expect(await fx.worker(second.id).exited).toEqual({ code: 0, signal: null });
    await actedTimes(third.id, third.token, 2);

    const deposed = fx.reports.filter(isDeposed);
    expect(deposed.map((d) => [d.id, d.token, d.reason])).toEqual([
      [first.id, first.token, 'resigned'],
      [second.id, second.token, 'resigned'],
    ]);
    // The resigned leaders deleted their keys themselves and destroyed their sessions: no lock-delay.
    expect(fx.dev.state.lockDelayMs(fx.key)).toBe(0);
    const sessions = fx.dev.state.listSessions().map((s) => s.id);
    for (const r of [first, second]) expect(sessions).not.toContain(r.sessionId);
    expect(checkOneLeaderAtATime(fx.reports)).toEqual([first.token, second.token, third.token]);

    await observer.stop();
    expect(observer.seen.map((l) => l?.fencingToken ?? null)).toEqual([null, first.token, null, second.token, null, third.token]);
  });

  it('replace a leader SIGSTOPped past its TTL; after SIGCONT it reports deposed and never acts again', async () => {
    const PAUSABLE = { ttl: '1s', healthCheckTtl: '500ms', lockDelay: '300ms' };
    for (const id of ['w1', 'w2', 'w3']) fx.spawn(id, PAUSABLE);

    const old = await fx.waitFor(elected, 'first elected');
    await actedTimes(old.id, old.token, 3);
    fx.worker(old.id).kill('SIGSTOP');
    const fresh = await fx.waitFor((r): r is typeof old => elected(r) && r.id !== old.id, 'a new leader');
    expect(fresh.token).toBeGreaterThan(old.token);
    await actedTimes(fresh.id, fresh.token, 2);

    const resumedAt = fx.reports.length;
    fx.worker(old.id).kill('SIGCONT');
    const deposed = (await fx.waitFor((r) => isDeposed(r) && r.id === old.id, 'old leader deposed')) as Extract<WorkerReport, { type: 'deposed' }>;
    expect(deposed.token).toBe(old.token);
    // It learned of the loss from its own deadline, not from the server…
    expect(deposed.reason).toBe('session-lost');
    // …and that deadline, from which its signal counts as aborted, came before the new leader was
    // elected (one monotonic clock on this machine). Margin by construction: ≥ 10% of
    // healthCheckTtl + lock-delay.
    expect(deposed.deadline).toBeLessThan(fresh.t);
    const oldActing = fx.reports.filter((r) => isActing(r) && r.id === old.id);
    for (const r of oldActing) expect(r.t).toBeLessThan(deposed.deadline);
    expect(fx.reports.slice(resumedAt).some((r) => isActing(r) && r.id === old.id)).toBe(false);

    // It campaigns again as a follower and stays quiet while the new leader keeps acting.
    await fx.waitFor((r) => r.type === 'campaigning' && r.id === old.id && fx.reports.indexOf(r) >= resumedAt, 'old leader campaigning again');
    const followUp = fx.reports.length;
    let more = 0;
    await fx.next((r) => isActing(r) && r.id === fresh.id && ++more >= 3, 'new leader keeps acting');
    expect(fx.reports.slice(followUp).filter((r) => r.id === old.id && (isActing(r) || isElected(r)))).toEqual([]);
    expect(checkOneLeaderAtATime(fx.reports)).toEqual([old.token, fresh.token]);
  });
});
