/**
 * Conformance: Serf membership on one agent (agent/agent_endpoint.go AgentMembers, AgentJoin,
 * AgentForceLeave; agent/status_endpoint.go Peers). A lone `-dev` agent is a one-member LAN pool
 * whose member is alive, is a server (`role: consul`) and is the only Raft peer.
 * Leaving (which shuts the agent down) and failures are covered on the dev cluster
 * (test/testing/dev-cluster.test.ts).
 */
import { expect, it } from 'vitest';
import { describeConformance } from '../support/conformance.js';

interface MemberJson {
  Name: string;
  Addr: string;
  Port: number;
  Tags: Record<string, string>;
  Status: number;
  ProtocolMin: number;
  ProtocolMax: number;
  ProtocolCur: number;
  DelegateMin: number;
  DelegateMax: number;
  DelegateCur: number;
}

describeConformance('agent members, join and force-leave (agent_endpoint.go)', (ctx) => {
  async function self(): Promise<{ node: string; dc: string }> {
    const res = await ctx.req('GET', '/v1/agent/self');
    const body = res.json() as { Config: { NodeName: string; Datacenter: string } };
    return { node: body.Config.NodeName, dc: body.Config.Datacenter };
  }

  it('AgentMembers lists this agent as an alive server member with serf.Member fields', async () => {
    const { node, dc } = await self();
    const res = await ctx.req('GET', '/v1/agent/members');
    expect(res.status).toBe(200);
    const members = res.json() as MemberJson[];
    const me = members.find((m) => m.Name === node);
    expect(me).toBeDefined();
    // serf.StatusAlive is 1.
    expect(me!.Status).toBe(1);
    expect(me!.Port).toBe(8301);
    expect(me!.Addr).toMatch(/^[\d.:a-f]+$/);
    expect(me!.Tags).toMatchObject({ role: 'consul', dc, port: '8300' });
    expect(me!.Tags.id).toMatch(/^[0-9a-f-]{36}$/);
    for (const k of ['ProtocolMin', 'ProtocolMax', 'ProtocolCur', 'DelegateMin', 'DelegateMax', 'DelegateCur'] as const) {
      expect(typeof me![k]).toBe('number');
    }
    // agent/self's Member is the same serf.Member.
    const selfMember = ((await ctx.req('GET', '/v1/agent/self')).json() as { Member: MemberJson }).Member;
    expect(selfMember).toEqual(me);
  });

  it('?wan lists servers as node.dc on the WAN port; a segment with wan is a 400', async () => {
    const { node, dc } = await self();
    const wan = await ctx.req('GET', '/v1/agent/members?wan=1');
    expect(wan.status).toBe(200);
    const me = (wan.json() as MemberJson[]).find((m) => m.Name === `${node}.${dc}`);
    expect(me?.Port).toBe(8302);
    const bad = await ctx.req('GET', '/v1/agent/members?wan=1&segment=alpha');
    expect(bad.status).toBe(400);
    expect(bad.text).toBe('Cannot provide a segment with wan=true');
    expect((await ctx.req('GET', '/v1/agent/members?wan=1&segment=_all')).status).toBe(200);
  });

  it('?segment=_all lists every LAN member; another segment is refused by Consul CE', async () => {
    const all = await ctx.req('GET', '/v1/agent/members?segment=_all');
    expect(all.status).toBe(200);
    expect((all.json() as MemberJson[]).length).toBeGreaterThan(0);
    const other = await ctx.req('GET', '/v1/agent/members?segment=alpha');
    expect(other.status).toBe(500);
    expect(other.text).toContain('Network segments are not supported');
  });

  it('AgentJoin to the agent’s own Serf address succeeds; an address nobody listens on is a 500', async () => {
    const members = (await ctx.req('GET', '/v1/agent/members')).json() as MemberJson[];
    const { node } = await self();
    const me = members.find((m) => m.Name === node)!;
    const ok = await ctx.req('PUT', `/v1/agent/join/${me.Addr}:${me.Port}`);
    expect(ok.status, ok.text).toBe(200);
    // GET is not a join method (the handler is registered for PUT).
    expect((await ctx.req('GET', `/v1/agent/join/${me.Addr}:${me.Port}`)).status).toBe(405);
    if (ctx.isDev) {
      const refused = await ctx.req('PUT', '/v1/agent/join/127.0.0.1:1');
      expect(refused.status).toBe(500);
      expect(refused.text).toContain('Failed to join 127.0.0.1:1');
    }
  });

  it('AgentForceLeave of an unknown node is a no-op (serf ignores the intent), with ?prune too', async () => {
    const before = ((await ctx.req('GET', '/v1/agent/members')).json() as MemberJson[]).length;
    expect((await ctx.req('PUT', '/v1/agent/force-leave/no-such-node-xyz')).status).toBe(200);
    expect((await ctx.req('PUT', '/v1/agent/force-leave/no-such-node-xyz?prune')).status).toBe(200);
    expect(((await ctx.req('GET', '/v1/agent/members')).json() as MemberJson[]).length).toBe(before);
  });

  it('AgentForceLeave of an alive member changes nothing: it refutes the leave intent', async () => {
    const { node } = await self();
    expect((await ctx.req('PUT', `/v1/agent/force-leave/${node}`)).status).toBe(200);
    const me = ((await ctx.req('GET', '/v1/agent/members')).json() as MemberJson[]).find((m) => m.Name === node);
    expect(me?.Status).toBe(1);
  });

  it('status/peers lists the Raft servers, and the leader is one of them', async () => {
    const peers = (await ctx.req('GET', '/v1/status/peers')).json() as string[];
    const leader = (await ctx.req('GET', '/v1/status/leader')).json() as string;
    expect(peers.length).toBeGreaterThan(0);
    expect(peers).toContain(leader);
  });
});

describeConformance(
  'members under ACLs (agent_endpoint.go filterMembers, AgentJoin agent:write, AgentForceLeave operator:write)',
  (ctx) => {
    it('the anonymous token sees no member and may neither join nor force-leave', async () => {
      const anon = { token: null };
      const res = await ctx.req('GET', '/v1/agent/members', anon);
      expect(res.status).toBe(200);
      expect(res.json()).toEqual([]);
      const join = await ctx.req('PUT', '/v1/agent/join/127.0.0.1', anon);
      expect(join.status).toBe(403);
      expect(join.text).toContain("lacks permission 'agent:write'");
      const force = await ctx.req('PUT', '/v1/agent/force-leave/x', anon);
      expect(force.status).toBe(403);
      expect(force.text).toContain("lacks permission 'operator:write'");
    });

    it('the management token sees every member', async () => {
      const res = await ctx.req('GET', '/v1/agent/members');
      expect((res.json() as MemberJson[]).length).toBe(1);
    });
  },
  { dev: { aclToken: 'root-token-members' }, devOnly: true },
);
