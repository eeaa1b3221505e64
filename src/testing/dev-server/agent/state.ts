/**
 * The agent's local state (agent/local/state.go) and what runs on it (agent/agent.go):
 * services and checks registered on this agent, the check runners, maintenance mode, the
 * critical-service reaper, and anti-entropy towards the catalog.
 *
 * `/v1/agent/*` reads this state. Changes reach the catalog (and so bound sessions) through
 * {@link Agent.sync}, which runs right after every change: before an agent write handler replies
 * (`syncChanges`), and at once for a background status change (TTL expiry, probe results,
 * reaping). Services go first, each in one write together with its out-of-sync checks
 * (`syncService` sends them in one Catalog.Register); the remaining checks follow one write each.
 * Output-only changes are pushed at once too (Consul defers them by `check_update_interval`; the
 * spec lets the dev server flush immediately). Without a leader the sync waits until one is back.
 */
import type { TimerHandle } from '../clock.js';
import type { CheckRow, CheckStatus, Locality, ServiceAddress, ServiceRow, Weights } from '../state/types.js';
import {
  type LocalCheck,
  type ProbeResult,
  StatusHandler,
  probeHttp,
  probeTcp,
  truncateOutput,
  ttlExpiredOutput,
} from './checks.js';
import { probeScript } from './script-checks.js';

export type { LocalCheck } from './checks.js';

/** structs.NodeService as the agent keeps it. */
export interface LocalService {
  Kind: string;
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  TaggedAddresses: Record<string, ServiceAddress>;
  Meta: Record<string, string> | null;
  Port: number;
  Weights: Weights;
  EnableTagOverride: boolean;
  /** '' when the service listens on no Unix socket. */
  SocketPath?: string;
  Locality?: Locality | null;
}

/** structs.NodeMaint / ServiceMaintPrefix and the default reasons (agent/agent.go). */
export const NODE_MAINT_CHECK_ID = '_node_maintenance';
export const SERVICE_MAINT_PREFIX = '_service_maintenance:';
const DEFAULT_NODE_MAINT_REASON = 'Maintenance mode is enabled for this node, but no reason was provided. This is a default message.';
const DEFAULT_SERVICE_MAINT_REASON = 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

interface CheckState {
  check: LocalCheck;
  /** CheckTTL's last output, quoted by the expiry text. */
  lastOutput: string;
  timer: TimerHandle | undefined;
  probe: AbortController | undefined;
  handler: StatusHandler;
  /** CheckState.CriticalTime: set by the first critical update, cleared by any other. */
  criticalSince: number | undefined;
  /** Bumped when the runner stops, so late probe results are dropped. */
  generation: number;
}

/** What the agent needs from the server core. */
export interface AgentHost {
  readonly nodeName: string;
  readonly isLeader: boolean;
  /** `check_reap_interval`. */
  readonly reapIntervalMs: number;
  after(ms: number, fn: () => void): TimerHandle;
  /** One Raft write: the service and the given checks (Catalog.Register). */
  syncService(service: Omit<ServiceRow, 'CreateIndex' | 'ModifyIndex'>, checks: CheckRow[]): void;
  /** One Raft write: the service and its checks leave the catalog (Catalog.Deregister). */
  deleteService(serviceId: string): void;
  /** One Raft write: a node-level check, or the removal of any check (`check` undefined). */
  syncCheck(checkId: string, check: CheckRow | undefined): void;
  log(level: 'debug' | 'info' | 'warn', message: string, fields?: Record<string, unknown>): void;
}

export class Agent {
  private readonly services = new Map<string, LocalService>();
  private readonly checks = new Map<string, CheckState>();
  private readonly servicesOutOfSync = new Set<string>();
  private readonly checksOutOfSync = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private running = false;
  private startedAt = Date.now();
  private reapTimer: TimerHandle | undefined;

  constructor(private readonly host: AgentHost) {}

  // ---- reads --------------------------------------------------------------------------------

  listServices(): LocalService[] {
    return [...this.services.keys()].sort().map((id) => this.services.get(id)!);
  }

  getService(id: string): LocalService | undefined {
    return this.services.get(id);
  }

  list(): LocalCheck[] {
    return [...this.checks.keys()].sort().map((id) => this.checks.get(id)!.check);
  }

  get(id: string): LocalCheck | undefined {
    return this.checks.get(id)?.check;
  }

  /** State.ChecksForService: the service's checks, plus the node-level ones when asked. */
  checksForService(serviceId: string, includeNodeChecks: boolean): LocalCheck[] {
    return this.list().filter((c) => c.ServiceID === serviceId || (includeNodeChecks && c.ServiceID === ''));
  }

