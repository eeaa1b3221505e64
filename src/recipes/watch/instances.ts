/**
 * Pure helpers of service discovery: turning `/v1/health/service` entries into instances, the
 * aggregated health status, list equality, and round-robin picking. Tested without a server.
 */
import type { HealthCheck, HealthServiceEntry } from '../../transport/health.js';

/** Aggregated health of an instance, worst first: maintenance > critical > warning > passing. */
export type HealthStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

/** One instance of a service, as discovery reports it. */
export interface ServiceInstance {
  /** Service ID (unique per agent). */
  readonly id: string;
  /** Service name. */
  readonly name: string;
  /** Node (agent) the instance is registered on. */
  readonly node: string;
  /** Datacenter of that node (another than the agent's after a failover, or with `dc`). */
  readonly datacenter: string;
  /** Address to connect to: the service address, or the node's when the service has none. */
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  /** Aggregated status over the node's and the instance's checks. */
  readonly status: HealthStatus;
  /** The checks behind `status` (ID → status). */
  readonly checks: Readonly<Record<string, string>>;
}

const RANK: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2, maintenance: 3 };

/**
 * Consul's `api/health.go:AggregatedStatus`: any maintenance check (`_node_maintenance`,
 * `_service_maintenance:*`) wins, then critical, then warning; an unknown status counts as
 * critical; no checks at all is passing.
 */
export function aggregateStatus(checks: readonly Pick<HealthCheck, 'CheckID' | 'Status'>[]): HealthStatus {
  let worst: HealthStatus = 'passing';
  for (const check of checks) {
    let status: HealthStatus;
    if (check.CheckID === '_node_maintenance' || check.CheckID.startsWith('_service_maintenance:')) status = 'maintenance';
    else if (check.Status === 'passing' || check.Status === 'warning' || check.Status === 'critical') status = check.Status;
    else status = 'critical';
    if (RANK[status] > RANK[worst]) worst = status;
  }
  return worst;
}

/** Maps health entries to instances, sorted by node then ID so lists compare and rotate stably. */
export function toInstances(entries: readonly HealthServiceEntry[]): ServiceInstance[] {
  const instances = entries.map((e): ServiceInstance => {
    const checks: Record<string, string> = {};
    for (const c of e.Checks) checks[c.CheckID] = c.Status;
    return Object.freeze({
      id: e.Service.ID,
      name: e.Service.Service,
      node: e.Node.Node,
      datacenter: e.Node.Datacenter ?? '',
      address: e.Service.Address || e.Node.Address,
      port: e.Service.Port ?? 0,
      tags: Object.freeze([...(e.Service.Tags ?? [])]),
      meta: Object.freeze({ ...(e.Service.Meta ?? {}) }),
      status: aggregateStatus(e.Checks),
      checks: Object.freeze(checks),
    });
  });
  return instances.sort((a, b) => compare(a.node, b.node) || compare(a.id, b.id));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Deep equality of two sorted instance lists (what a `change` event is decided on). */
export function sameInstances(a: readonly ServiceInstance[], b: readonly ServiceInstance[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => JSON.stringify(x) === JSON.stringify(b[i]));
}

/** Instances a caller should send traffic to: aggregated status `passing`. */
export function healthyInstances(list: readonly ServiceInstance[]): ServiceInstance[] {
  return list.filter((i) => i.status === 'passing');
}

/**
 * Round-robin over a changing list. The cursor survives list changes: it keeps counting and wraps
 * over the new length, so a refresh does not send everybody back to the first instance.
 */
export class RoundRobin {
  private cursor = 0;

  /** The next item, or undefined for an empty list. */
  next<T>(items: readonly T[]): T | undefined {
    if (items.length === 0) return undefined;
    const item = items[this.cursor % items.length];
    this.cursor = (this.cursor + 1) % Number.MAX_SAFE_INTEGER;
    return item;
  }
}
