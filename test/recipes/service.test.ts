/**
 * ServiceRegistration against a live server. Needs agent services, health service queries and
 * catalog reads (consul-api §2–4, §7–9) in the dev server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ClosedError } from '../../src/errors.js';
import { resolve, ServiceWatcher } from '../../src/recipes/discovery/discovery.js';
import { registerService, type RegisterServiceOptions } from '../../src/recipes/service/service.js';
import { consulFetch } from '../support/target.js';
import { waitFor } from '../support/wait.js';
import { settle, trackResources, useWatchFixture } from './watch-fixture.js';

const fx = useWatchFixture();

interface AgentServiceJson {
  ID: string;
  Service: string;
  Tags: string[];
  Port: number;
}

async function agentServices(): Promise<Record<string, AgentServiceJson>> {
  const res = await consulFetch(fx.target, 'GET', '/v1/agent/services');
  expect(res.status).toBe(200);
  return res.json();
}

async function agentCheck(checkId: string): Promise<{ Status: string; Output: string } | undefined> {
  const res = await consulFetch(fx.target, 'GET', '/v1/agent/checks');
  return (res.json() as Record<string, { Status: string; Output: string }>)[checkId];
}

/** Starts a child process that registers `options` and heartbeats until SIGKILLed. */
async function crashableInstance(options: RegisterServiceOptions): Promise<{ id: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./service-crash-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, fx.target.url, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  fx.cleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((res, rej) => {
    lines.once('line', res);
    child.once('exit', (code) => rej(new Error(`child exited with ${code} before registering`)));
  });
  lines.close();
  return { id: (JSON.parse(first) as { id: string }).id, child };
}

/** A local HTTP endpoint whose status code the test sets: what an HTTP check probes. */
async function healthEndpoint(): Promise<{ url: string; setStatus(code: number): void }> {
  let status = 200;
  const server = http.createServer((_req, res) => {
    res.statusCode = status;
    res.end(`status ${status}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fx.cleanup(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/health`, setStatus: (code) => void (status = code) };
}

describe('registering', () => {
  it('registers the instance with its tags, port and meta, and a passing TTL check at once', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, {
      name: fx.unique,
      id: `${fx.unique}-1`,
      port: 8080,
      tags: ['v1', 'eu'],
      meta: { version: '1.2.3' },
      check: { ttl: '2s' },
    });
    expect(reg.state).toBe('registered');
    expect(reg.checkId).toBe(`service:${fx.unique}-1`);
    const services = await agentServices();
    expect(services[`${fx.unique}-1`]).toMatchObject({ Service: fx.unique, Port: 8080, Tags: ['v1', 'eu'] });
    // The agent syncs before replying: the catalog has it, passing, when registerService resolves.
    const instances = await resolve(coord, fx.unique);
    expect(instances).toHaveLength(1);
    expect(instances[0]).toMatchObject({ id: `${fx.unique}-1`, port: 8080, status: 'passing', meta: { version: '1.2.3' } });
  });

  it('keeps a TTL check passing by heartbeating it', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, check: { ttl: '1s' } });
    let renewals = 0;
    reg.on('renewed', () => (renewals += 1));
    // Several TTLs pass; the check never expires.
    await waitFor(() => renewals >= 7, { timeout: 10_000 });
    expect((await agentCheck(reg.checkId!))?.Status).toBe('passing');
  });

  it('setHealth() is visible in the catalog, output included', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, check: { ttl: '5s' } });
    await reg.setHealth('warning', 'queue backlog 900');
    const [instance] = await resolve(coord, fx.unique, { passingOnly: false });
    expect(instance?.status).toBe('warning');
    expect((await agentCheck(reg.checkId!))?.Output).toBe('queue backlog 900');
    expect(await resolve(coord, fx.unique)).toEqual([]);
    await reg.setHealth('passing');
    expect(await resolve(coord, fx.unique)).toHaveLength(1);
  });

  it('starts critical when asked to, until the process says it is ready', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, check: { ttl: '5s' }, initialStatus: 'critical' });
    expect(await resolve(coord, fx.unique)).toEqual([]);
    await reg.setHealth('passing', 'warmed up');
    expect(await resolve(coord, fx.unique)).toHaveLength(1);
  });

  it('puts the instance in maintenance and back', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, check: { ttl: '5s' } });
    await reg.setMaintenance(true, 'deploying');
    const [instance] = await resolve(coord, fx.unique, { passingOnly: false });
    expect(instance?.status).toBe('maintenance');
    expect(await resolve(coord, fx.unique)).toEqual([]);
    await reg.setMaintenance(false);
    expect(await resolve(coord, fx.unique)).toHaveLength(1);
  });
});

