/** ServiceRegistration against a scripted local agent (no server): heartbeats, re-registration, teardown. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { ConfigError, ConsulError, IllegalStateError } from '../../src/errors.js';
import { registerService, type ServiceRegistration } from '../../src/recipes/service/service.js';
import type { CheckStatus, ServiceDefinition } from '../../src/transport/services.js';
import { waitFor } from '../support/wait.js';

/** The agent's view: services by ID and TTL checks by ID with their status and output. */
class FakeAgent {
  readonly services = new Map<string, ServiceDefinition>();
  readonly checks = new Map<string, { status: CheckStatus; output: string; ttl: boolean }>();
  registrations = 0;
  updates = 0;
  failure: unknown;

  register = async (def: ServiceDefinition): Promise<void> => {
    if (this.failure !== undefined) throw this.failure;
    this.registrations += 1;
    this.services.set(def.ID as string, def);
    const c = def.Check;
    if (c?.CheckID && !this.checks.has(c.CheckID)) {
      this.checks.set(c.CheckID, { status: c.Status ?? 'critical', output: '', ttl: c.TTL !== undefined });
    }
  };

  deregister = async (id: string): Promise<boolean> => {
    if (this.failure !== undefined) throw this.failure;
    const def = this.services.get(id);
    if (def?.Check?.CheckID) this.checks.delete(def.Check.CheckID);
    return this.services.delete(id);
  };

  updateCheck = async (id: string, status: CheckStatus, output: string): Promise<'updated' | 'unknown'> => {
    if (this.failure !== undefined) throw this.failure;
    const check = this.checks.get(id);
    if (!check?.ttl) return 'unknown';
    this.updates += 1;
    check.status = status;
    check.output = output;
    return 'updated';
  };

  get = async (id: string) => {
    if (this.failure !== undefined) throw this.failure;
    const def = this.services.get(id);
    return def ? { ID: id, Service: def.Name, Tags: [], Meta: {}, Port: 0, Address: '' } : null;
  };

  /** Agent restart without state (dev mode): everything forgotten. */
  forget(): void {
    this.services.clear();
    this.checks.clear();
  }
}

const coords: Coordinator[] = [];
afterEach(async () => {
  await Promise.all(coords.splice(0).map((c) => c.close()));
  vi.restoreAllMocks();
});

function setup(): { coord: Coordinator; agent: FakeAgent } {
  const coord = new Coordinator({ address: 'http://127.0.0.1:1', retry: { retries: 0 } });
  coords.push(coord);
  const agent = new FakeAgent();
  vi.spyOn(coord.api.services, 'register').mockImplementation(agent.register);
  vi.spyOn(coord.api.services, 'deregister').mockImplementation(agent.deregister);
  vi.spyOn(coord.api.services, 'updateCheck').mockImplementation(agent.updateCheck);
  vi.spyOn(coord.api.services, 'get').mockImplementation(agent.get);
  return { coord, agent };
}

function once<K extends 'registered' | 'renewed' | 'deregistered' | 'error'>(reg: ServiceRegistration, event: K): Promise<unknown> {
  return new Promise((resolve) => reg.once(event, (...args: unknown[]) => resolve(args[0])));
}