  /** Called after every local change (the service WatchCh of agent-local blocking queries). */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- services -----------------------------------------------------------------------------

  /**
   * addServiceInternal: stores the service and its checks. A check whose ID already exists keeps
   * its status and output (the snapshot restore). With `replaceExistingChecks`, the service's
   * checks that are not in the new definition are removed.
   */
  addService(service: LocalService, checks: LocalCheck[], replaceExistingChecks: boolean): void {
    const previous = new Set(this.checksForService(service.ID, false).map((c) => c.CheckID));
    this.services.set(service.ID, service);
    this.servicesOutOfSync.add(service.ID);
    for (const check of checks) {
      const existing = this.checks.get(check.CheckID);
      if (existing) {
        check.Status = existing.check.Status;
        check.Output = existing.check.Output;
      }
      this.install(check, existing, undefined);
      previous.delete(check.CheckID);
    }
    if (replaceExistingChecks) for (const id of previous) this.dropCheck(id);
    this.changed();
  }

  /** removeServiceLocked: the service and every check bound to it. False when unknown. */
  removeService(id: string): boolean {
    if (!this.services.has(id)) return false;
    for (const c of this.checksForService(id, false)) {
      this.dropCheck(c.CheckID);
      // The catalog deregistration of the service removes its checks too (pruneCheck).
      this.checksOutOfSync.delete(c.CheckID);
    }
    this.services.delete(id);
    this.servicesOutOfSync.add(id);
    this.changed();
    return true;
  }

  /**
   * updateSyncState for a service whose catalog entry was changed by someone else: with
   * EnableTagOverride the agent takes the catalog's tags instead of restoring its own. Returns
   * whether the local service took them.
   */
  adoptCatalogTags(serviceId: string, tags: readonly string[]): boolean {
    const service = this.services.get(serviceId);
    if (!service || !service.EnableTagOverride) return false;
    this.services.set(serviceId, { ...service, Tags: [...tags] });
    for (const c of this.checksForService(serviceId, false)) c.ServiceTags = [...tags];
    for (const listener of [...this.listeners]) listener();
    return true;
  }

  // ---- checks -------------------------------------------------------------------------------

  /**
   * addCheckLocked: re-registering an existing ID keeps its current status and output (a
   * snapshot is restored after the add, "to avoid potential flapping"); the runner restarts.
   */
  add(check: LocalCheck): void {
    const existing = this.checks.get(check.CheckID);
    let criticalSince: number | undefined;
    if (existing) {
      check.Status = existing.check.Status;
      check.Output = existing.check.Output;
      // The restore goes through UpdateCheck, which starts the critical clock afresh.
      if (check.Status === 'critical') criticalSince = Date.now();
    }
    this.install(check, existing, criticalSince);
    this.changed();
  }

  remove(id: string): boolean {
    if (!this.checks.has(id)) return false;
    this.dropCheck(id);
    this.changed();
    return true;
  }

  /**
   * CheckTTL.SetStatus via agent.updateTTLCheck: status and (capped) output, TTL timer reset.
   * Returns false for a known check that is not a TTL check.
   */
  setTtlStatus(id: string, status: CheckStatus, output: string): boolean {
    const state = this.checks.get(id);
    if (!state || state.check.runtime.kind !== 'ttl') return false;
    const capped = truncateOutput(output, state.check.outputMaxSize);
    state.lastOutput = capped;
    this.armTtl(state);
    this.update(state, status, capped);
    return true;
  }

  /** Test hook: force any local check's status (TTL checks also get their timer reset). */
  force(id: string, status: CheckStatus, output: string): boolean {
    const state = this.checks.get(id);
    if (!state) return false;
    if (state.check.runtime.kind === 'ttl') return this.setTtlStatus(id, status, output);
    this.update(state, status, output);
    return true;
  }

  // ---- maintenance --------------------------------------------------------------------------

  /** EnableServiceMaintenance: a critical `_service_maintenance:<id>` check; a no-op when present. */
  enableServiceMaintenance(serviceId: string, reason: string): boolean {
    const service = this.services.get(serviceId);
    if (!service) return false;
    const id = `${SERVICE_MAINT_PREFIX}${serviceId}`;
    if (this.checks.has(id)) return true;
    this.add(
      maintenanceCheck(id, 'Service Maintenance Mode', reason === '' ? DEFAULT_SERVICE_MAINT_REASON : reason, service),
    );
    this.host.log('info', 'Service entered maintenance mode', { service: serviceId });
    return true;
  }

