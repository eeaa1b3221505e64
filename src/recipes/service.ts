/**
 * ServiceRegistration: this process registered as an instance of a service on the local agent,
 * with a health check, kept registered until `deregister()` or `Coordinator.close()`.
 *
 * Algorithm. `PUT /v1/agent/service/register` with one check: a TTL check this process
 * heartbeats, or an HTTP/TCP check the agent runs. A TTL check is registered with the initial
 * status (passing by default) and then heartbeated every ttl/3 with the last status set through
 * `setHealth()`; each heartbeat restarts Consul's TTL timer, so two heartbeats can fail before the
 * check expires. A heartbeat the agent answers with "unknown check" (404; 500 "does not have
 * associated TTL" from older agents) means the agent forgot the service — restarted without state,
 * or reaped it after `deregisterCriticalServiceAfter` — and the registration registers itself
 * again. Without a TTL check the registration asks the agent every `reconcileInterval` whether it
 * still knows the service, and registers again if not.
 *
 * Guarantee. While this object is `registered` and Consul is reachable, the agent holds the
 * service and (for TTL checks) the health last set here, refreshed within ttl/3.
 *
 * Hazards. Health is what the check says, not what the process is: a process that hangs with its
 * event loop alive keeps heartbeating. A process killed without `deregister()` stays listed until
 * its check turns critical (TTL: within ttl; HTTP/TCP: the next probe) and, with
 * `deregisterCriticalServiceAfter`, is removed after that long (at least 1 minute, checked every
 * 30 s by the agent). A failing heartbeat is retried and reported as `error`; if it keeps failing
 * past the TTL, Consul marks the check critical even though the process is fine.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import type { Coordinator } from '../coordinator.js';
import { ConfigError, IllegalStateError, abortReason } from '../errors.js';
import { optionalSignal, sleep } from '../internal/abort.js';
import { describe, formatDurationMs, toMs } from '../internal/duration.js';
import { backoffDelay } from '../loop/backoff.js';
import type { CheckStatus, ServiceCheckDefinition, ServiceDefinition } from '../transport/services.js';

/** Defaults, each with its reason. */
export const SERVICE_DEFAULTS = Object.freeze({
  /**
   * Heartbeat every ttl/3: Consul expires the check exactly at its TTL, so two more heartbeats can
   * fail (or arrive late) before it turns critical.
   */
  heartbeatFraction: 1 / 3,
  /** A process that registers is up: TTL checks start passing rather than Consul's critical. */
  initialStatus: 'passing' as CheckStatus,
  /** Agent restarts are rare; checking twice a minute costs one local GET and bounds the outage. */
  reconcileIntervalMs: 30_000,
  /** Failed heartbeats are retried soon: the TTL keeps running. */
  retryMinMs: 100,
  /** A heartbeat request may take this long at least, however short the TTL. */
  minRequestTimeoutMs: 1_000,
});

const STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];

/** The check the agent keeps on the instance. Exactly one of `ttl`, `http`, `tcp`. */
export type ServiceCheckOptions =
  | { ttl: string | number; notes?: string }
  | {
      http: string;
      interval: string | number;
      /** @default '10s' (Consul's) */
      timeout?: string | number;
      /** @default 'GET' */
      method?: string;
      header?: Record<string, string[]>;
      tlsSkipVerify?: boolean;
      notes?: string;
    }
  | { tcp: string; interval: string | number; /** @default '10s' (Consul's) */ timeout?: string | number; notes?: string };

export interface RegisterServiceOptions {
  /** Service name (what discovery looks up). Required. */
  name: string;
  /** Instance ID, unique on the agent. @default `<name>-<8 random hex digits>` */
  id?: string;
  /** Address to reach the instance. @default the node's address (Consul fills it in) */
  address?: string;
  /** @default none */
  port?: number;
  /** @default [] */
  tags?: readonly string[];
  /** @default {} */
  meta?: Readonly<Record<string, string>>;
  /** The health check. @default none: the instance always counts as passing */
  check?: ServiceCheckOptions;
  /**
   * Remove the instance once its check has been critical this long (Consul raises it to at least
   * 1 minute and reaps every 30 s). Needs `check`. @default never
   */
  deregisterCriticalServiceAfter?: string | number;
  /**
   * The TTL check's status at registration. HTTP/TCP checks start as Consul decides (critical
   * until the first probe) unless this is given. @default 'passing' for TTL checks
   */
  initialStatus?: CheckStatus;
  /** How often a registration without a TTL check verifies the agent still has it. @default '30s' */
  reconcileInterval?: string | number;
  /** Cancels the registration call (a registration that landed meanwhile is removed again). */
  signal?: AbortSignal;
}

