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
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import { ConfigError, IllegalStateError, abortReason } from '../../errors.js';
import { optionalSignal, sleep } from '../../internal/abort.js';
import { describe } from '../../internal/duration.js';
import { backoffDelay } from '../../loop/backoff.js';
import { SafeEmitter } from '../../internal/safe-emitter.js';
import { StateMachine, type MachineSpec, type Moves } from '../../internal/state-machine.js';
import type { CheckStatus } from '../../transport/services.js';
import {
  SERVICE_DEFAULTS,
  STATUSES,
  buildServiceDefinition,
  heartbeatIntervalMs,
  resolveServiceOptions,
  serviceCheckId,
  type RegisterServiceOptions,
  type ResolvedServiceOptions,
} from './options.js';

export {
  SERVICE_DEFAULTS,
  buildServiceDefinition,
  heartbeatIntervalMs,
  resolveServiceOptions,
  serviceCheckId,
  type RegisterServiceOptions,
  type ResolvedCheck,
  type ResolvedServiceOptions,
  type ServiceCheckOptions,
} from './options.js';

export type RegistrationState = 'registered' | 'reregistering' | 'deregistering' | 'deregistered';

/** ServiceRegistration events. */
export interface ServiceRegistrationEvents {
  /**
   * The agent forgot the service and it was registered again (the first registration happens
   * before `registerService()` resolves, so it is not announced). `reregistered` is therefore
   * always `true`; it is kept so the payload says why the event fired.
   */
  registered: [info: { id: string; reregistered: boolean }];
  /** A TTL update (a heartbeat or `setHealth()`) succeeded: Consul's TTL timer restarted. */
  renewed: [];
  /**
   * `deregister()` (or `close()`) finished: this object no longer heartbeats. It fires whatever
   * the outcome; when the agent could not be reached `deregister()` rejects with the
   * `ConsulError` and the instance stays listed until its check fails (and, with
   * `deregisterCriticalServiceAfter`, is reaped).
   */
  deregistered: [];
  /** A heartbeat, presence check or re-registration failed; it is retried with backoff. */
  error: [error: unknown];
}


/** Allowed moves. `deregistering` is entered when deregister() starts; nothing heartbeats after it. */
const REGISTRATION_TRANSITIONS: Moves<RegistrationState> = {
  registered: ['reregistering', 'deregistering'],
  reregistering: ['registered', 'deregistering'],
  deregistering: ['deregistered'],
  deregistered: [],
};

/**
 * Registers a service instance on the local agent and keeps it registered. Options are checked
 * synchronously (throwing {@link ConfigError}); resolves once the agent has the instance.
 */
export function registerService(host: RecipeHost, options: RegisterServiceOptions): Promise<ServiceRegistration> {
  const resolved = resolveServiceOptions(options);
  const ctx = contextOf(host);
  ctx.lifetime.assertOpen();
  return ServiceRegistration.open(ctx, resolved);
}

export class ServiceRegistration extends SafeEmitter<ServiceRegistrationEvents> {
  /** Instance ID on the agent. */
  readonly id: string;
  /** Service name. */
  readonly name: string;
  /** The check's ID on the agent, when there is a check. */
  readonly checkId: string | undefined;

  private readonly ctx: RecipeContext;
  private readonly options: ResolvedServiceOptions;
  private readonly machine: StateMachine<RegistrationState, undefined, ServiceRegistration>;

  private static readonly MACHINE: MachineSpec<RegistrationState, undefined, ServiceRegistration> = Object.freeze({
    initial: 'registered',
    moves: REGISTRATION_TRANSITIONS,
    logFields: (r: ServiceRegistration) => ({ service: r.id }),
    emit: (r: ServiceRegistration, from: RegistrationState, to: RegistrationState) => {
      // `registered` is only ever re-entered after the agent forgot the instance.
      if (to === 'registered') r.emit('registered', { id: r.id, reregistered: from === 'reregistering' });
      if (to === 'deregistered') r.emit('deregistered');
    },
  });
  /** The TTL check's status and output as last set; what heartbeats repeat. */
  private health: { status: CheckStatus; note: string };
  /** Stops the maintenance loop and aborts its requests. */
  private readonly loops = new AbortController();
  private maintaining: Promise<void> | undefined;
  /** Serialises check updates and re-registrations so a heartbeat never overtakes a setHealth(). */
  private chain: Promise<unknown> = Promise.resolve();
  private deregistering: Promise<void> | undefined;

