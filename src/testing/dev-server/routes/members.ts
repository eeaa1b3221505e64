/**
 * Serf membership endpoints (agent/agent_endpoint.go): `/v1/agent/members` (`?wan`,
 * `?segment`), `/v1/agent/join/:addr`, `/v1/agent/leave` and `/v1/agent/force-leave/:node`
 * (`?prune`, `?wan`). One implementation for a lone dev agent and for every agent of a dev
 * cluster: they read and change the members of the agent's {@link Datacenter}.
 */
import type { Member, MemberStatus } from '../cluster/datacenter.js';
import { DEV_SERVER_CONSUL_VERSION, MEMBER_STATUS, advertiseAddress } from '../cluster/datacenter.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError, RpcError } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { addRoutes } from './route-table.js';

/** api.AllSegments. */
const ALL_SEGMENTS = '_all';

/** structs.ErrSegmentsNotSupported: Consul CE has no network segments. */
const SEGMENTS_NOT_SUPPORTED = 'Network segments are not supported in this version of Consul';

/** Serf protocol range of Consul 1.x (ProtocolVersionMin/Max, delegate versions). */
const PROTOCOL = { ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4 } as const;

/** api.AgentMember: a server member with the tags Consul servers gossip (agent/consul/server.go). */
function memberJson(m: Member, wan: boolean, aclsEnabled: boolean, expect: number, status: MemberStatus = m.status): Record<string, unknown> {
  const { options, raftPort, serfPort } = m.agent;
  const tags: Record<string, string> = {
    acls: aclsEnabled ? '1' : '0',
    build: `${DEV_SERVER_CONSUL_VERSION}:devserver`,
    dc: options.datacenter,
    ft_fs: '1',
    ft_si: '1',
    id: options.nodeId,
    port: String(raftPort),
    raft_vsn: '3',
    role: 'consul',
    segment: '',
    vsn: '2',
    vsn_max: '3',
    vsn_min: '2',
    wan_join_port: String(serfPort + 1),
  };
  // A lone -dev server bootstraps itself; a cluster's servers wait for bootstrap_expect peers.
  if (expect <= 1) tags.bootstrap = '1';
  else tags.expect = String(expect);
  return {
    // The WAN pool names servers `node.dc` (agent/consul/server_serf.go).
    Name: wan ? `${m.name}.${options.datacenter}` : m.name,
    Addr: advertiseAddress(options.host),
    Port: wan ? serfPort + 1 : serfPort,
    Tags: tags,
    Status: MEMBER_STATUS[status],
    ...PROTOCOL,
  };
}

/** This agent's own member (`/v1/agent/self` → Member), as the LAN pool lists it. */
export function selfMember(ctx: RequestContext): Record<string, unknown> | null {
  const all = ctx.core.dc.listMembers();
  const me = ctx.core.dc.member(ctx.core.options.nodeName);
  return me ? memberJson(me, false, ctx.core.options.aclToken !== undefined, all.length) : null;
}

/**
 * AgentMembers: `?wan` lists the WAN pool (a segment other than `_all` is a 400 then); a LAN
 * `?segment` other than `_all` fails as Consul CE does; members the token may not `node:read`
 * are filtered out (filterMembers).
 */
function members(ctx: RequestContext): Reply {
  const token = ctx.token();
  const wan = ctx.query.get('wan') !== '';
  const segment = ctx.query.get('segment');
  if (wan && segment !== '' && segment !== ALL_SEGMENTS) {
    throw new HttpError(400, 'Cannot provide a segment with wan=true');
  }
  if (!wan && segment !== '' && segment !== ALL_SEGMENTS) throw new RpcError(SEGMENTS_NOT_SUPPORTED);
  const authz = ctx.authorizer();
  const dc = ctx.core.dc;
  const acls = ctx.core.options.aclToken !== undefined;
  // The WAN pool of a dev cluster across datacenters holds every datacenter's servers.
  const all =
    wan && dc.federation
      ? dc.federation.wanMembers(dc.name)
      : dc.listMembers().map((member, _, list) => ({ member, status: member.status, expect: list.length }));
  const visible = authz.enforcing ? all.filter((m) => authz.allowed('node', 'read', m.member.name)) : all;
  if (token !== '' && visible.length < all.length) ctx.headers['X-Consul-Results-Filtered-By-ACLs'] = 'true';
  return ctx.json(visible.map((m) => memberJson(m.member, wan, acls, m.expect, m.status)));
}

/**
 * AgentJoin (`agent:write`): serf's Join contacts the address (Serf LAN port 8301 when none is
 * given). An address where a running member of this datacenter listens joins (a no-op: the dev
 * cluster is always fully joined); anything else fails as the dial would.
 */
function join(ctx: RequestContext): Reply {
  ctx.authorizer().require('agent', 'write', ctx.core.options.nodeName);
  const addr = ctx.path.slice('/v1/agent/join/'.length);
  const target = ctx.core.dc.memberAt(addr);
  if (!target || !target.running || target.status === 'left') {
    const hostPort = /:\d+$/.test(addr) ? addr : `${addr}:8301`;
    throw new RpcError(`1 error occurred:\n\t* Failed to join ${hostPort}: dial tcp ${hostPort}: connect: connection refused\n\n`);
  }
  return ctx.empty();
}

/**
 * AgentLeave (`agent:write`): the member leaves gracefully (the leader deregisters its node), then
 * the agent shuts down: its HTTP port stops answering right after this reply.
 */
function leave(ctx: RequestContext): Reply {
  ctx.authorizer().require('agent', 'write', ctx.core.options.nodeName);
  ctx.core.dc.leave(ctx.core.options.nodeName);
  ctx.core.requestShutdown();
  return ctx.empty();
}

/**
 * AgentForceLeave (`operator:write`): serf.RemoveFailedNode(Prune). A failed member becomes left
 * and the leader deregisters it; `?prune` also erases it from the member list. Alive and unknown
 * members are left alone (no error), as serf's leave intent does.
 */
function forceLeave(ctx: RequestContext): Reply {
  ctx.authorizer().require('operator', 'write', '');
  const prune = ctx.query.has('prune');
  let node = ctx.path.slice('/v1/agent/force-leave/'.length);
  // The WAN pool names members `node.dc`.
  const suffix = `.${ctx.core.options.datacenter}`;
  if (ctx.query.has('wan') && node.endsWith(suffix)) node = node.slice(0, -suffix.length);
  ctx.core.dc.forceLeave(node, prune);
  return ctx.empty();
}

export function registerMemberRoutes(router: Router): void {
  addRoutes(router, '/v1/agent/', { GET: { members }, PUT: { 'join/': join, leave, 'force-leave/': forceLeave } });
}
