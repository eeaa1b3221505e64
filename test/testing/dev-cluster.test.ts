/**
 * The dev cluster: N agents on one datacenter's state, and what only a cluster allows — a node
 * failing. Failure handling follows agent/consul/leader.go reconcileMember (handleAliveMember,
 * handleFailedMember, handleLeftMember), serf's leave intents (force-leave) and Raft quorum.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { lanSuspicionTimeoutMs } from '../../src/testing/dev-server/cluster/cluster.js';
import { type DevCluster, type DevClusterOptions, startDevCluster } from '../../src/testing/index.js';
import { consulFetch, type ConsulResponse } from '../support/target.js';
import { waitFor } from '../support/wait.js';

let cluster: DevCluster | undefined;

async function start(options: DevClusterOptions = {}): Promise<DevCluster> {
  cluster = await startDevCluster({ suspicionTimeout: '150ms', electionTimeout: '50ms', sessionTtlMin: '1s', ...options });
  return cluster;
}

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function req(c: DevCluster, node: string, method: string, path: string, body?: object | string): Promise<ConsulResponse> {
  return consulFetch({ url: c.agent(node).url }, method, path, body === undefined ? {} : { body });
}

interface Member {
  Name: string;
  Status: number;
  Port: number;
}

async function members(c: DevCluster, via: string): Promise<Record<string, number>> {
  const list = (await req(c, via, 'GET', '/v1/agent/members')).json() as Member[];
  return Object.fromEntries(list.map((m) => [m.Name, m.Status]));
}

async function serfHealth(c: DevCluster, via: string, node: string): Promise<{ Status: string; Output: string } | undefined> {
  const checks = (await req(c, via, 'GET', `/v1/health/node/${node}`)).json() as Array<{ CheckID: string; Status: string; Output: string }>;
  return checks.find((x) => x.CheckID === 'serfHealth');
}

describe('a dev cluster of three nodes', () => {
  it('runs one agent per node, each on its own port, all members alive and registered in the catalog', async () => {
    const c = await start();
    expect(c.agents.map((a) => a.node)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(new Set(c.agents.map((a) => a.url)).size).toBe(3);
    for (const a of c.agents) {
      expect(await members(c, a.node)).toEqual({ 'node-1': 1, 'node-2': 1, 'node-3': 1 });
      expect(((await req(c, a.node, 'GET', '/v1/agent/self')).json() as { Config: { NodeName: string } }).Config.NodeName).toBe(a.node);
    }
    const nodes = (await req(c, 'node-2', 'GET', '/v1/catalog/nodes')).json() as Array<{ Node: string }>;
    expect(nodes.map((n) => n.Node).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    expect((await serfHealth(c, 'node-1', 'node-3'))?.Status).toBe('passing');
    const peers = (await req(c, 'node-3', 'GET', '/v1/status/peers')).json() as string[];
    expect(peers).toEqual(['127.0.0.1:8300', '127.0.0.1:8310', '127.0.0.1:8320']);
    expect((await req(c, 'node-3', 'GET', '/v1/status/leader')).json()).toBe('127.0.0.1:8300');
    expect(c.leader).toBe('node-1');
  });

  it('shares KV, sessions and the catalog; keeps services local to their agent; gossips events to every agent', async () => {
    const c = await start();
    expect((await req(c, 'node-1', 'PUT', '/v1/kv/shared/a', 'one')).text).toBe('true');
    const read = (await req(c, 'node-3', 'GET', '/v1/kv/shared/a?raw')).text;
    expect(read).toBe('one');

    const session = ((await req(c, 'node-2', 'PUT', '/v1/session/create', {})).json() as { ID: string }).ID;
    const info = (await req(c, 'node-1', 'GET', `/v1/session/info/${session}`)).json() as Array<{ Node: string }>;
    expect(info[0]?.Node).toBe('node-2');

    expect((await req(c, 'node-2', 'PUT', '/v1/agent/service/register', { ID: 'api-1', Name: 'api', Port: 9000 })).status).toBe(200);
    expect(Object.keys((await req(c, 'node-2', 'GET', '/v1/agent/services')).json() as object)).toEqual(['api-1']);
    expect(Object.keys((await req(c, 'node-1', 'GET', '/v1/agent/services')).json() as object)).toEqual([]);
    const instances = (await req(c, 'node-3', 'GET', '/v1/catalog/service/api')).json() as Array<{ Node: string }>;
    expect(instances.map((i) => i.Node)).toEqual(['node-2']);

    expect((await req(c, 'node-1', 'PUT', '/v1/event/fire/deploy', 'v2')).status).toBe(200);
    for (const node of ['node-1', 'node-2', 'node-3']) {
      const events = (await req(c, node, 'GET', '/v1/event/list?name=deploy')).json() as Array<{ Name: string }>;
      expect(events.map((e) => e.Name), node).toEqual(['deploy']);
    }
    // Node filters apply on each receiving agent (shouldProcessUserEvent).
    await req(c, 'node-1', 'PUT', '/v1/event/fire/only3?node=node-3');
    expect(((await req(c, 'node-3', 'GET', '/v1/event/list?name=only3')).json() as unknown[]).length).toBe(1);
    expect(((await req(c, 'node-2', 'GET', '/v1/event/list?name=only3')).json() as unknown[]).length).toBe(0);
  });
});

describe('when a node dies (leader.go handleFailedMember)', () => {
  it('after the suspicion time its member fails, serfHealth turns critical and sessions bound to it are invalidated', async () => {
    const c = await start();
    await req(c, 'node-3', 'PUT', '/v1/agent/service/register', { ID: 'web-3', Name: 'web', Port: 8080 });
    await req(c, 'node-1', 'PUT', '/v1/agent/service/register', { ID: 'web-1', Name: 'web', Port: 8081 });
    const session = ((await req(c, 'node-3', 'PUT', '/v1/session/create', { LockDelay: '1s' })).json() as { ID: string }).ID;
    expect((await req(c, 'node-3', 'PUT', `/v1/kv/held?acquire=${session}`, 'x')).text).toBe('true');

    await c.killNode('node-3');
    await expect(fetch(`${c.agent('node-3').url}/v1/agent/self`)).rejects.toThrow();
    await waitFor(async () => (await members(c, 'node-1'))['node-3'] === 4, { message: 'node-3 failed (serf.StatusFailed = 4)' });
    expect(await serfHealth(c, 'node-2', 'node-3')).toMatchObject({ Status: 'critical', Output: 'Agent not live or unreachable' });
    // The session bound to node-3's serfHealth is gone; its lock is released, under lock-delay.
    expect((await req(c, 'node-1', 'GET', `/v1/session/info/${session}`)).json()).toEqual([]);
    const entry = (await req(c, 'node-1', 'GET', '/v1/kv/held')).json() as Array<{ Session?: string }>;
    expect(entry[0]?.Session).toBeUndefined();
    expect(c.agent('node-1').server.state.lockDelayMs('held')).toBeGreaterThan(0);
    // Its instances stay in the catalog but are unhealthy through the node check.
    const passing = (await req(c, 'node-1', 'GET', '/v1/health/service/web?passing')).json() as Array<{ Service: { ID: string } }>;
    expect(passing.map((p) => p.Service.ID)).toEqual(['web-1']);
    const all = (await req(c, 'node-1', 'GET', '/v1/health/service/web')).json() as Array<{ Service: { ID: string } }>;
    expect(all.map((p) => p.Service.ID).sort()).toEqual(['web-1', 'web-3']);
  });

  it('restartNode brings it back: alive, serfHealth passing, its local services kept and probing again', async () => {
    const c = await start();
    await req(c, 'node-2', 'PUT', '/v1/agent/service/register', { ID: 'db-2', Name: 'db', Port: 5432 });
    await c.killNode('node-2');
    await waitFor(async () => (await serfHealth(c, 'node-1', 'node-2'))?.Status === 'critical');
    await c.restartNode('node-2');
    expect((await members(c, 'node-1'))['node-2']).toBe(1);
    expect((await serfHealth(c, 'node-1', 'node-2'))?.Status).toBe('passing');
    expect(Object.keys((await req(c, 'node-2', 'GET', '/v1/agent/services')).json() as object)).toEqual(['db-2']);
    const passing = (await req(c, 'node-1', 'GET', '/v1/health/service/db?passing')).json() as unknown[];
    expect(passing).toHaveLength(1);
  });

  it('a node back before the suspicion time was never failed', async () => {
    const c = await start({ suspicionTimeout: '1h' });
    const session = ((await req(c, 'node-2', 'PUT', '/v1/session/create', {})).json() as { ID: string }).ID;
    await c.killNode('node-2');
    await c.restartNode('node-2');
    expect((await req(c, 'node-1', 'GET', `/v1/session/info/${session}`)).json()).toHaveLength(1);
    expect((await members(c, 'node-1'))['node-2']).toBe(1);
  });

  it('a paused node holds its requests, fails after the suspicion time, and is alive again on resume', async () => {
    const c = await start();
    c.pauseNode('node-2');
    const held = req(c, 'node-2', 'GET', '/v1/agent/self');
    await waitFor(async () => (await members(c, 'node-1'))['node-2'] === 4);
    c.resumeNode('node-2');
    expect((await held).status).toBe(200);
    expect((await members(c, 'node-3'))['node-2']).toBe(1);
    expect((await serfHealth(c, 'node-3', 'node-2'))?.Status).toBe('passing');
  });

  it('restartNode of a paused node runs its checks again', async () => {
    const c = await start();
    await req(c, 'node-2', 'PUT', '/v1/agent/check/register', { ID: 'beat', Name: 'beat', TTL: '300ms', Status: 'passing' });
    c.pauseNode('node-2');
    await c.restartNode('node-2');
    // The TTL timer runs in the restarted process: the check expires.
    await waitFor(async () => {
      const checks = (await req(c, 'node-1', 'GET', '/v1/health/node/node-2')).json() as Array<{ CheckID: string; Status: string }>;
      return checks.find((x) => x.CheckID === 'beat')?.Status === 'critical';
    }, { message: 'the TTL check expired after the restart' });
  });

  it('the leader’s death leaves a new leader after the election timeout; losing the quorum leaves none', async () => {
    const c = await start();
    await c.killNode('node-1');
    await waitFor(() => c.leader === 'node-2', { message: 'node-2 leads' });
    expect((await req(c, 'node-3', 'GET', '/v1/status/leader')).json()).toBe('127.0.0.1:8310');
    expect((await req(c, 'node-3', 'PUT', '/v1/kv/after-election', 'v')).text).toBe('true');
    // A failed server stays a Raft peer (only a leave removes it).
    expect(((await req(c, 'node-3', 'GET', '/v1/status/peers')).json() as string[]).length).toBe(3);

    await c.killNode('node-2');
    await waitFor(() => c.leader === undefined);
    const write = await req(c, 'node-3', 'PUT', '/v1/kv/no-quorum', 'v');
    expect([write.status, write.text]).toEqual([500, 'No cluster leader']);
    expect((await req(c, 'node-3', 'GET', '/v1/kv/after-election?stale&raw')).text).toBe('v');

    await c.restartNode('node-2');
    await waitFor(() => c.leader !== undefined);
    expect((await req(c, 'node-3', 'PUT', '/v1/kv/quorum-back', 'v')).text).toBe('true');
  });
});

describe('leaving (agent_endpoint.go AgentLeave, AgentForceLeave)', () => {
  it('force-leave turns a failed member into a left one and deregisters its node; ?prune forgets it', async () => {
    const c = await start();
    await c.killNode('node-3');
    await waitFor(async () => (await members(c, 'node-1'))['node-3'] === 4);
    expect((await req(c, 'node-1', 'PUT', '/v1/agent/force-leave/node-3')).status).toBe(200);
    expect((await members(c, 'node-1'))['node-3']).toBe(3);
    const nodes = (await req(c, 'node-1', 'GET', '/v1/catalog/nodes')).json() as Array<{ Node: string }>;
    expect(nodes.map((n) => n.Node)).not.toContain('node-3');
    expect(((await req(c, 'node-1', 'GET', '/v1/status/peers')).json() as string[]).length).toBe(2);
    expect((await req(c, 'node-1', 'PUT', '/v1/agent/force-leave/node-3?prune')).status).toBe(200);
    expect(Object.keys(await members(c, 'node-2'))).toEqual(['node-1', 'node-2']);
  });

  it('/v1/agent/leave answers, leaves (status left, node deregistered) and shuts the agent down', async () => {
    const c = await start();
    const res = await req(c, 'node-3', 'PUT', '/v1/agent/leave');
    expect(res.status).toBe(200);
    expect((await members(c, 'node-1'))['node-3']).toBe(3);
    const nodes = (await req(c, 'node-1', 'GET', '/v1/catalog/nodes')).json() as Array<{ Node: string }>;
    expect(nodes.map((n) => n.Node)).toEqual(['node-1', 'node-2']);
    await waitFor(async () => {
      try {
        await fetch(`${c.agent('node-3').url}/v1/agent/self`);
        return false;
      } catch {
        return true;
      }
    }, { message: 'node-3 stopped listening' });
    // restartNode starts it again; it rejoins and registers its node again.
    await c.restartNode('node-3');
    expect((await members(c, 'node-1'))['node-3']).toBe(1);
    expect((await serfHealth(c, 'node-1', 'node-3'))?.Status).toBe('passing');
  });

  it('join to another member’s Serf address succeeds; to a dead member’s it fails', async () => {
    const c = await start();
    expect((await req(c, 'node-1', 'PUT', '/v1/agent/join/127.0.0.1:8311')).status).toBe(200);
    await c.killNode('node-2');
    const res = await req(c, 'node-1', 'PUT', '/v1/agent/join/127.0.0.1:8311');
    expect(res.status).toBe(500);
    expect(res.text).toContain('Failed to join 127.0.0.1:8311');
  });
});

describe('startDevCluster options', () => {
  it('rejects a bad node count or names with a ConfigError', async () => {
    await expect(startDevCluster({ nodes: 0 })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
    await expect(startDevCluster({ nodes: 2, nodeNames: ['a', 'a'] })).rejects.toThrow(/distinct/);
  });

  it('names the nodes it has when asked for an unknown one', async () => {
    const c = await start({ nodes: 2 });
    expect(() => c.agent('node-9')).toThrow(/unknown node "node-9"; nodes are node-1, node-2/);
    await expect(c.killNode('node-9')).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });

  it('gives each node its own DNS port when dnsPort is 0', async () => {
    const c = await start({ nodes: 2, dnsPort: 0 });
    const ports = c.agents.map((a) => a.server.dns?.port);
    expect(ports.every((p) => typeof p === 'number' && p > 0)).toBe(true);
    expect(new Set(ports).size).toBe(2);
  });
});

describe('the default suspicion time (memberlist suspicionTimeout, DefaultLANConfig)', () => {
  it('is 4 s up to ten nodes and grows with log10(n) beyond', () => {
    expect(lanSuspicionTimeoutMs(1)).toBe(4000);
    expect(lanSuspicionTimeoutMs(3)).toBe(4000);
    expect(lanSuspicionTimeoutMs(10)).toBe(4000);
    expect(lanSuspicionTimeoutMs(100)).toBe(8000);
  });
});