  disableServiceMaintenance(serviceId: string): boolean {
    if (!this.services.has(serviceId)) return false;
    const id = `${SERVICE_MAINT_PREFIX}${serviceId}`;
    if (this.checks.has(id)) this.remove(id);
    return true;
  }

  /** EnableNodeMaintenance: a critical node-level `_node_maintenance` check. */
  enableNodeMaintenance(reason: string): void {
    if (this.checks.has(NODE_MAINT_CHECK_ID)) return;
    this.add(maintenanceCheck(NODE_MAINT_CHECK_ID, 'Node Maintenance Mode', reason === '' ? DEFAULT_NODE_MAINT_REASON : reason, undefined));
  }

  disableNodeMaintenance(): void {
    if (this.checks.has(NODE_MAINT_CHECK_ID)) this.remove(NODE_MAINT_CHECK_ID);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Starts every runner (agent start, or restart with kept state) and the reaper. */
  startTimers(): void {
    this.running = true;
    this.startedAt = Date.now();
    for (const state of this.checks.values()) this.startRunner(state);
    this.scheduleReap();
  }

  stopTimers(): void {
    this.running = false;
    for (const state of this.checks.values()) this.stopRunner(state);
    this.reapTimer?.cancel();
    this.reapTimer = undefined;
  }

  /** Anti-entropy: push every out-of-sync service and check to the catalog, if there is a leader. */
  sync(): void {
    if (!this.host.isLeader) return;
    for (const id of [...this.servicesOutOfSync].sort()) {
      this.servicesOutOfSync.delete(id);
      const service = this.services.get(id);
      if (!service) {
        this.host.deleteService(id);
        continue;
      }
      const checks: CheckRow[] = [];
      for (const c of this.checksForService(id, false)) {
        if (!this.checksOutOfSync.delete(c.CheckID)) continue;
        checks.push(this.toRow(c));
      }
      this.host.syncService(this.toServiceRow(service), checks);
    }
    for (const id of [...this.checksOutOfSync].sort()) {
      this.checksOutOfSync.delete(id);
      const state = this.checks.get(id);
      if (!state) {
        this.host.syncCheck(id, undefined);
        continue;
      }
      const service = state.check.ServiceID === '' ? undefined : this.services.get(state.check.ServiceID);
      // syncCheck sends the check's service along with it.
      if (service) this.host.syncService(this.toServiceRow(service), [this.toRow(state.check)]);
      else this.host.syncCheck(id, this.toRow(state.check));
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

  toServiceRow(s: LocalService): Omit<ServiceRow, 'CreateIndex' | 'ModifyIndex'> {
    return {
      Node: this.host.nodeName,
      ServiceKind: s.Kind,
      ServiceID: s.ID,
      ServiceName: s.Service,
      ServiceTags: s.Tags,
      ServiceAddress: s.Address,
      ServiceTaggedAddresses: s.TaggedAddresses,
      ServiceWeights: s.Weights,
      ServiceMeta: s.Meta,
      ServicePort: s.Port,
      ServiceEnableTagOverride: s.EnableTagOverride,
      ServiceSocketPath: s.SocketPath ?? '',
      ServiceLocality: s.Locality ?? null,
    };
  }

  // ---- internals ----------------------------------------------------------------------------

  private install(check: LocalCheck, existing: CheckState | undefined, criticalSince: number | undefined): void {
    if (existing) this.stopRunner(existing);
    const state: CheckState = {
      check,
      lastOutput: existing?.lastOutput ?? '',
      timer: undefined,
      probe: undefined,
      handler: new StatusHandler(check.thresholds),
      criticalSince,
      generation: (existing?.generation ?? 0) + 1,
    };
    this.checks.set(check.CheckID, state);
    this.checksOutOfSync.add(check.CheckID);
    if (this.running) this.startRunner(state);
    this.scheduleReap();
  }

  private dropCheck(id: string): void {
    const state = this.checks.get(id);
    if (!state) return;
    this.stopRunner(state);
    this.checks.delete(id);
    this.checksOutOfSync.add(id);
  }

  private changed(): void {
    this.sync();
    for (const listener of [...this.listeners]) listener();
  }

  /** State.UpdateCheck: tracks the critical time, ignores no-op updates, syncs a change. */
  private update(state: CheckState, status: CheckStatus, output: string): void {
    if (status === 'critical') state.criticalSince ??= Date.now();
    else state.criticalSince = undefined;
    if (state.check.Status === status && state.check.Output === output) return;
    state.check.Status = status;
    state.check.Output = output;
    this.checksOutOfSync.add(state.check.CheckID);
    this.changed();
  }

  private startRunner(state: CheckState): void {
    const rt = state.check.runtime;
    if (rt.kind === 'ttl') this.armTtl(state);
    else if (rt.kind === 'http' || rt.kind === 'tcp' || rt.kind === 'script') {
      // lib.RandomStagger: the first probe comes after a random delay in [0, interval).
      this.scheduleProbe(state, Math.random() * rt.intervalMs);
    }
  }

  private stopRunner(state: CheckState): void {
    state.generation += 1;
    state.timer?.cancel();
    state.timer = undefined;
    state.probe?.abort();
    state.probe = undefined;
  }

  /** CheckTTL.run: one timer per TTL; expiry marks the check critical once. */
  private armTtl(state: CheckState): void {
    state.timer?.cancel();
    state.timer = undefined;
    const rt = state.check.runtime;
    if (rt.kind !== 'ttl' || !this.running) return;
    state.timer = this.host.after(rt.ttlMs, () => {
      state.timer = undefined;
      this.host.log('warn', 'Check missed TTL, is now critical', { check: state.check.CheckID });
      this.update(state, 'critical', ttlExpiredOutput(state.lastOutput));
    });
  }

  /** CheckHTTP.run / CheckTCP.run / CheckMonitor.run: probe, report through the StatusHandler, wait an interval. */
  private scheduleProbe(state: CheckState, delayMs: number): void {
    const rt = state.check.runtime;
    if (rt.kind !== 'http' && rt.kind !== 'tcp' && rt.kind !== 'script') return;
    const generation = state.generation;
    state.timer = this.host.after(delayMs, () => {
      state.timer = undefined;
      if (state.generation !== generation) return;
      const controller = new AbortController();
      state.probe = controller;
      const run: Promise<ProbeResult> =
        rt.kind === 'http'
          ? probeHttp(rt, state.check.outputMaxSize, controller.signal)
          : rt.kind === 'script'
            ? probeScript(rt, state.check.outputMaxSize, controller.signal)
            : probeTcp(rt, controller.signal);
      void run.then((result) => {
        if (state.generation !== generation) return;
        state.probe = undefined;
        // Applied through the server clock: a paused agent reports nothing until it resumes.
        state.timer = this.host.after(0, () => {
          state.timer = undefined;
          if (state.generation !== generation) return;
          const status = state.handler.next(result.status);
          if (status !== undefined) this.update(state, status, result.output);
          this.scheduleProbe(state, rt.intervalMs);
        });
      });
    });
  }

  /**
   * reapServices: every `check_reap_interval` since the agent started, remove each service one
   * of whose checks has been critical (continuously) for longer than its
   * DeregisterCriticalServiceAfter. The timer only runs while some check has such a limit.
   */
  private scheduleReap(): void {
    if (this.reapTimer || !this.running) return;
    if (![...this.checks.values()].some((s) => s.check.reapAfterMs > 0 && s.check.ServiceID !== '')) return;
    const interval = this.host.reapIntervalMs;
    const next = interval - ((Date.now() - this.startedAt) % interval);
    this.reapTimer = this.host.after(next, () => {
      this.reapTimer = undefined;
      this.reap();
      this.scheduleReap();
    });
  }

  private reap(): void {
    const now = Date.now();
    const reaped = new Set<string>();
    for (const state of [...this.checks.values()]) {
      const { ServiceID, reapAfterMs, CheckID } = state.check;
      if (ServiceID === '' || reaped.has(ServiceID) || reapAfterMs <= 0 || state.criticalSince === undefined) continue;
      if (now - state.criticalSince > reapAfterMs) {
        reaped.add(ServiceID);
        this.host.log('info', 'Check has been critical for too long; deregistered service', { check: CheckID, service: ServiceID });
        this.removeService(ServiceID);
      }
    }
  }
}

function maintenanceCheck(id: string, name: string, notes: string, service: LocalService | undefined): LocalCheck {
  return {
    CheckID: id,
    Name: name,
    Status: 'critical',
    Notes: notes,
    Output: '',
    ServiceID: service?.ID ?? '',
    ServiceName: service?.Service ?? '',
    ServiceTags: service ? [...service.Tags] : [],
    Type: 'maintenance',
    Interval: '',
    Timeout: '',
    Definition: {},
    runtime: { kind: 'none' },
    outputMaxSize: 4096,
    thresholds: { successBeforePassing: 0, failuresBeforeWarning: 0, failuresBeforeCritical: 0 },
    reapAfterMs: 0,
  };
}
