/**
 * The queue across processes: K producer and consumer child processes on one prefix, one consumer
 * SIGKILLed while it holds a message. Every message is delivered at least once, acked exactly
 * once, none is lost, and nothing is left claimed (no message key, no session) at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';
import type { QueueWorkerConfig, QueueWorkerReport } from './fixtures/queue-worker.js';
import { checkAtLeastOnce } from './queue-checker.js';

const WORKER = fileURLToPath(new URL('./fixtures/queue-worker.ts', import.meta.url));

describe('a queue shared by producer and consumer processes', () => {
  let dev: DevServer;
  let children: Array<{ child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> = [];
  const reports: QueueWorkerReport[] = [];

  beforeEach(async () => {
    dev = await startDevServer({ port: 0, host: '127.0.0.1', sessionTtlMin: '100ms', tombstoneTtl: '2s' });
  });

  afterEach(async () => {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    children = [];
    reports.length = 0;
    await dev.close();
  });

  function spawn(config: Omit<QueueWorkerConfig, 'address'>): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
    const child = fork(WORKER, [JSON.stringify({ ...config, address: dev.url })], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m) => reports.push(m as QueueWorkerReport));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const entry = { child, exited };
    children.push(entry);
    return entry;
  }

  const of = <T extends QueueWorkerReport['type']>(type: T) => reports.filter((r): r is Extract<QueueWorkerReport, { type: T }> => r.type === type);

  it('delivers every message at least once and acks each exactly once when a consumer is SIGKILLed mid-message', async () => {
    const prefix = 'queues/process';
    // TTLs long enough that a consumer starved by a loaded machine keeps its session; a SIGKILLed
    // one's message still comes back within 2 × ttl + lockDelay.
    const options = { ttl: '1s', lockDelay: '100ms' };
    const perProducer = 15;
    // The victim takes a first message before anybody else runs, then stalls on it.
    const seeder = new Coordinator({ address: dev.url });
    const seed = { type: 'put' as const, id: 'parent', payload: 'seed', messageId: await seeder.queue<string>(prefix).put('seed') };
    await seeder.close();
    const victim = spawn({ prefix, id: 'victim', role: 'stall', options });
    const held = await vi.waitFor(
      () => {
        const taken = of('taken').find((r) => r.id === 'victim');
        expect(taken).toBeDefined();
        return taken!;
      },
      { timeout: 30_000 },
    );
    expect(held.payload).toBe('seed');
    const consumers = ['c1', 'c2', 'c3'].map((id) => spawn({ prefix, id, role: 'consumer', options }));
    const producers = ['p1', 'p2'].map((id) => spawn({ prefix, id, role: 'producer', count: perProducer, options }));
    // Mid-message: the victim holds the seed, unsettled, while the others start.
    await vi.waitFor(() => expect(of('ready').filter((r) => r.id !== 'victim')).toHaveLength(5), { timeout: 30_000 });
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    await Promise.all(producers.map((p) => p.exited));
    const total = 2 * perProducer + 1;
    expect(of('put')).toHaveLength(total - 1);
    // Every message acked: the seed after the victim's session expired (re-delivered, attempt 2).
    await vi.waitFor(() => expect(new Set(of('acked').map((r) => r.payload)).size).toBe(total), { timeout: 60_000 });
    for (const { child } of consumers) child.send('stop');
    await Promise.all(consumers.map((c) => c.exited));

    // Delivered at least once, acked exactly once, under the ID it was put with.
    const redeliveries = checkAtLeastOnce([seed, ...of('put')], of('taken'), of('acked'));
    expect(redeliveries).toBeGreaterThanOrEqual(1); // the victim's message, at least
    expect(of('taken').find((r) => r.payload === held.payload && r.id !== 'victim')?.attempt).toBeGreaterThanOrEqual(2);
    // A late ack (a consumer starved past its deadline) is refused and changes nothing: allowed.
    // Nothing left: no message, no claim, no line entry, no session.
    expect(dev.state.listKeys(`${prefix}/msg/`)).toEqual([]);
    expect(dev.state.listKeys(`${prefix}/takers/`).filter((e) => e.session !== undefined)).toEqual([]);
    expect(dev.state.listSessions()).toEqual([]);
  }, 120_000);
});
