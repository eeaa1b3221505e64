/**
 * Row types of the dev server's state store. They mirror Consul's `structs` types field for field
 * (agent/structs/structs.go), so the HTTP layer can serialise them in Consul's JSON field order.
 * Rows are immutable: every write stores a new object, so a reader holding a row never sees it
 * change underneath it (memdb gives Consul the same guarantee).
 */

/** structs.DirEntry. `Flags` is a uint64 and kept exact as a bigint. */
export interface DirEntry {
  readonly LockIndex: number;
  readonly Key: string;
  readonly Flags: bigint;
  /** null for an empty value (Consul stores nil bytes and writes JSON null). */
  readonly Value: Buffer | null;
  /** '' when unlocked (omitted from JSON). */
  readonly Session: string;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** A KV write request before the store stamps indexes on it. */
export interface DirEntryInput {
  readonly Key: string;
  readonly Flags: bigint;
  readonly Value: Buffer | null;
  readonly Session: string;
  readonly LockIndex?: number;
  /** CAS / check index (the request's ModifyIndex field in Consul). */
  readonly ModifyIndex?: number;
}

/** st/graveyard.go Tombstone: a deleted key and the index of the write that deleted it. */
export interface Tombstone {
  readonly Key: string;
  readonly Index: number;
  /** Wall-clock ms after which the tombstone GC may reap it. */
  readonly reapAt: number;
}

export type SessionBehavior = 'release' | 'delete';

export interface ServiceCheckRef {
  readonly ID: string;
  readonly Namespace: string;
}

/** structs.Session. */
export interface SessionRow {
  readonly ID: string;
  readonly Name: string;
  readonly Node: string;
  /** Nanoseconds, as Consul's time.Duration. */
  readonly LockDelay: number;
  readonly Behavior: SessionBehavior;
  readonly TTL: string;
  readonly NodeChecks: readonly string[] | null;
  readonly ServiceChecks: readonly ServiceCheckRef[] | null;
  /** Deprecated legacy field; omitted from JSON when empty. */
  readonly Checks: readonly string[] | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** structs.Node (catalog). */
export interface NodeRow {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter: string;
  /** null for a node registered through the catalog without them (Go's nil map). */
  readonly TaggedAddresses: Readonly<Record<string, string>> | null;
  readonly Meta: Readonly<Record<string, string>> | null;
  readonly Locality?: Locality | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

export type CheckStatus = 'passing' | 'warning' | 'critical';

/** structs.HealthCheck (catalog row). */
export interface CheckRow {
  readonly Node: string;
  readonly CheckID: string;
  readonly Name: string;
  readonly Status: CheckStatus;
  readonly Notes: string;
  readonly Output: string;
  readonly ServiceID: string;
  readonly ServiceName: string;
  readonly ServiceTags: readonly string[];
  readonly Type: string;
  readonly Interval: string;
  readonly Timeout: string;
  readonly ExposedPort: number;
  readonly Definition: Readonly<Record<string, unknown>>;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** structs.ServiceAddress. */
export interface ServiceAddress {
  readonly Address: string;
  readonly Port: number;
}

/** structs.Locality (region and zone of a node or service). */
export interface Locality {
  readonly Region: string;
  readonly Zone: string;
}

/** structs.Weights. */
export interface Weights {
  readonly Passing: number;
  readonly Warning: number;
}

/**
 * structs.ServiceNode (catalog row) without the node columns: reads join them from the node row,
 * as `parseServiceNodes` fills in the node details.
 */
export interface ServiceRow {
  readonly Node: string;
  readonly ServiceKind: string;
  readonly ServiceID: string;
  readonly ServiceName: string;
  /** [] when registered without tags (every reply turns Go's nil into []). */
  readonly ServiceTags: readonly string[];
  readonly ServiceAddress: string;
  readonly ServiceTaggedAddresses: Readonly<Record<string, ServiceAddress>>;
  readonly ServiceWeights: Weights;
  /** null when registered without Meta (catalog replies show null). */
  readonly ServiceMeta: Readonly<Record<string, string>> | null;
  readonly ServicePort: number;
  readonly ServiceEnableTagOverride: boolean;
  /** Unix socket of the service ('' when none; older rows may lack it). */
  readonly ServiceSocketPath?: string;
  readonly ServiceLocality?: Locality | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

export interface TableRows {
  kvs: DirEntry;
  tombstones: Tombstone;
  sessions: SessionRow;
  nodes: NodeRow;
  services: ServiceRow;
  checks: CheckRow;
  /** Prepared queries by ID (the "prepared-queries" table); see state/prepared-queries.ts. */
  queries: PreparedQueryRow;
}

/** structs.PreparedQuery as stored (agent/structs/prepared_query.go). */
export interface PreparedQueryRow {
  readonly ID: string;
  readonly Name: string;
  readonly Session: string;
  readonly Token: string;
  readonly Template: { readonly Type: string; readonly Regexp: string; readonly RemoveEmptyTags: boolean };
  readonly Service: {
    readonly Service: string;
    readonly Failover: { readonly NearestN: number; readonly Datacenters: readonly string[] | null };
    readonly IgnoreCheckIDs: readonly string[] | null;
    readonly OnlyPassing: boolean;
    readonly Near: string;
    readonly Tags: readonly string[] | null;
    readonly NodeMeta: Readonly<Record<string, string>> | null;
    readonly ServiceMeta: Readonly<Record<string, string>> | null;
    readonly Connect: { readonly Enabled: boolean };
  };
  readonly DNS: { readonly TTL: string };
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

export type TableName = keyof TableRows;

export const TABLES: readonly TableName[] = ['kvs', 'tombstones', 'sessions', 'nodes', 'services', 'checks', 'queries'];

/** One changed row, as reported to blocking-query watchers after a commit. */
export interface Change {
  readonly table: TableName;
  readonly key: string;
}

/**
 * An error raised inside the state store (Consul's FSM / RPC layer). The HTTP layer answers it
 * with 500 and the message as body, as agent/http.go does for every non-HTTP error.
 */
export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateError';
  }
}

/** Go's %q for the plain strings we quote (keys, session IDs). */
export function goQuote(text: string): string {
  return JSON.stringify(text);
}

/** Composite key of the checks table: memdb indexes checks by (Node, CheckID). */
export function checkKey(node: string, checkId: string): string {
  return `${node}\u0000${checkId}`;
}

/** Composite key of the services table: memdb indexes services by (Node, ServiceID). */
export function serviceKey(node: string, serviceId: string): string {
  return `${node}\u0000${serviceId}`;
}
