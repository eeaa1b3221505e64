/**
 * Agent-local health checks and the TTL check runtime (agent/agent.go, agent/checks/check.go,
 * agent/local/state.go).
 *
 * The agent keeps its own copy of each check; `/v1/agent/checks` reads it. Changes reach the
 * catalog (and so bound sessions) through {@link AgentChecks.sync}, the dev server's
 * anti-entropy: it runs right after every change, as `syncChanges` does before an agent write
 * handler replies and as a status change triggers an immediate sync. Output-only changes are
 * also pushed at once (real Consul defers them by `check_update_interval`, 5 min; the spec lets
 * the dev server flush immediately). Without a leader the sync waits until one is back.
 */
import type { TimerHandle } from '../clock.js';
import type { CheckRow, CheckStatus } from '../state/types.js';

/** checks.DefaultBufSize: the default cap on a check's Output. */
export const DEFAULT_OUTPUT_MAX_SIZE = 4096;

export interface LocalCheck {
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  Interval: string;
  Timeout: string;
  Definition: Record<string, unknown>;
  /** TTL in ms for `ttl` checks. */
  ttlMs: number | undefined;
  outputMaxSize: number;
}

interface RuntimeState {
  check: LocalCheck;
  /** CheckTTL.lastOutput: kept so an expiry can quote it. */
  lastOutput: string;
  timer: TimerHandle | undefined;
}

/** What the agent needs from the server core. */
export interface AgentHost {
  readonly nodeName: string;
  readonly isLeader: boolean;
  after(ms: number, fn: () => void): TimerHandle;
  /** Writes the check to the catalog (one Raft write), or deletes it when `check` is undefined. */
  syncCheck(checkId: string, check: CheckRow | undefined): void;
  log(level: 'debug' | 'warn', message: string, fields?: Record<string, unknown>): void;
}

/** CheckTTL.SetStatus: cap the output at the limit and say how much was captured. */
export function truncateOutput(output: string, max: number): string {
  const bytes = Buffer.from(output, 'utf8');
  if (bytes.length <= max) return output;
  return `${bytes.subarray(0, max).toString('utf8')} ... (captured ${max} of ${bytes.length} bytes)`;
}

export class AgentChecks {
  private readonly checks = new Map<string, RuntimeState>();
  private readonly outOfSync = new Set<string>();

  constructor(private readonly host: AgentHost) {}

  list(): LocalCheck[] {
    return [...this.checks.keys()].sort().map((id) => this.checks.get(id)!.check);
  }

  get(id: string): LocalCheck | undefined {
    return this.checks.get(id)?.check;
  }

  /**
   * addCheckLocked: re-registering an existing ID keeps its current status and output (a
   * snapshot is restored after the add, "to avoid potential flapping"); the TTL timer restarts.
   */
  add(check: LocalCheck): void {
    const existing = this.checks.get(check.CheckID);
    if (existing) {
      existing.timer?.cancel();
      check.Status = existing.check.Status;
      check.Output = existing.check.Output;
    }
    const state: RuntimeState = { check, lastOutput: existing?.lastOutput ?? '', timer: undefined };
    this.checks.set(check.CheckID, state);
    this.armTtl(state);
    this.markChanged(check.CheckID);
  }

  remove(id: string): boolean {
    const state = this.checks.get(id);
    if (!state) return false;
    state.timer?.cancel();
    this.checks.delete(id);
    this.markChanged(id);
    return true;
  }

  /**
   * CheckTTL.SetStatus via agent.updateTTLCheck: status and (capped) output, TTL timer reset.
   * Returns false for a known check that is not a TTL check.
   */
  setTtlStatus(id: string, status: CheckStatus, output: string): boolean {
    const state = this.checks.get(id);
    if (!state || state.check.ttlMs === undefined) return false;
    const capped = truncateOutput(output, state.check.outputMaxSize);
    this.update(state, status, capped);
    state.lastOutput = capped;
    this.armTtl(state);
    return true;
  }

  /** Test hook: force any local check's status (TTL checks also get their timer reset). */
  force(id: string, status: CheckStatus, output: string): boolean {
    const state = this.checks.get(id);
    if (!state) return false;
    if (state.check.ttlMs !== undefined) return this.setTtlStatus(id, status, output);
    this.update(state, status, output);
    return true;
  }

  /** Restarts every TTL timer (agent start, or restart with kept state). */
  startTimers(): void {
    for (const state of this.checks.values()) this.armTtl(state);
  }

  stopTimers(): void {
    for (const state of this.checks.values()) {
      state.timer?.cancel();
      state.timer = undefined;
    }
  }

  /** Anti-entropy: push every out-of-sync check to the catalog, if there is a leader. */
  sync(): void {
    if (!this.host.isLeader) return;
    for (const id of [...this.outOfSync]) {
      this.outOfSync.delete(id);
      const state = this.checks.get(id);
      this.host.syncCheck(id, state ? this.toRow(state.check) : undefined);
    }
  }

  /** The catalog/agent JSON row of a local check (agent-local rows carry zero indexes). */
  toRow(check: LocalCheck): CheckRow {
    return {
      Node: this.host.nodeName,
      CheckID: check.CheckID,
      Name: check.Name,
      Status: check.Status,
      Notes: check.Notes,
      Output: check.Output,
      ServiceID: check.ServiceID,
      ServiceName: check.ServiceName,
      ServiceTags: check.ServiceTags,
      Type: check.Type,
      Interval: check.Interval,
      Timeout: check.Timeout,
      ExposedPort: 0,
      Definition: check.Definition,
      CreateIndex: 0,
      ModifyIndex: 0,
    };
  }

  private update(state: RuntimeState, status: CheckStatus, output: string): void {
    if (state.check.Status === status && state.check.Output === output) return;
    state.check.Status = status;
    state.check.Output = output;
    this.markChanged(state.check.CheckID);
  }

  private markChanged(id: string): void {
    this.outOfSync.add(id);
    this.sync();
  }

  /** CheckTTL.run: one timer per TTL; expiry marks the check critical once. */
  private armTtl(state: RuntimeState): void {
    state.timer?.cancel();
    state.timer = undefined;
    const ttl = state.check.ttlMs;
    if (ttl === undefined) return;
    state.timer = this.host.after(ttl, () => {
      state.timer = undefined;
      this.host.log('warn', 'Check missed TTL, is now critical', { check: state.check.CheckID });
      // getExpiredOutput
      const output =
        state.lastOutput === '' ? 'TTL expired' : `TTL expired (last output before timeout follows): ${state.lastOutput}`;
      this.update(state, 'critical', output);
    });
  }
}