export type ResolvedCheck =
  | { kind: 'ttl'; ttlMs: number; notes: string | undefined }
  | {
      kind: 'http';
      url: string;
      intervalMs: number;
      timeoutMs: number | undefined;
      method: string | undefined;
      header: Record<string, string[]> | undefined;
      tlsSkipVerify: boolean | undefined;
      notes: string | undefined;
    }
  | { kind: 'tcp'; address: string; intervalMs: number; timeoutMs: number | undefined; notes: string | undefined };

export interface ResolvedServiceOptions {
  name: string;
  id: string;
  address: string | undefined;
  port: number | undefined;
  tags: string[];
  meta: Record<string, string>;
  check: ResolvedCheck | undefined;
  deregisterAfterMs: number | undefined;
  initialStatus: CheckStatus | undefined;
  reconcileIntervalMs: number;
  signal: AbortSignal | undefined;
}

export type RegistrationState = 'registered' | 'reregistering' | 'deregistering' | 'deregistered';

/** ServiceRegistration events. */
export interface ServiceRegistrationEvents {
  /**
   * The agent forgot the service and it was registered again (the first registration happens
   * before `registerService()` resolves, so it is not announced).
   */
  registered: [info: { id: string; reregistered: boolean }];
  /** A TTL update (a heartbeat or `setHealth()`) succeeded: Consul's TTL timer restarted. */
  renewed: [];
  /** `deregister()` (or `close()`) finished; the agent no longer lists the instance. */
  deregistered: [];
  /** A heartbeat, presence check or re-registration failed; it is retried with backoff. */
  error: [error: unknown];
}

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigError(`option "${option}" must be a non-empty string, got ${describe(value)}`, option);
  }
  return value;
}