  /** @internal Use {@link registerService} (or `coord.registerService`). */
  static async open(ctx: RecipeContext, o: ResolvedServiceOptions): Promise<ServiceRegistration> {
    optionalSignal(o.signal)?.throwIfAborted();
    await ctx.api.services.register(buildServiceDefinition(o, o.initialStatus), { signal: o.signal });
    let registration: ServiceRegistration;
    try {
      registration = new ServiceRegistration(ctx, o);
    } catch (err) {
      // The Coordinator closed while the registration was in flight: take the instance back out.
      await ctx.api.services.deregister(o.id).catch((e: unknown) => ctx.logger.warn({ service: o.id, err: String(e) }, 'could not deregister after close'));
      throw err;
    }
    if (o.signal?.aborted) {
      // Cancelled while the registration was in flight: do not leave the instance behind.
      await registration.deregister().catch((err: unknown) => ctx.logger.debug({ err: String(err) }, 'cleanup after abort failed'));
      throw abortReason(o.signal);
    }
    return registration;
  }

  private constructor(ctx: RecipeContext, o: ResolvedServiceOptions) {
    super(ctx.logger, `service registration "${o.id}"`);
    this.ctx = ctx;
    this.options = o;
    this.machine = new StateMachine<RegistrationState, undefined, ServiceRegistration>(ServiceRegistration.MACHINE, this, `service registration "${o.id}"`, ctx.logger);
    this.id = o.id;
    this.name = o.name;
    this.checkId = o.check ? serviceCheckId(o.id) : undefined;
    this.health = { status: o.initialStatus ?? 'passing', note: '' };
    ctx.lifetime.track(this);
    this.maintaining = this.maintain();
  }

  /** `'registered' | 'reregistering' | 'deregistering' | 'deregistered'`. */
  get state(): RegistrationState {
    return this.machine.state;
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
      return Promise.reject(new IllegalStateError('setHealth() needs a TTL check; the agent runs HTTP and TCP checks itself', this.machine.state));
    }
    if (this.machine.state === 'deregistering' || this.machine.state === 'deregistered') {
      return Promise.reject(new IllegalStateError('setHealth() after deregister()', this.machine.state));
    }
    this.health = { status, note };
    return this.syncHealth(this.loops.signal);
  }

  /**
   * Puts the instance in (or out of) maintenance mode: Consul adds a critical maintenance check, so
   * `passingOnly` discovery drops it, without deregistering.
   */
  async setMaintenance(enabled: boolean, reason?: string): Promise<void> {
    if (this.machine.state === 'deregistering' || this.machine.state === 'deregistered') {
      throw new IllegalStateError('setMaintenance() after deregister()', this.machine.state);
    }
    await this.ctx.api.services.maintenance(this.id, enabled, reason, this.loops.signal);
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

  private isActive(): boolean {
    return this.machine.state === 'registered' || this.machine.state === 'reregistering';
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
      const result = await this.ctx.api.services.updateCheck(this.checkId as string, status, note, {
        signal,
        // The heartbeat loop retries with its own backoff; a second retry layer would only delay.
        retry: 'none',
        timeoutMs: Math.max(SERVICE_DEFAULTS.minRequestTimeoutMs, heartbeatIntervalMs((this.options.check as { ttlMs: number }).ttlMs)),
      });
      if (result === 'unknown') await this.reregister(signal);
      else this.emit('renewed');
    });
  }

  private async reregister(signal: AbortSignal): Promise<void> {
    if (!this.isActive()) return;
    this.ctx.logger.info({ service: this.id }, 'agent forgot the service; registering it again');
    this.machine.transition('reregistering');
    const status = this.options.check?.kind === 'ttl' ? this.health.status : this.options.initialStatus;
    await this.ctx.api.services.register(buildServiceDefinition(this.options, status), { signal });
    if (this.options.check?.kind === 'ttl' && this.health.note !== '') {
      // The registration carries the status but not the output; restore the note too.
      await this.ctx.api.services.updateCheck(this.checkId as string, this.health.status, this.health.note, { signal });
    }
    // deregister() may have started while the registration was in flight: it wins.
    if (this.machine.can('registered')) this.machine.transition('registered');
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
          const present = await this.serial(() => this.ctx.api.services.get(this.id, signal, 'none'));
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
    this.machine.transition('deregistering');
    this.loops.abort();
    await this.maintaining;
    await this.chain;
    try {
      await this.ctx.api.services.deregister(this.id);
    } finally {
      this.ctx.lifetime.untrack(this);
      this.machine.transition('deregistered');
    }
  }
}
