/**
 * JSON shapes of replies, in Consul's field order (Go marshals struct fields in declaration
 * order). Flags stay bigint and are written as exact digits by the reply serialiser.
 */
import type { CheckRow, DirEntry, SessionRow } from '../state/types.js';

/** structs.DirEntry: Value is standard base64 (null when empty); Session is omitempty. */
export function dirEntryJson(e: DirEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    LockIndex: e.LockIndex,
    Key: e.Key,
    Flags: e.Flags,
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

/** structs.HealthCheck (ServiceTags is [] rather than null). */
export function checkJson(c: CheckRow): Record<string, unknown> {
  return {
    Node: c.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: [...c.ServiceTags],
    Type: c.Type,
    Interval: c.Interval,
    Timeout: c.Timeout,
    ExposedPort: c.ExposedPort,
    Definition: c.Definition,
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
}