function resolveCheck(check: unknown): ResolvedCheck | undefined {
  if (check === undefined) return undefined;
  if (check === null || typeof check !== 'object') {
    throw new ConfigError(`option "check" must be an object, got ${describe(check)}`, 'check');
  }
  const c = check as Record<string, unknown>;
  const kinds = (['ttl', 'http', 'tcp'] as const).filter((k) => c[k] !== undefined);
  if (kinds.length !== 1) {
    throw new ConfigError(`option "check" must have exactly one of ttl, http or tcp, got ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`, 'check');
  }
  const notes = optionalString('check.notes', c.notes);
  if (kinds[0] === 'ttl') {
    if (c.interval !== undefined) throw new ConfigError('option "check.interval" cannot be combined with "check.ttl"', 'check.interval');
    return { kind: 'ttl', ttlMs: toMs('check.ttl', c.ttl, { min: 1 }), notes };
  }
  if (c.interval === undefined) {
    throw new ConfigError(`option "check.interval" is required for ${kinds[0]} checks`, 'check.interval');
  }
  const intervalMs = toMs('check.interval', c.interval, { min: 1 });
  const timeoutMs = c.timeout === undefined ? undefined : toMs('check.timeout', c.timeout, { min: 1 });
  if (kinds[0] === 'http') {
    const url = optionalString('check.http', c.http) as string;
    if (!/^https?:\/\//i.test(url)) throw new ConfigError(`option "check.http" must be an http(s) URL, got ${describe(url)}`, 'check.http');
    if (c.header !== undefined && (c.header === null || typeof c.header !== 'object')) {
      throw new ConfigError('option "check.header" must map header names to arrays of values', 'check.header');
    }
    if (c.tlsSkipVerify !== undefined && typeof c.tlsSkipVerify !== 'boolean') {
      throw new ConfigError('option "check.tlsSkipVerify" must be a boolean', 'check.tlsSkipVerify');
    }
    return {
      kind: 'http',
      url,
      intervalMs,
      timeoutMs,
      method: optionalString('check.method', c.method),
      header: c.header as Record<string, string[]> | undefined,
      tlsSkipVerify: c.tlsSkipVerify as boolean | undefined,
      notes,
    };
  }
  const address = optionalString('check.tcp', c.tcp) as string;
  if (!/^.+:\d+$/.test(address)) throw new ConfigError(`option "check.tcp" must be "host:port", got ${describe(address)}`, 'check.tcp');
  return { kind: 'tcp', address, intervalMs, timeoutMs, notes };
}

/** Validates and converts registration options synchronously; throws {@link ConfigError}. */
export function resolveServiceOptions(options: RegisterServiceOptions): ResolvedServiceOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`service options must be an object, got ${describe(options)}`, 'options');
  }
  const name = optionalString('name', options.name);
  if (name === undefined || name.includes('/')) {
    throw new ConfigError(`option "name" must be a non-empty string without '/', got ${describe(options.name)}`, 'name');
  }
  const id = optionalString('id', options.id) ?? `${name}-${randomUUID().slice(0, 8)}`;
  if (id.includes('/')) throw new ConfigError(`option "id" must not contain '/', got ${describe(id)}`, 'id');
  const address = optionalString('address', options.address);
  if (address === '0.0.0.0' || address === '::') {
    throw new ConfigError(`option "address" must be a reachable address, got ${describe(address)} (Consul refuses it)`, 'address');
  }
  const port = options.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new ConfigError(`option "port" must be an integer between 0 and 65535, got ${describe(port)}`, 'port');
  }
  const tags = options.tags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) {
    throw new ConfigError(`option "tags" must be an array of strings, got ${describe(tags)}`, 'tags');
  }
  const meta = options.meta ?? {};
  if (meta === null || typeof meta !== 'object' || Object.values(meta).some((v) => typeof v !== 'string')) {
    throw new ConfigError('option "meta" must map keys to string values', 'meta');
  }
  const check = resolveCheck(options.check);
  let deregisterAfterMs: number | undefined;
  if (options.deregisterCriticalServiceAfter !== undefined) {
    if (!check) throw new ConfigError('option "deregisterCriticalServiceAfter" needs option "check"', 'deregisterCriticalServiceAfter');
    deregisterAfterMs = toMs('deregisterCriticalServiceAfter', options.deregisterCriticalServiceAfter, { min: 1 });
  }
  const initialStatus = options.initialStatus ?? (check?.kind === 'ttl' ? SERVICE_DEFAULTS.initialStatus : undefined);
  if (initialStatus !== undefined && !STATUSES.includes(initialStatus)) {
    throw new ConfigError(`option "initialStatus" must be 'passing', 'warning' or 'critical', got ${describe(initialStatus)}`, 'initialStatus');
  }
  if (initialStatus !== undefined && check === undefined) {
    throw new ConfigError('option "initialStatus" needs option "check"', 'initialStatus');
  }
  return {
    name,
    id,
    address,
    port,
    tags: [...tags],
    meta: { ...meta },
    check,
    deregisterAfterMs,
    initialStatus,
    reconcileIntervalMs:
      options.reconcileInterval === undefined
        ? SERVICE_DEFAULTS.reconcileIntervalMs
        : toMs('reconcileInterval', options.reconcileInterval, { min: 1 }),
    signal: options.signal,
  };
}

/** The agent's check ID for the instance's one check (also Consul's default for a single check). */
export function serviceCheckId(serviceId: string): string {
  return `service:${serviceId}`;
}

/** How often a TTL check is heartbeated. */
export function heartbeatIntervalMs(ttlMs: number): number {
  return ttlMs * SERVICE_DEFAULTS.heartbeatFraction;
}

/**
 * The registration body. `status` is the check's status to register with (a TTL check's current
 * health on re-registration); Consul keeps an existing check's status regardless.
 */
export function buildServiceDefinition(o: ResolvedServiceOptions, status: CheckStatus | undefined): ServiceDefinition {
  const definition: ServiceDefinition = { ID: o.id, Name: o.name, Tags: [...o.tags], Meta: { ...o.meta } };
  if (o.address !== undefined) definition.Address = o.address;
  if (o.port !== undefined) definition.Port = o.port;
  const c = o.check;
  if (c) {
    const check: ServiceCheckDefinition = { CheckID: serviceCheckId(o.id), Name: `Service '${o.name}' check` };
    if (c.notes !== undefined) check.Notes = c.notes;
    if (status !== undefined) check.Status = status;
    if (c.kind === 'ttl') {
      check.TTL = formatDurationMs(c.ttlMs);
    } else {
      if (c.kind === 'http') {
        check.HTTP = c.url;
        if (c.method !== undefined) check.Method = c.method;
        if (c.header !== undefined) check.Header = c.header;
        if (c.tlsSkipVerify !== undefined) check.TLSSkipVerify = c.tlsSkipVerify;
      } else {
        check.TCP = c.address;
      }
      check.Interval = formatDurationMs(c.intervalMs);
      if (c.timeoutMs !== undefined) check.Timeout = formatDurationMs(c.timeoutMs);
    }
    if (o.deregisterAfterMs !== undefined) {
      // Sent as given: the agent raises it to its own floor (1 minute on a standard agent).
      check.DeregisterCriticalServiceAfter = formatDurationMs(o.deregisterAfterMs);
    }
    definition.Check = check;
  }
  return definition;
}

