/**
 * JSON shapes of replies, in Consul's field order (Go marshals struct fields in declaration
 * order). Flags are bigint in the store; a reply carries them as a number when that is exact and
 * as a bigint (written as exact digits by the reply serialiser) above 2^53.
 */
import type { LocalService } from '../agent/state.js';
import type { UserEvent } from '../agent/events.js';
import type { CheckRow, DirEntry, NodeRow, ServiceRow, SessionRow } from '../state/types.js';

const MAX_SAFE_FLAGS = BigInt(Number.MAX_SAFE_INTEGER);

/** structs.DirEntry: Value is standard base64 (null when empty); Session is omitempty. */
export function dirEntryJson(e: DirEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    LockIndex: e.LockIndex,
    Key: e.Key,
    // A number when exact (the JSON text is the same), so the reply needs no bigint-aware encoder.
    Flags: e.Flags <= MAX_SAFE_FLAGS ? Number(e.Flags) : e.Flags,
    Value: e.Value === null ? null : e.Value.toString('base64'),
  };
  if (e.Session !== '') out.Session = e.Session;
  out.CreateIndex = e.CreateIndex;
  out.ModifyIndex = e.ModifyIndex;
  return out;
}

/** structs.Session: Checks (deprecated) is omitempty. */
export function sessionJson(s: SessionRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ID: s.ID,
    Name: s.Name,
    Node: s.Node,
    LockDelay: s.LockDelay,
    Behavior: s.Behavior,
    TTL: s.TTL,
    NodeChecks: s.NodeChecks,
    ServiceChecks: s.ServiceChecks,
  };
  if (s.Checks !== null && s.Checks.length > 0) out.Checks = s.Checks;
  out.CreateIndex = s.CreateIndex;
  out.ModifyIndex = s.ModifyIndex;
  return out;
}

/**
 * The fields of structs.HealthCheck that say whose check it is and what it last reported, first
 * in both the catalog's shape (checkJson) and the agent's local one (agent-services.ts).
 */
export function checkResultJson(
  node: string,
  c: Pick<CheckRow, 'CheckID' | 'Name' | 'Status' | 'Notes' | 'Output' | 'ServiceID' | 'ServiceName' | 'ServiceTags'>,
): Record<string, unknown> {
  return {
    Node: node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: [...c.ServiceTags],
  };
}

/** structs.HealthCheck (ServiceTags is [] rather than null). */
export function checkJson(c: CheckRow): Record<string, unknown> {
  return {
    ...checkResultJson(c.Node, c),
    Type: c.Type,
    Interval: c.Interval,
    Timeout: c.Timeout,
    ExposedPort: c.ExposedPort,
    Definition: c.Definition,
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
}

/** structs.Node (Locality omitted when unset). */
export function nodeJson(n: NodeRow): Record<string, unknown> {
  return {
    ID: n.ID,
    Node: n.Node,
    Address: n.Address,
    Datacenter: n.Datacenter,
    TaggedAddresses: n.TaggedAddresses,
    Meta: n.Meta,
    ...(n.Locality ? { Locality: n.Locality } : {}),
    CreateIndex: n.CreateIndex,
    ModifyIndex: n.ModifyIndex,
  };
}

/** An empty structs.ConnectProxyConfig / ServiceConnect as Go marshals them. */
const emptyProxy = (): Record<string, unknown> => ({ MeshGateway: {}, Expose: {} });

/**
 * structs.ServiceNode (a `/v1/catalog/service` row): node columns joined in;
 * ServiceTaggedAddresses omitted when empty.
 */
export function serviceNodeJson(s: ServiceRow, n: NodeRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ID: n.ID,
    Node: n.Node,
    Address: n.Address,
    Datacenter: n.Datacenter,
    TaggedAddresses: n.TaggedAddresses,
    NodeMeta: n.Meta,
    ServiceKind: s.ServiceKind,
    ServiceID: s.ServiceID,
    ServiceName: s.ServiceName,
    ServiceTags: [...s.ServiceTags],
    ServiceAddress: s.ServiceAddress,
  };
  if (Object.keys(s.ServiceTaggedAddresses).length > 0) out.ServiceTaggedAddresses = s.ServiceTaggedAddresses;
  Object.assign(out, {
    ServiceWeights: s.ServiceWeights,
    ServiceMeta: s.ServiceMeta,
    ServicePort: s.ServicePort,
    ServiceSocketPath: s.ServiceSocketPath ?? '',
    ServiceEnableTagOverride: s.ServiceEnableTagOverride,
    ServiceProxy: emptyProxy(),
    ServiceConnect: {},
    ...(s.ServiceLocality ? { ServiceLocality: s.ServiceLocality } : {}),
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  });
  return out;
}

/**
 * structs.NodeService (the `Service` of a health entry, the values of `/v1/catalog/node`): Kind,
 * TaggedAddresses and a zero Port are omitted; Tags is [] rather than null.
 */
export function nodeServiceJson(s: ServiceRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.ServiceKind !== '') out.Kind = s.ServiceKind;
  Object.assign(out, { ID: s.ServiceID, Service: s.ServiceName, Tags: [...s.ServiceTags], Address: s.ServiceAddress });
  if (Object.keys(s.ServiceTaggedAddresses).length > 0) out.TaggedAddresses = s.ServiceTaggedAddresses;
  out.Meta = s.ServiceMeta;
  if (s.ServicePort !== 0) out.Port = s.ServicePort;
  if ((s.ServiceSocketPath ?? '') !== '') out.SocketPath = s.ServiceSocketPath;
  Object.assign(out, {
    Weights: s.ServiceWeights,
    EnableTagOverride: s.ServiceEnableTagOverride,
    Proxy: emptyProxy(),
    Connect: {},
  });
  if (s.ServiceLocality) out.Locality = s.ServiceLocality;
  Object.assign(out, { CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex });
  return out;
}

/**
 * api.AgentService as buildAgentService fills it: Tags [] and Meta {} rather than null, default
 * weights, the agent's datacenter; Kind and TaggedAddresses omitted when empty, no indexes.
 */
export function agentServiceJson(s: LocalService, datacenter: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.Kind !== '') out.Kind = s.Kind;
  Object.assign(out, { ID: s.ID, Service: s.Service, Tags: [...s.Tags], Meta: s.Meta ?? {}, Port: s.Port, Address: s.Address });
  if ((s.SocketPath ?? '') !== '') out.SocketPath = s.SocketPath;
  if (Object.keys(s.TaggedAddresses).length > 0) out.TaggedAddresses = s.TaggedAddresses;
  Object.assign(out, {
    Weights: { Passing: s.Weights.Passing > 0 ? s.Weights.Passing : 1, Warning: s.Weights.Warning },
    EnableTagOverride: s.EnableTagOverride,
    Datacenter: datacenter,
  });
  if (s.Locality) out.Locality = s.Locality;
  return out;
}

/** agent.UserEvent: Payload is a []byte (base64, null when empty). */
export function userEventJson(e: UserEvent): Record<string, unknown> {
  return {
    ID: e.ID,
    Name: e.Name,
    Payload: e.Payload === null || e.Payload.length === 0 ? null : e.Payload.toString('base64'),
    NodeFilter: e.NodeFilter,
    ServiceFilter: e.ServiceFilter,
    TagFilter: e.TagFilter,
    Version: e.Version,
    LTime: e.LTime,
  };
}
