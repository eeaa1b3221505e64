/**
 * A listener belongs to the user: one that throws (any event, `error` included) is reported
 * through the logger and changes nothing else the recipe does. One spec per class: Lock,
 * Semaphore, LeaderElection, Session, ServiceRegistration, ConfigWatcher, ServiceWatcher,
 * EventWatcher.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import type { Logger } from '../../src/internal/logger.js';
import { startFaultProxy, type FaultProxy } from '../../src/testing/index.js';
import { nextEvent } from '../support/events.js';
import { startTarget, type Target } from '../support/target.js';

let target: Target;
let coord: Coordinator;
let proxy: FaultProxy | undefined;
let warnings: Array<{ fields: Record<string, unknown>; msg: string | undefined }>;

/** A logger that keeps the warnings, where a throwing listener is reported. */
function recordingLogger(): Logger {
  const noop = (): void => {};
  return {
    debug: noop,
    info: noop,
    error: noop,
    warn: (obj, msg) => warnings.push({ fields: typeof obj === 'object' ? (obj as Record<string, unknown>) : {}, msg }),
  };
}

function reportsOf(event: string): Array<Record<string, unknown>> {
  return warnings.filter((w) => w.fields.event === event && /listener threw/.test(w.msg ?? '')).map((w) => w.fields);
}

const boom = (): never => {
  throw new Error('a bug in a listener');
};

beforeEach(async () => {
  warnings = [];
  target = await startTarget({ kind: 'dev', dev: { sessionTtlMin: '100ms' } });
  coord = new Coordinator({ address: target.url, logger: recordingLogger() });
});

afterEach(async () => {
  await coord.close();
  await proxy?.close();
  proxy = undefined;
  await target.close();
});

describe('Lock with throwing listeners', () => {
  it('still holds, releases and reports each throw through the logger only', async () => {
    const lock = coord.lock('throwing/lock', { ttl: '1s' });
    const errors: unknown[] = [];
    lock.on('acquired', boom);
    lock.on('released', boom);
    lock.on('error', boom);
    lock.on('error', (err) => errors.push(err));
    const released = vi.fn();
    lock.on('released', released); // registered after a throwing one: still called

    const handle = await lock.acquire();
    expect(lock.state).toBe('held');
    expect(handle.signal.aborted).toBe(false);
    await handle.release();

    expect(lock.state).toBe('idle');
    expect(released).toHaveBeenCalledOnce();
    expect(errors).toEqual([]);
    expect(reportsOf('acquired')).toHaveLength(1);
    expect(reportsOf('released')).toHaveLength(1);
    expect(reportsOf('acquired')[0]).toMatchObject({ emitter: 'lock "throwing/lock"', err: 'a bug in a listener' });
  });
});

describe('Semaphore with throwing listeners', () => {
  it('still grants and returns the permit', async () => {
    const sem = coord.semaphore('throwing/sem', { limit: 1, ttl: '1s' });
    sem.on('acquired', boom);
    sem.on('released', boom);
    const permit = await sem.acquire();
    expect(sem.state).toBe('held');
    await permit.release();
    expect(sem.state).toBe('idle');
    expect(reportsOf('acquired')).toHaveLength(1);
    expect(reportsOf('released')).toHaveLength(1);
  });
});

describe('LeaderElection with throwing listeners', () => {
  it('is still elected, observed and deposed in order', async () => {
    const election = coord.election('throwing/leader', { ttl: '1s' });
    election.on('elected', boom);
    election.on('deposed', boom);
    election.on('leader', boom);
    const deposed = vi.fn();
    election.on('deposed', deposed);

    const term = await election.campaign();
    expect(election.isLeader).toBe(true);
    await vi.waitFor(() => expect(reportsOf('leader').length).toBeGreaterThan(0));
    await election.resign();

    expect(term.signal.aborted).toBe(true);
    expect(election.state).toBe('idle');
    expect(deposed).toHaveBeenCalledWith('resigned', expect.objectContaining({ reason: 'resigned' }));
    expect(reportsOf('elected')).toHaveLength(1);
    expect(reportsOf('deposed')).toHaveLength(1);
  });
});

describe('Session with throwing listeners', () => {
  it('a throwing renewed listener does not make renewals count as failures', async () => {
    const session = await coord.session({ ttl: '300ms' });
    const errors: unknown[] = [];
    session.on('error', (err) => errors.push(err));
    session.on('renewed', boom);
    let renewals = 0;
    session.on('renewed', () => (renewals += 1));

    await vi.waitFor(() => expect(renewals).toBeGreaterThanOrEqual(3), { timeout: 5_000 });

    expect(errors).toEqual([]);
    expect(session.state).toBe('active');
    expect(reportsOf('renewed').length).toBe(renewals);
  });

  it('a throwing error listener does not end the renewal loop', async () => {
    proxy = await startFaultProxy({ target: target.url });
    const viaProxy = new Coordinator({ address: proxy.url, logger: recordingLogger() });
    try {
      const session = await viaProxy.session({ ttl: '2s' });
      session.on('error', boom);
      const failed = nextEvent(session, 'error');
      proxy.partition('drop');
      await failed;
      proxy.heal();
      await nextEvent(session, 'renewed');

      expect(session.state).toBe('active');
      expect(reportsOf('error').length).toBeGreaterThan(0);
    } finally {
      await viaProxy.close();
    }
  });
});

describe('ServiceRegistration with throwing listeners', () => {
  it('keeps heartbeating and deregisters', async () => {
    const reg = await coord.registerService({ name: 'throwing-svc', check: { ttl: '300ms' } });
    const errors: unknown[] = [];
    reg.on('error', (err) => errors.push(err));
    reg.on('renewed', boom);
    reg.on('deregistered', boom);
    let renewals = 0;
    reg.on('renewed', () => (renewals += 1));

    await vi.waitFor(() => expect(renewals).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    expect(reg.state).toBe('registered');
    expect(errors).toEqual([]);
    await reg.deregister();
    expect(reg.state).toBe('deregistered');
    expect(reportsOf('deregistered')).toHaveLength(1);
  });
});

describe('watchers with throwing listeners', () => {
  it('ConfigWatcher keeps delivering changes', async () => {
    const watcher = coord.configWatcher('throwing/config/');
    watcher.on('ready', boom);
    watcher.on('change', boom);
    watcher.on('error', boom);
    await watcher.ready();
    await coord.api.kv.put('throwing/config/a', '1');
    await vi.waitFor(() => expect(watcher.get('a')).toBe('1'));
    expect(reportsOf('change').length).toBeGreaterThan(0);
    expect(watcher.state).toBe('ready');
  });

  it('ServiceWatcher keeps delivering lists', async () => {
    const watcher = coord.serviceWatcher('throwing-web', { passingOnly: false });
    watcher.on('change', boom);
    await watcher.ready();
    await coord.api.services.register({ ID: 'tw1', Name: 'throwing-web', Port: 80 });
    await vi.waitFor(() => expect(watcher.list().map((i) => i.id)).toEqual(['tw1']));
    expect(reportsOf('change').length).toBeGreaterThan(0);
    await coord.api.services.deregister('tw1');
  });

  it('EventWatcher keeps delivering events', async () => {
    const watcher = coord.events.watch('throwing-deploy');
    watcher.on('event', boom);
    const seen = vi.fn();
    watcher.on('event', seen);
    await watcher.ready();
    await coord.events.fire('throwing-deploy', 'v1');
    await coord.events.fire('throwing-deploy', 'v2');
    await vi.waitFor(() => expect(seen).toHaveBeenCalledTimes(2));
    expect(reportsOf('event')).toHaveLength(2);
  });
});