const ALLOWED: Record<RegistrationState, readonly RegistrationState[]> = {
  registered: ['reregistering', 'deregistering'],
  reregistering: ['registered', 'deregistering'],
  deregistering: ['deregistered'],
  deregistered: [],
};

/**
 * Registers a service instance on the local agent and keeps it registered. Options are checked
 * synchronously (throwing {@link ConfigError}); resolves once the agent has the instance.
 */
export function registerService(coord: Coordinator, options: RegisterServiceOptions): Promise<ServiceRegistration> {
  const resolved = resolveServiceOptions(options);
  coord.assertOpen();
  return ServiceRegistration.open(coord, resolved);
}

export class ServiceRegistration extends EventEmitter<ServiceRegistrationEvents> {
  /** Instance ID on the agent. */
  readonly id: string;
  /** Service name. */
  readonly name: string;
  /** The check's ID on the agent, when there is a check. */
  readonly checkId: string | undefined;

  private readonly coord: Coordinator;
  private readonly options: ResolvedServiceOptions;
  private _state: RegistrationState = 'registered';
  /** The TTL check's status and output as last set; what heartbeats repeat. */
  private health: { status: CheckStatus; note: string };
  /** Stops the maintenance loop and aborts its requests. */
  private readonly loops = new AbortController();
  private maintaining: Promise<void> | undefined;
  /** Serialises check updates and re-registrations so a heartbeat never overtakes a setHealth(). */
  private chain: Promise<unknown> = Promise.resolve();
  private deregistering: Promise<void> | undefined;
  private untrack: () => void = () => {};

  /** @internal Use {@link registerService} (or `coord.registerService`). */
  static async open(coord: Coordinator, o: ResolvedServiceOptions): Promise<ServiceRegistration> {
    optionalSignal(o.signal)?.throwIfAborted();
    await coord.api.services.register(buildServiceDefinition(o, o.initialStatus), { signal: o.signal });
    let registration: ServiceRegistration;
    try {
      registration = new ServiceRegistration(coord, o);
    } catch (err) {
      // The Coordinator closed while the registration was in flight: take the instance back out.
      await coord.api.services.deregister(o.id).catch((e: unknown) => coord.logger.warn({ service: o.id, err: String(e) }, 'could not deregister after close'));
      throw err;
    }
    if (o.signal?.aborted) {
      // Cancelled while the registration was in flight: do not leave the instance behind.
      await registration.deregister().catch((err: unknown) => coord.logger.debug({ err: String(err) }, 'cleanup after abort failed'));
      throw abortReason(o.signal);
    }
    return registration;
  }

  private constructor(coord: Coordinator, o: ResolvedServiceOptions) {
    super();
    this.coord = coord;
    this.options = o;
    this.id = o.id;
    this.name = o.name;
    this.checkId = o.check ? serviceCheckId(o.id) : undefined;
    this.health = { status: o.initialStatus ?? 'passing', note: '' };
    this.untrack = coord.track(this);
    this.maintaining = this.maintain();
  }

  /** `'registered' | 'reregistering' | 'deregistering' | 'deregistered'`. */
  get state(): RegistrationState {
    return this._state;
  }

  /**
   * Sets the TTL check's status (and its output to `note`) now; later heartbeats repeat it.
   * Rejects with {@link IllegalStateError} without a TTL check or after `deregister()`.
   */
  setHealth(status: CheckStatus, note = ''): Promise<void> {
    if (!STATUSES.includes(status)) {
      throw new ConfigError(`status must be 'passing', 'warning' or 'critical', got ${describe(status)}`, 'status');
    }
    if (typeof note !== 'string') throw new ConfigError(`note must be a string, got ${describe(note)}`, 'note');
    if (this.options.check?.kind !== 'ttl') {
      return Promise.reject(new IllegalStateError('setHealth() needs a TTL check; the agent runs HTTP and TCP checks itself', this._state));
    }
    if (this._state === 'deregistering' || this._state === 'deregistered') {
      return Promise.reject(new IllegalStateError('setHealth() after deregister()', this._state));
    }
    this.health = { status, note };
    return this.syncHealth(this.loops.signal);
  }