describe('HTTP and TCP checks', () => {
  it('follows the endpoint: 2xx passing, 429 warning, anything else critical', async () => {
    const coord = fx.coord();
    const endpoint = await healthEndpoint();
    await registerService(coord, { name: fx.unique, check: { http: endpoint.url, interval: '1s', timeout: '1s' } });
    const watcher = new ServiceWatcher(coord, fx.unique, { passingOnly: false });
    const statusIs = (s: string) => () => watcher.list()[0]?.status === s;
    await waitFor(statusIs('passing'), { timeout: 10_000 });
    endpoint.setStatus(429);
    await waitFor(statusIs('warning'), { timeout: 10_000 });
    endpoint.setStatus(503);
    await waitFor(statusIs('critical'), { timeout: 10_000 });
    endpoint.setStatus(204);
    await waitFor(statusIs('passing'), { timeout: 10_000 });
  });

  it('passes a TCP check while the port accepts connections', async () => {
    const coord = fx.coord();
    const endpoint = await healthEndpoint();
    const { port } = new URL(endpoint.url);
    await registerService(coord, { name: fx.unique, check: { tcp: `127.0.0.1:${port}`, interval: '1s' } });
    await waitFor(async () => (await resolve(coord, fx.unique)).length === 1, { timeout: 10_000 });
  });
});

describe('when the process dies without deregistering (SIGKILL)', () => {
  it('turns critical after the TTL and a passingOnly watcher drops it', async () => {
    const coord = fx.coord();
    const { id, child } = await crashableInstance({ name: fx.unique, check: { ttl: '1s' } });
    const watcher = new ServiceWatcher(coord, fx.unique, { passingOnly: true });
    expect((await watcher.ready()).map((i) => i.id)).toEqual([id]);
    const dropped = new Promise<void>((res) => watcher.on('change', (list) => list.length === 0 && res()));
    child.kill('SIGKILL');
    await dropped;
    const [instance] = await resolve(coord, fx.unique, { passingOnly: false });
    expect(instance).toMatchObject({ id, status: 'critical' });
  });

  it(
    'is removed by deregisterCriticalServiceAfter (real Consul: at least 1 minute, reaped every 30 s; the dev fixture lowers both)',
    async () => {
      const coord = fx.coord();
      const after = fx.isDev ? '1s' : '1m';
      const { id, child } = await crashableInstance({ name: fx.unique, check: { ttl: '1s' }, deregisterCriticalServiceAfter: after });
      child.kill('SIGKILL');
      await waitFor(async () => !(id in (await agentServices())), { timeout: fx.isDev ? 20_000 : 110_000, interval: 200 });
      expect(await resolve(coord, fx.unique, { passingOnly: false })).toEqual([]);
    },
    120_000,
  );
});

describe('when the agent forgets the service', () => {
  it.runIf(fx.isDev)('registers again by itself after an agent restart without state', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, id: `${fx.unique}-1`, tags: ['v2'], check: { ttl: '1s' } });
    await reg.setHealth('warning', 'still here');
    const again = new Promise<unknown>((res) => reg.once('registered', res));
    await fx.dev.restart({ keepState: false });
    expect(await again).toEqual({ id: `${fx.unique}-1`, reregistered: true });
    expect((await agentServices())[`${fx.unique}-1`]).toMatchObject({ Tags: ['v2'] });
    const [instance] = await resolve(coord, fx.unique, { passingOnly: false });
    expect(instance?.status).toBe('warning');
  });

  it('registers again when the service was deregistered behind its back', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, id: `${fx.unique}-1`, check: { ttl: '1s' } });
    const again = new Promise<unknown>((res) => reg.once('registered', res));
    await consulFetch(fx.target, 'PUT', `/v1/agent/service/deregister/${fx.unique}-1`);
    await again;
    expect(await resolve(coord, fx.unique)).toHaveLength(1);
  });
});

describe('deregistering', () => {
  it('removes the instance from the agent and the catalog, and is idempotent', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, check: { ttl: '5s' } });
    const events: string[] = [];
    reg.on('deregistered', () => events.push('deregistered'));
    await Promise.all([reg.deregister(), reg.deregister()]);
    await reg.close();
    expect(events).toEqual(['deregistered']);
    expect(reg.state).toBe('deregistered');
    expect(reg.id in (await agentServices())).toBe(false);
    expect(await resolve(coord, fx.unique, { passingOnly: false })).toEqual([]);
  });

  it('happens on Coordinator.close()', async () => {
    const coord = fx.coord();
    const reg = await registerService(coord, { name: fx.unique, check: { ttl: '5s' } });
    await coord.close();
    expect(reg.state).toBe('deregistered');
    expect(reg.id in (await agentServices())).toBe(false);
    expect(() => registerService(coord, { name: fx.unique })).toThrow(ClosedError);
  });

  it('leaves no timer or socket behind', async () => {
    const resources = trackResources();
    try {
      const coord = fx.coord();
      const reg = await registerService(coord, { name: fx.unique, check: { ttl: '1s' } });
      await new Promise<void>((res) => reg.once('renewed', () => res()));
      await coord.close();
      await settle(() => resources.live().length === 0, { message: 'timers and sockets to be released' });
    } finally {
      resources.stop();
    }
  });
});
