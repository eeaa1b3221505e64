/**
 * Agent service endpoints (`/v1/agent/service/*`) and TTL check updates: what a process needs to
 * register itself, keep its check alive, and leave. These act on the local agent only; the agent
 * syncs them to the catalog before replying (anti-entropy, consul-api §7).
 */
import { ConsulError } from '../errors.js';
import type { CheckStatus } from './agent.js';
import type { ConsulTransport, RetryMode } from './client.js';

export type { CheckStatus };

/**
 * A check definition inside a service registration (`ServiceDefinition.Check`). Durations are Go
 * duration strings: the agent reads a bare number as nanoseconds.
 */
export interface ServiceCheckDefinition {
  CheckID?: string;
  Name?: string;
  Notes?: string;
  Status?: CheckStatus;
  TTL?: string;
  HTTP?: string;
  Method?: string;
  Header?: Record<string, string[]>;
  TLSSkipVerify?: boolean;
  TCP?: string;
  /** A script check's command and arguments (the agent must enable script checks). */
  Args?: string[];
  Interval?: string;
  Timeout?: string;
  DeregisterCriticalServiceAfter?: string;
}

/** Body of `PUT /v1/agent/service/register` (the fields this library sends). */
export interface ServiceDefinition {
  ID?: string;
  Name: string;
  Tags?: string[];
  Address?: string;
  Port?: number;
  Meta?: Record<string, string>;
  EnableTagOverride?: boolean;
  Check?: ServiceCheckDefinition;
  Checks?: ServiceCheckDefinition[];
}

/** A service as `/v1/agent/service/:id` returns it (fields this library reads). */
export interface AgentService {
  ID: string;
  Service: string;
  Tags: string[];
  Meta: Record<string, string>;
  Port: number;
  Address: string;
  ContentHash?: string;
}

/**
 * The answer of a TTL update: `'updated'`, or `'unknown'` when the agent does not know the check
 * as a TTL check any more (it restarted without state, reaped the service, or the ID now names a
 * check of another type). Callers recover from `'unknown'` by registering again.
 */
export type CheckUpdateResult = 'updated' | 'unknown';

/**
 * 500 texts meaning "this agent has no TTL check by that ID". Modern agents answer 404 for an
 * unknown ID; older ones answered 500 (`agent/agent.go:updateTTLCheck`).
 */
const UNKNOWN_TTL_CHECK = /does not have associated TTL|unknown check/i;

/** True for an update failure that re-registering the check would cure. */
export function isUnknownCheckError(err: unknown): boolean {
  return (
    err instanceof ConsulError &&
    (err.statusCode === 404 || (err.statusCode === 500 && UNKNOWN_TTL_CHECK.test(err.consulMessage)))
  );
}

export class Services {
  constructor(private readonly t: ConsulTransport) {}

  /**
   * Registers (or replaces) a service on the local agent. Registering the same definition again is
   * harmless (an existing check keeps its status, `agent.go:addCheckLocked`), so it is retried.
   */
  async register(
    definition: ServiceDefinition,
    opts: { replaceExistingChecks?: boolean; signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    await this.t.request({
      method: 'PUT',
      path: '/v1/agent/service/register',
      query: { 'replace-existing-checks': opts.replaceExistingChecks || undefined },
      body: definition,
      signal: opts.signal,
      retry: 'transient',
    });
  }

  /** Deregisters a service and its checks. Resolves false when the agent did not know it (404). */
  async deregister(id: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.t.request({
      method: 'PUT',
      path: `/v1/agent/service/deregister/${encodeURIComponent(id)}`,
      signal,
      retry: 'transient',
      // Already gone is the outcome we wanted.
      okStatuses: [404],
    });
    return res.status !== 404;
  }

  /** Puts a service in (or out of) maintenance mode: a critical `_service_maintenance:<id>` check. */
  async maintenance(id: string, enable: boolean, reason?: string, signal?: AbortSignal): Promise<void> {
    await this.t.request({
      method: 'PUT',
      path: `/v1/agent/service/maintenance/${encodeURIComponent(id)}`,
      query: { enable: enable ? 'true' : 'false', reason: reason || undefined },
      signal,
      retry: 'transient',
    });
  }

  /**
   * Reads one local service; null when the agent does not know the ID. A reconcile loop with
   * retries of its own passes `retry: 'none'`.
   */
  async get(id: string, signal?: AbortSignal, retry: RetryMode = 'transient'): Promise<AgentService | null> {
    const res = await this.t.request({
      method: 'GET',
      path: `/v1/agent/service/${encodeURIComponent(id)}`,
      signal,
      retry,
      okStatuses: [404],
    });
    if (res.status === 404) return null;
    return JSON.parse(res.body.toString('utf8')) as AgentService;
  }

  /**
   * Sets a TTL check's status and output (`PUT /v1/agent/check/update/:id`), which also restarts
   * its TTL timer. Resolves `'unknown'` instead of throwing when the agent no longer has the check
   * as a TTL check. `retry: 'none'` lets a caller with its own retry loop (a heartbeat) avoid a
   * second layer of retries.
   */
  async updateCheck(
    checkId: string,
    status: CheckStatus,
    output: string,
    opts: { signal?: AbortSignal | undefined; timeoutMs?: number; retry?: RetryMode } = {},
  ): Promise<CheckUpdateResult> {
    try {
      await this.t.request({
        method: 'PUT',
        path: `/v1/agent/check/update/${encodeURIComponent(checkId)}`,
        body: { Status: status, Output: output },
        signal: opts.signal,
        timeoutMs: opts.timeoutMs,
        retry: opts.retry ?? 'transient',
      });
      return 'updated';
    } catch (err) {
      if (isUnknownCheckError(err)) return 'unknown';
      throw err;
    }
  }
}