  /**
   * Puts the instance in (or out of) maintenance mode: Consul adds a critical maintenance check, so
   * `passingOnly` discovery drops it, without deregistering.
   */
  async setMaintenance(enabled: boolean, reason?: string): Promise<void> {
    if (this._state === 'deregistering' || this._state === 'deregistered') {
      throw new IllegalStateError('setMaintenance() after deregister()', this._state);
    }
    await this.coord.api.services.maintenance(this.id, enabled, reason, this.loops.signal);
  }

  /**
   * Stops heartbeating and removes the instance from the agent (and so from the catalog).
   * Idempotent. Rejects with the `ConsulError` when the agent could not be reached (after
   * retries): the instance then stays listed until its check fails and, with
   * `deregisterCriticalServiceAfter`, is reaped.
   */
  deregister(): Promise<void> {
    this.deregistering ??= this.teardown();
    return this.deregistering;
  }

  /** Same as {@link deregister}, so a registration is a Coordinator resource. */
  close(): Promise<void> {
    return this.deregister();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.deregister();
  }

  // ---------------------------------------------------------------------------------------------

  private transition(to: RegistrationState, reregistered = false): void {
    if (!ALLOWED[this._state].includes(to)) return;
    const from = this._state;
    this._state = to;
    this.coord.logger.debug({ service: this.id, from, to }, 'service registration state');
    if (to === 'registered') this.emit('registered', { id: this.id, reregistered });
    if (to === 'deregistered') this.emit('deregistered');
  }

  private isActive(): boolean {
    return this._state === 'registered' || this._state === 'reregistering';
  }

  /** Runs `fn` after every earlier queued update, whatever their outcome. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Sends the current TTL health; registers again if the agent no longer knows the check. */
  private syncHealth(signal: AbortSignal): Promise<void> {
    return this.serial(async () => {
      if (!this.isActive()) return;
      const { status, note } = this.health;
      const result = await this.coord.api.services.updateCheck(this.checkId as string, status, note, {
        signal,
        // The heartbeat loop retries with its own backoff; a second retry layer would only delay.
        idempotent: false,
        timeoutMs: Math.max(SERVICE_DEFAULTS.minRequestTimeoutMs, heartbeatIntervalMs((this.options.check as { ttlMs: number }).ttlMs)),
      });
      if (result === 'unknown') await this.reregister(signal);
      else this.emit('renewed');
    });
  }

  private async reregister(signal: AbortSignal): Promise<void> {
    if (!this.isActive()) return;
    this.coord.logger.info({ service: this.id }, 'agent forgot the service; registering it again');
    this.transition('reregistering');
    const status = this.options.check?.kind === 'ttl' ? this.health.status : this.options.initialStatus;
    await this.coord.api.services.register(buildServiceDefinition(this.options, status), { signal });
    if (this.options.check?.kind === 'ttl' && this.health.note !== '') {
      // The registration carries the status but not the output; restore the note too.
      await this.coord.api.services.updateCheck(this.checkId as string, this.health.status, this.health.note, { signal });
    }
    this.transition('registered', true);
  }

  /** TTL: heartbeat every ttl/3. Otherwise: check the agent still has the service, now and then. */
  private async maintain(): Promise<void> {
    const signal = this.loops.signal;
    const check = this.options.check;
    const intervalMs = check?.kind === 'ttl' ? heartbeatIntervalMs(check.ttlMs) : this.options.reconcileIntervalMs;
    const retryMaxMs = Math.max(SERVICE_DEFAULTS.retryMinMs, intervalMs / 2);
    let attempt = 0;
    let delay = intervalMs;
    while (this.isActive()) {
      try {
        // Background upkeep: it must not keep a process alive on its own.
        await sleep(delay, signal, { unref: true });
      } catch {
        return; // deregister() aborted the loop
      }
      try {
        if (check?.kind === 'ttl') {
          await this.syncHealth(signal);
        } else {
          const present = await this.serial(() => this.coord.api.services.get(this.id, signal));
          if (present === null) await this.serial(() => this.reregister(signal));
        }
        attempt = 0;
        delay = intervalMs;
      } catch (err) {
        if (signal.aborted || !this.isActive()) return;
        attempt += 1;
        this.emit('error', err);
        delay = backoffDelay(attempt, { minMs: SERVICE_DEFAULTS.retryMinMs, maxMs: retryMaxMs });
      }
    }
  }

  private async teardown(): Promise<void> {
    this.transition('deregistering');
    this.loops.abort();
    await this.maintaining;
    await this.chain;
    try {
      await this.coord.api.services.deregister(this.id);
    } finally {
      this.untrack();
      this.transition('deregistered');
    }
  }
}
