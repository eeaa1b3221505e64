/**
 * Catalog nodes, services and health checks, after agent/consul/state/catalog.go.
 *
 * Indexes, as Consul keeps them in memdb's "index" table:
 * - per table (`nodes`, `services`, `checks`), raised by every write that touches the table;
 * - `service.<name>`, raised whenever an instance of that service, one of its checks, or a
 *   node-level check of its node changes (`catalogUpdateServiceIndexes`,
 *   `updateAllServiceIndexesOfNode`), and deleted when the last instance goes;
 * - `service_last_extinction`, the index at which some service lost its last instance
 *   (`catalogUpdateServiceExtinctionIndex`); reads of a service with no instance report it.
 */
import { nodeSessions, sessionDestroy, sessionsForCheck } from './sessions.js';
import type { ReadTx, WriteTx } from './store.js';
import { type CheckRow, type NodeRow, type ServiceRow, StateError, checkKey, serviceKey } from './types.js';

const EXTINCTION_INDEX = 'service_last_extinction';

function serviceIndexName(name: string): string {
  return `service.${name}`;
}

/** ensureNodeTxn (simplified: the dev server registers only its own node). */
export function ensureNode(tx: WriteTx, node: Omit<NodeRow, 'CreateIndex' | 'ModifyIndex'>): NodeRow {
  const existing = tx.get('nodes', node.Node);
  const row: NodeRow = { ...node, CreateIndex: existing?.CreateIndex ?? tx.index, ModifyIndex: tx.index };
  tx.put('nodes', row.Node, row);
  bumpAllServiceIndexesOfNode(tx, row.Node);
  return row;
}

/** Services registered on a node, in ServiceID order. */
export function servicesOfNode(tx: ReadTx, node: string): ServiceRow[] {
  return tx.prefix('services', `${node}\u0000`);
}

/** updateAllServiceIndexesOfNode: a node-level change touches every service of the node. */
function bumpAllServiceIndexesOfNode(tx: WriteTx, node: string): void {
  for (const s of servicesOfNode(tx, node)) tx.bumpNamedIndex(serviceIndexName(s.ServiceName));
}

type ServiceInput = Omit<ServiceRow, 'CreateIndex' | 'ModifyIndex'>;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** ServiceNode.IsSameService: every field but the indexes. */
function sameService(a: ServiceRow, b: ServiceInput): boolean {
  return (
    a.ServiceKind === b.ServiceKind &&
    a.ServiceID === b.ServiceID &&
    a.ServiceName === b.ServiceName &&
    a.ServiceAddress === b.ServiceAddress &&
    a.ServicePort === b.ServicePort &&
    a.ServiceEnableTagOverride === b.ServiceEnableTagOverride &&
    (a.ServiceSocketPath ?? '') === (b.ServiceSocketPath ?? '') &&
    sameJson(a.ServiceLocality ?? null, b.ServiceLocality ?? null) &&
    sameJson(a.ServiceTags, b.ServiceTags) &&
    sameJson(a.ServiceTaggedAddresses, b.ServiceTaggedAddresses) &&
    sameJson(a.ServiceWeights, b.ServiceWeights) &&
    sameJson(a.ServiceMeta, b.ServiceMeta)
  );
}

/**
 * ensureServiceTxn: the node must exist; an unchanged service is not rewritten; a changed one
 * keeps its CreateIndex and raises `service.<name>` (and the services table index).
 */
export function ensureService(tx: WriteTx, service: ServiceInput): ServiceRow {
  if (!tx.get('nodes', service.Node)) throw new StateError('Missing node registration');
  const key = serviceKey(service.Node, service.ServiceID);
  const existing = tx.get('services', key);
  if (existing && sameService(existing, service)) return existing;
  const row: ServiceRow = { ...service, CreateIndex: existing?.CreateIndex ?? tx.index, ModifyIndex: tx.index };
  tx.put('services', key, row);
  tx.bumpNamedIndex(serviceIndexName(row.ServiceName));
  // Renaming an instance may leave its old name without instances.
  if (existing && existing.ServiceName !== row.ServiceName) afterInstanceGone(tx, existing.ServiceName);
  return row;
}

/** The index bookkeeping of deleteServiceTxn once an instance of `name` is gone. */
function afterInstanceGone(tx: WriteTx, name: string): void {
  const remaining = tx.all('services').some((s) => s.ServiceName === name);
  if (remaining) {
    tx.bumpNamedIndex(serviceIndexName(name));
  } else {
    tx.deleteNamedIndex(serviceIndexName(name));
    tx.bumpNamedIndex(EXTINCTION_INDEX);
  }
}

/**
 * deleteServiceTxn: removes the service's checks (each invalidating the sessions bound to it),
 * then the service. Returns false when the service did not exist.
 */