describe('ServiceRegistration (scripted agent)', () => {
  it('registers with a passing TTL check and heartbeats it', async () => {
    const { coord, agent } = setup();
    const reg = await registerService(coord, { name: 'billing', id: 'b1', port: 9000, check: { ttl: 300 } });
    expect(reg.state).toBe('registered');
    expect(agent.checks.get('service:b1')?.status).toBe('passing');
    await once(reg, 'renewed');
    await once(reg, 'renewed');
    expect(agent.updates).toBeGreaterThanOrEqual(2);
  });

  it('setHealth() updates the check now, and later heartbeats repeat it', async () => {
    const { coord, agent } = setup();
    const reg = await registerService(coord, { name: 'billing', id: 'b1', check: { ttl: 300 } });
    await reg.setHealth('warning', 'disk 91%');
    expect(agent.checks.get('service:b1')).toMatchObject({ status: 'warning', output: 'disk 91%' });
    agent.checks.get('service:b1')!.status = 'critical'; // as if the TTL had lapsed
    await once(reg, 'renewed');
    expect(agent.checks.get('service:b1')).toMatchObject({ status: 'warning', output: 'disk 91%' });
  });

  describe('when the agent forgets the service', () => {
    it('registers again on the next heartbeat, keeping the health last set', async () => {
      const { coord, agent } = setup();
      const reg = await registerService(coord, { name: 'billing', id: 'b1', check: { ttl: 300 } });
      await reg.setHealth('warning', 'degraded');
      const registered = once(reg, 'registered');
      agent.forget();
      expect(await registered).toEqual({ id: 'b1', reregistered: true });
      expect(agent.services.has('b1')).toBe(true);
      expect(agent.checks.get('service:b1')).toMatchObject({ status: 'warning', output: 'degraded' });
      expect(reg.state).toBe('registered');
    });

    it('notices without a TTL check too, at the reconcile interval', async () => {
      const { coord, agent } = setup();
      const reg = await registerService(coord, { name: 'web', id: 'w1', check: { http: 'http://127.0.0.1:1/h', interval: '1s' }, reconcileInterval: 30 });
      const registered = once(reg, 'registered');
      agent.forget();
      await registered;
      expect(agent.services.get('w1')?.Check?.HTTP).toBe('http://127.0.0.1:1/h');
    });
  });

  it('reports failed heartbeats as error and recovers', async () => {
    const { coord, agent } = setup();
    const reg = await registerService(coord, { name: 'billing', id: 'b1', check: { ttl: 300 } });
    const failed = once(reg, 'error');
    agent.failure = new ConsulError(500, 'PUT /v1/agent/check/update/service:b1', 'No cluster leader');
    expect(await failed).toBeInstanceOf(ConsulError);
    agent.failure = undefined;
    await once(reg, 'renewed');
    expect(reg.state).toBe('registered');
  });

  describe('deregister()', () => {
    it('stops heartbeats, removes the instance, emits deregistered, and is idempotent', async () => {
      const { coord, agent } = setup();
      const reg = await registerService(coord, { name: 'billing', id: 'b1', check: { ttl: 300 } });
      const deregistered = once(reg, 'deregistered');
      const first = reg.deregister();
      expect(reg.deregister()).toBe(first);
      await first;
      await deregistered;
      expect(reg.state).toBe('deregistered');
      expect(agent.services.size).toBe(0);
      const updates = agent.updates;
      await expect(reg.setHealth('passing')).rejects.toBeInstanceOf(IllegalStateError);
      expect(agent.updates).toBe(updates);
    });

    it('happens on Coordinator.close()', async () => {
      const { coord, agent } = setup();
      await registerService(coord, { name: 'a', id: 'a1', check: { ttl: '10s' } });
      await registerService(coord, { name: 'b', id: 'b1' });
      await coord.close();
      expect(agent.services.size).toBe(0);
    });

    it('rejects with the ConsulError when the agent cannot be reached, still stopping locally', async () => {
      const { coord, agent } = setup();
      const reg = await registerService(coord, { name: 'a', id: 'a1', check: { ttl: '10s' } });
      agent.failure = new ConsulError(0, 'PUT /v1/agent/service/deregister/a1', 'ECONNREFUSED');
      await expect(reg.deregister()).rejects.toBeInstanceOf(ConsulError);
      expect(reg.state).toBe('deregistered');
    });
  });

  it('refuses setHealth() without a TTL check', async () => {
    const { coord } = setup();
    const reg = await registerService(coord, { name: 'web', id: 'w1', check: { tcp: '127.0.0.1:1', interval: '1s' } });
    await expect(reg.setHealth('critical')).rejects.toBeInstanceOf(IllegalStateError);
    expect(() => reg.setHealth('bogus' as never)).toThrow(ConfigError);
  });

  it('removes the instance again when aborted while registering', async () => {
    const { coord, agent } = setup();
    const ac = new AbortController();
    const reason = new Error('cancelled');
    agent.register = async (def) => {
      agent.services.set(def.ID as string, def);
      ac.abort(reason);
    };
    vi.spyOn(coord.api.services, 'register').mockImplementation(agent.register);
    await expect(registerService(coord, { name: 'a', id: 'a1', signal: ac.signal })).rejects.toBe(reason);
    expect(agent.services.size).toBe(0);
  });
});
