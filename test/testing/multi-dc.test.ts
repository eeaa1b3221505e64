/**
 * The dev cluster across datacenters: each datacenter keeps its own state (KV, sessions,
 * catalog, events), `?dc=` requests are answered by that datacenter's servers (rpc.go forwardDC),
 * an unknown or cut-off datacenter is Consul's 500 `No path to datacenter` (structs.ErrNoDCPath),
 * `/v1/catalog/datacenters` is sorted by round-trip time (router.go GetDatacentersByDistance) and
 * the WAN pool lists every datacenter's servers as `node.dc`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { type DevCluster, startDevCluster } from '../../src/testing/index.js';

let cluster: DevCluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function start(options: Parameters<typeof startDevCluster>[0] = { datacenters: { dc1: 3, dc2: 1 } }): Promise<DevCluster> {
  cluster = await startDevCluster(options);
  return cluster;
}

async function req(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: () => unknown }> {
  const res = await fetch(base + path, { method, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as unknown };
}

describe('startDevCluster({ datacenters })', () => {
  it('starts every datacenter with its node count, names <dc>-node-<i>, each with its own leader', async () => {
    const c = await start();
    expect(c.datacenters).toEqual(['dc1', 'dc2']);
    expect(c.agentsIn('dc1').map((a) => a.node)).toEqual(['dc1-node-1', 'dc1-node-2', 'dc1-node-3']);
    expect(c.agentsIn('dc2').map((a) => a.node)).toEqual(['dc2-node-1']);
    expect(c.leaderOf('dc1')).toBe('dc1-node-1');
    expect(c.leaderOf('dc2')).toBe('dc2-node-1');
    const self = (await req(c.agentsIn('dc2')[0]!.url, 'GET', '/v1/agent/self')).json() as { Config: { Datacenter: string } };
    expect(self.Config.Datacenter).toBe('dc2');
  });

  it('refuses options that name single-datacenter nodes', async () => {
    await expect(startDevCluster({ datacenters: { dc1: 1 }, nodes: 2 })).rejects.toBeInstanceOf(ConfigError);
    await expect(startDevCluster({ datacenters: { dc1: 0 } })).rejects.toThrow(/datacenters.dc1/);
  });
});

describe('?dc= reads and writes', () => {
  it('reach only the named datacenter’s KV store', async () => {
    const c = await start();
    const dc1 = c.agentsIn('dc1')[0]!.url;
    const dc2 = c.agentsIn('dc2')[0]!.url;
    expect((await req(dc1, 'PUT', '/v1/kv/app/color?dc=dc2', 'blue')).text).toBe('true');
    expect((await req(dc1, 'GET', '/v1/kv/app/color')).status).toBe(404);
    expect((await req(dc2, 'GET', '/v1/kv/app/color')).status).toBe(200);
    expect(c.agentsIn('dc2')[0]!.server.state.getKey('app/color')?.value?.toString()).toBe('blue');
    expect(c.agentsIn('dc1')[0]!.server.state.getKey('app/color')).toBeUndefined();
    // And back: a dc2 agent writes into dc1 with ?dc=dc1.
    expect((await req(dc2, 'PUT', '/v1/kv/app/size?dc=dc1', 'L')).text).toBe('true');
    expect(c.agentsIn('dc1')[2]!.server.state.getKey('app/size')?.value?.toString()).toBe('L');
    expect(c.agentsIn('dc2')[0]!.server.state.getKey('app/size')).toBeUndefined();
  });

  it('read another datacenter’s catalog, and sessions are created in the datacenter asked', async () => {
    const c = await start();
    const dc1 = c.agentsIn('dc1')[0]!.url;
    const nodes = (await req(dc1, 'GET', '/v1/catalog/nodes?dc=dc2')).json() as Array<{ Node: string; Datacenter: string }>;
    expect(nodes.map((n) => [n.Node, n.Datacenter])).toEqual([['dc2-node-1', 'dc2']]);
    // Session.Apply forwarded to dc2 with the asking agent's node name: that node is not
    // registered there (the reason sessions stay in their own datacenter).
    const refused = await req(dc1, 'PUT', '/v1/session/create?dc=dc2', {});
    expect(refused.status).toBe(500);
    expect(refused.text).toMatch(/Missing node registration/);
    const ok = await req(dc1, 'PUT', '/v1/session/create?dc=dc2', { Node: 'dc2-node-1' });
    expect(ok.status).toBe(200);
    expect(c.agentsIn('dc2')[0]!.server.state.listSessions().map((s) => s.node)).toEqual(['dc2-node-1']);
    expect(c.agentsIn('dc1')[0]!.server.state.listSessions()).toEqual([]);
  });

  it('fires a user event into the named datacenter only', async () => {
    const c = await start();
    const dc1 = c.agentsIn('dc1')[0]!.url;
    const dc2 = c.agentsIn('dc2')[0]!.url;
    expect((await req(dc1, 'PUT', '/v1/event/fire/deploy?dc=dc2', 'v2')).status).toBe(200);
    const there = (await req(dc2, 'GET', '/v1/event/list?name=deploy')).json() as unknown[];
    const here = (await req(dc1, 'GET', '/v1/event/list?name=deploy')).json() as unknown[];
    expect(there).toHaveLength(1);
    expect(here).toHaveLength(0);
  });

  it('answers 500 "No path to datacenter" for an unknown datacenter', async () => {
    const c = await start();
    const res = await req(c.agents[0]!.url, 'GET', '/v1/kv/x?dc=dc9');
    expect(res.status).toBe(500);
    expect(res.text).toBe('No path to datacenter');
  });
});

describe('datacenters and the WAN pool', () => {
  it('sorts /v1/catalog/datacenters by the simulated round-trip time, the agent’s own first', async () => {
    const c = await start({ datacenters: { dc1: 1, dc2: 1, dc3: 1 }, datacenterRtt: { dc1: { dc2: 80, dc3: 20 }, dc2: { dc3: 30 } } });
    const from = async (dc: string): Promise<unknown> => (await req(c.agentsIn(dc)[0]!.url, 'GET', '/v1/catalog/datacenters')).json();
    expect(await from('dc1')).toEqual(['dc1', 'dc3', 'dc2']);
    expect(await from('dc2')).toEqual(['dc2', 'dc3', 'dc1']);
    expect(await from('dc3')).toEqual(['dc3', 'dc1', 'dc2']);
  });

  it('lists every datacenter’s servers as node.dc in /v1/agent/members?wan=1, and only its own on the LAN', async () => {
    const c = await start();
    const url = c.agentsIn('dc1')[0]!.url;
    const wan = (await req(url, 'GET', '/v1/agent/members?wan=1')).json() as Array<{ Name: string; Tags: { dc: string }; Status: number }>;
    expect(wan.map((m) => m.Name)).toEqual(['dc1-node-1.dc1', 'dc1-node-2.dc1', 'dc1-node-3.dc1', 'dc2-node-1.dc2']);
    expect(wan.map((m) => m.Tags.dc)).toEqual(['dc1', 'dc1', 'dc1', 'dc2']);
    const lan = (await req(url, 'GET', '/v1/agent/members')).json() as Array<{ Name: string }>;
    expect(lan.map((m) => m.Name)).toEqual(['dc1-node-1', 'dc1-node-2', 'dc1-node-3']);
  });
});

describe('partitionDatacenter', () => {
  it('makes the datacenter unreachable from the others, both ways, until healed', async () => {
    const c = await start();
    const dc1 = c.agentsIn('dc1')[0]!.url;
    const dc2 = c.agentsIn('dc2')[0]!.url;
    c.partitionDatacenter('dc2');
    expect(await req(dc1, 'GET', '/v1/kv/x?dc=dc2')).toMatchObject({ status: 500, text: 'No path to datacenter' });
    expect(await req(dc2, 'GET', '/v1/kv/x?dc=dc1')).toMatchObject({ status: 500, text: 'No path to datacenter' });
    // Inside the datacenter everything works.
    expect((await req(dc2, 'PUT', '/v1/kv/x', 'local')).text).toBe('true');
    // The other side's servers are failed (4) in the WAN pool; its own stay alive (1).
    const wan = (await req(dc1, 'GET', '/v1/agent/members?wan=1')).json() as Array<{ Name: string; Status: number }>;
    expect(wan.find((m) => m.Name === 'dc2-node-1.dc2')?.Status).toBe(4);
    expect(wan.find((m) => m.Name === 'dc1-node-1.dc1')?.Status).toBe(1);
    c.healDatacenter('dc2');
    expect((await req(dc1, 'GET', '/v1/kv/x?dc=dc2')).text).toMatch(/"Key":"x"/);
  });

  it('cannot reach a datacenter whose servers are all down', async () => {
    const c = await start();
    await c.killNode('dc2-node-1');
    const res = await req(c.agents[0]!.url, 'GET', '/v1/kv/x?dc=dc2');
    expect(res).toMatchObject({ status: 500, text: 'No path to datacenter' });
  });
});