export function deleteService(tx: WriteTx, node: string, serviceId: string, tombstoneTtlMs: number): boolean {
  const key = serviceKey(node, serviceId);
  const existing = tx.get('services', key);
  if (!existing) return false;
  for (const c of nodeChecks(tx, node)) {
    if (c.ServiceID === serviceId) deleteCheck(tx, node, c.CheckID, tombstoneTtlMs);
  }
  tx.delete('services', key);
  afterInstanceGone(tx, existing.ServiceName);
  return true;
}

function sameCheck(a: CheckRow, b: Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'>): boolean {
  return (
    a.Name === b.Name &&
    a.Status === b.Status &&
    a.Notes === b.Notes &&
    a.Output === b.Output &&
    a.ServiceID === b.ServiceID &&
    a.ServiceName === b.ServiceName &&
    a.Type === b.Type &&
    a.Interval === b.Interval &&
    a.Timeout === b.Timeout &&
    a.ServiceTags.join('\u0000') === b.ServiceTags.join('\u0000') &&
    sameJson(a.Definition, b.Definition)
  );
}

/**
 * ensureCheckTxn: a service check takes its ServiceName and ServiceTags from the catalog service
 * (`Missing service registration` without one); an unchanged check is not rewritten; a changed
 * one keeps its CreateIndex and raises the index of its service (or, for a node-level check, of
 * every service on the node). When it is written as critical every session linked to it is
 * invalidated in the same write (checkSessionsTxn → deleteSessionTxn). `warning` does not
 * invalidate.
 */
export function ensureCheck(tx: WriteTx, input: Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'>, tombstoneTtlMs: number): void {
  if (!tx.get('nodes', input.Node)) throw new StateError('Missing node registration');
  let check = input;
  let serviceName: string | undefined;
  if (check.ServiceID !== '') {
    const service = tx.get('services', serviceKey(check.Node, check.ServiceID));
    if (!service) throw new StateError('Missing service registration');
    serviceName = service.ServiceName;
    check = { ...check, ServiceName: service.ServiceName, ServiceTags: service.ServiceTags };
  }
  const key = checkKey(check.Node, check.CheckID);
  const existing = tx.get('checks', key);
  if (existing && sameCheck(existing, check)) return;
  tx.put('checks', key, { ...check, CreateIndex: existing?.CreateIndex ?? tx.index, ModifyIndex: tx.index });
  if (serviceName !== undefined) tx.bumpNamedIndex(serviceIndexName(serviceName));
  else bumpAllServiceIndexesOfNode(tx, check.Node);
  if (check.Status === 'critical') {
    for (const s of sessionsForCheck(tx, check.Node, check.CheckID)) sessionDestroy(tx, s.ID, tombstoneTtlMs);
  }
}

/** deleteCheckTxn: removes the check, raises the affected service indexes, invalidates sessions. */
export function deleteCheck(tx: WriteTx, node: string, checkId: string, tombstoneTtlMs: number): void {
  const key = checkKey(node, checkId);
  const existing = tx.get('checks', key);
  if (!existing) return;
  tx.delete('checks', key);
  if (existing.ServiceID !== '') {
    const service = tx.get('services', serviceKey(node, existing.ServiceID));
    if (service) tx.bumpNamedIndex(serviceIndexName(service.ServiceName));
  } else {
    bumpAllServiceIndexesOfNode(tx, node);
  }
  for (const s of sessionsForCheck(tx, node, checkId)) sessionDestroy(tx, s.ID, tombstoneTtlMs);
}

// ---- reads ------------------------------------------------------------------------------------

/** Checks of a node, in CheckID order. */
export function nodeChecks(tx: ReadTx, node: string): CheckRow[] {
  return tx.prefix('checks', `${node}\u0000`);
}

export function checksInState(tx: ReadTx, state: string): CheckRow[] {
  return tx.all('checks').filter((c) => state === 'any' || c.Status === state);
}

/** The index health check reads report: the checks table index (catalog.go `catalogChecksMaxIndex`). */
export function checksIndex(tx: ReadTx): number {
  return tx.tableIndex('checks');
}

/** catalogMaxIndex: nodes and services, plus checks when asked. */
export function catalogMaxIndex(tx: ReadTx, checks: boolean): number {
  const idx = Math.max(tx.tableIndex('nodes'), tx.tableIndex('services'));
  return checks ? Math.max(idx, tx.tableIndex('checks')) : idx;
}

/**
 * maxIndexForService: a service with no instance reports the last extinction index (when some
 * service ever went extinct); otherwise its own `service.<name>` index; failing both, the catalog
 * index.
 */
export function maxIndexForService(tx: ReadTx, name: string, exists: boolean, checks: boolean): number {
  if (!exists) {
    const extinct = tx.namedIndex(EXTINCTION_INDEX);
    if (extinct !== undefined) return extinct;
  }
  return tx.namedIndex(serviceIndexName(name)) ?? catalogMaxIndex(tx, checks);
}

/** serviceTagsFilter: true when the instance lacks one of the tags (compared lower-cased). */
export function lacksTags(service: ServiceRow, tags: readonly string[]): boolean {
  const have = new Set(service.ServiceTags.map((t) => t.toLowerCase()));
  return tags.some((t) => !have.has(t.toLowerCase()));
}

