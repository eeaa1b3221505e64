/**
 * `consul-recipes demo` end to end, through the real binary: it finishes by itself, prints the
 * timeline with the measured failover and hand-over, and leaves no worker running. (How fast the
 * failover is belongs to benchmarks; here only that it happened and was reported.)
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { startDevServer } from '../../src/testing/index.js';
import { consulFetch } from '../support/target.js';
import { ensureBuilt } from './build.js';
import { isRunning, startCli } from './support.js';

beforeAll(async () => {
  await ensureBuilt();
}, 180_000);

describe('demo', () => {
  it('runs three workers through a crash and a clean stop, prints the failover lines and leaves nothing running', async () => {
    const cli = startCli(['demo'], { ...process.env });
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      cli.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          cli.kill('SIGKILL');
          reject(new Error(`the demo did not finish within 60 s\n${cli.stdout()}\n${cli.stderr()}`));
        }, 60_000);
      }),
    ]).finally(() => clearTimeout(timer));

    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/^Settings {2}session TTL \S+, health-check TTL \S+ .*lock-delay \S+$/m);
    for (const id of ['worker-1', 'worker-2', 'worker-3']) expect(out).toMatch(new RegExp(`^ +\\+\\d+\\.\\d{3}s {2}${id} started \\(pid \\d+\\)$`, 'm'));
    expect(out).toMatch(/^ +\+\d+\.\d{3}s {2}worker-1 is the LEADER \(term \d+\)$/m);
    expect(out).toMatch(/^ +\+\d+\.\d{3}s {2}worker-1 holds the LOCK \(fencing token \d+\)$/m);
    expect(out).toMatch(/SIGKILL worker-1 \(leader and lock holder\)/);
    expect(out).toMatch(/^ +\.\.\. \d+\.\ds {2}/m); // progress while Consul notices the crash
    const progress = [...out.matchAll(/^ +\.\.\. \d+\.\ds {2}(.*)$/gm)].map((m) => m[1]);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress, 'each progress line once (the lock-delay line was printed twice)').toEqual([...new Set(progress)]);
    expect(out).toMatch(/Consul invalidated worker-1's session \(health check expired\)/);
    expect(out).toMatch(/failover after the crash: [\d.]+ m?s to a new leader, [\d.]+ m?s to a new lock holder/);
    expect(out).toMatch(/SIGTERM worker-[23] \(the leader/);
    expect(out).toMatch(/hand-over after SIGTERM: [\d.]+ m?s to the next leader/);
    expect(out).toMatch(/^ {2}leader failover after SIGKILL +[\d.]+ m?s/m);
    expect(out).toMatch(/^ {2}lock failover after SIGKILL +[\d.]+ m?s/m);
    expect(out).toMatch(/^ {2}leader hand-over after SIGTERM +[\d.]+ m?s/m);
    expect(out).toMatch(/Nothing is left running\.$/m);
    expect(result.stderr).toBe('');

    const pids = [...out.matchAll(/started \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(isRunning(pid), `worker pid ${pid}`).toBe(false);
  }, 70_000);

  it('leaves no worker behind when the demo itself is SIGKILLed midway', async () => {
    const cli = startCli(['demo'], { ...process.env });
    await cli.waitForOutput(/worker-3 started \(pid \d+\)[\s\S]*worker-2 started|worker-2 started \(pid \d+\)[\s\S]*worker-3 started/, 'stdout', 30_000);
    const pids = [...cli.stdout().matchAll(/started \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(3);
    cli.kill('SIGKILL');
    await cli.exited;
    // The workers notice their IPC channel closing and stop by themselves (within 5 s at most).
    await vi.waitFor(() => expect(pids.filter(isRunning)).toEqual([]), { timeout: 10_000, interval: 100 });
  }, 45_000);

  it('runs against the agent in CONSUL_HTTP_ADDR and removes its keys, sessions and the crashed worker\'s checks', async () => {
    // Our dev server with Consul's default session_ttl_min (10s) stands in for a real agent.
    const agent = await startDevServer({ port: 0 });
    try {
      const result = await startCli(['demo'], { ...process.env, CONSUL_HTTP_ADDR: agent.url }).exited;
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`Consul    the agent at ${agent.url} (CONSUL_HTTP_ADDR)`);
      expect(result.stdout).toMatch(/^Settings {2}session TTL 10s, health-check TTL 2s .*lock-delay 1s$/m);
      expect(result.stdout).toMatch(/^ {2}leader failover after SIGKILL +[\d.]+ m?s/m);
      expect(result.stdout).toMatch(/deleted consul-recipes-demo\/[0-9a-f]+\/\. Nothing is left running\.$/m);
      expect(result.stderr).toBe('');

      const keys = await consulFetch({ url: agent.url }, 'GET', '/v1/kv/consul-recipes-demo/?keys');
      expect(keys.status).toBe(404);
      expect((await consulFetch({ url: agent.url }, 'GET', '/v1/session/list')).json()).toEqual([]);
      const checks = (await consulFetch({ url: agent.url }, 'GET', '/v1/agent/checks')).json<Record<string, unknown>>();
      expect(Object.keys(checks).filter((id) => id.startsWith('consul-recipes:session:'))).toEqual([]);
      const services = (await consulFetch({ url: agent.url }, 'GET', '/v1/agent/services')).json<Record<string, unknown>>();
      expect(Object.keys(services).filter((id) => id.startsWith('consul-recipes-session-'))).toEqual([]);
    } finally {
      await agent.close();
    }
  }, 70_000);
});