/** Services(): every service name with the union of its instances' tags; the services table index. */
export function catalogServices(tx: ReadTx): { index: number; services: Map<string, string[]> } {
  const services = new Map<string, string[]>();
  for (const s of tx.all('services')) {
    let tags = services.get(s.ServiceName);
    if (!tags) {
      tags = [];
      services.set(s.ServiceName, tags);
    }
    for (const t of s.ServiceTags) if (!tags.includes(t)) tags.push(t);
  }
  return { index: tx.tableIndex('services'), services };
}

/** Instances of a service, in (Node, ServiceID) order. */
function instancesOf(tx: ReadTx, name: string): ServiceRow[] {
  return tx.all('services').filter((s) => s.ServiceName === name);
}

/**
 * ServiceNodes / ServiceTagNodes: the instances (tag-filtered when tags are given) and the index,
 * which depends on whether the service has any instance before the tag filter.
 */
export function serviceNodes(tx: ReadTx, name: string, tags: readonly string[] | undefined, checks: boolean): { index: number; services: ServiceRow[] } {
  const all = instancesOf(tx, name);
  const services = tags === undefined ? all : all.filter((s) => !lacksTags(s, tags));
  return { index: maxIndexForService(tx, name, all.length > 0, checks), services };
}

/** parseCheckServiceNodes: node-level checks first, then the instance's own, each in CheckID order. */
export function checksForInstance(tx: ReadTx, service: ServiceRow): CheckRow[] {
  const checks = nodeChecks(tx, service.Node);
  return [...checks.filter((c) => c.ServiceID === ''), ...checks.filter((c) => c.ServiceID === service.ServiceID)];
}

/** serviceChecksTxn: checks bound to instances of the service name; the checks table index. */
export function serviceChecks(tx: ReadTx, name: string): CheckRow[] {
  return tx.all('checks').filter((c) => c.ServiceID !== '' && c.ServiceName === name);
}

/** nodeServicesTxn: the node (undefined when unknown) and its services; nodes + services index. */
export function nodeServices(tx: ReadTx, node: string): { index: number; node: NodeRow | undefined; services: ServiceRow[] } {
  const row = tx.get('nodes', node);
  return { index: catalogMaxIndex(tx, false), node: row, services: row ? servicesOfNode(tx, node) : [] };
}

// ---- catalog registration (Catalog.Register / Catalog.Deregister) -----------------------------

/** structs.RegisterRequest after the endpoint's pre-apply steps. */
export interface RegistrationInput {
  readonly node: Omit<NodeRow, 'CreateIndex' | 'ModifyIndex'>;
  readonly skipNodeUpdate: boolean;
  readonly service: Omit<ServiceRow, 'CreateIndex' | 'ModifyIndex'> | undefined;
  readonly checks: readonly Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'>[];
}

function sameNode(a: NodeRow, b: RegistrationInput['node']): boolean {
  return (
    a.ID === b.ID &&
    a.Address === b.Address &&
    a.Datacenter === b.Datacenter &&
    sameJson(a.TaggedAddresses, b.TaggedAddresses) &&
    sameJson(a.Meta, b.Meta) &&
    sameJson(a.Locality ?? null, b.Locality ?? null)
  );
}

/**
 * ensureRegistrationTxn: the node (unless SkipNodeUpdate, and only when it changed), then the
 * service, then each check, in one write. A node ID held by another node name renames that node:
 * the old entry and everything on it go first (ensureNodeTxn, "renaming Node ID").
 */
export function ensureRegistration(tx: WriteTx, req: RegistrationInput, tombstoneTtlMs: number): void {
  if (!req.skipNodeUpdate) {
    if (req.node.ID !== '') {
      const id = req.node.ID.toLowerCase();
      const owner = tx.all('nodes').find((n) => n.ID.toLowerCase() === id && n.Node !== req.node.Node);
      if (owner) deleteNode(tx, owner.Node, tombstoneTtlMs);
    }
    const existing = tx.get('nodes', req.node.Node);
    if (!existing || !sameNode(existing, req.node)) ensureNode(tx, req.node);
  }
  if (req.service) ensureService(tx, req.service);
  for (const check of req.checks) ensureCheck(tx, check, tombstoneTtlMs);
}

/**
 * deleteNodeTxn: the node's checks (invalidating their sessions), services, the node itself and
 * every session on it. Returns false when the node did not exist.
 */
export function deleteNode(tx: WriteTx, node: string, tombstoneTtlMs: number): boolean {
  if (!tx.get('nodes', node)) return false;
  for (const c of nodeChecks(tx, node)) deleteCheck(tx, node, c.CheckID, tombstoneTtlMs);
  for (const s of servicesOfNode(tx, node)) deleteService(tx, node, s.ServiceID, tombstoneTtlMs);
  tx.delete('nodes', node);
  for (const s of nodeSessions(tx, node)) sessionDestroy(tx, s.ID, tombstoneTtlMs);
  return true;
}
