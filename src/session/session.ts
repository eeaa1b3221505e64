/**
 * Session: a Consul session kept alive by periodic renewal — the liveness every lock, permit and
 * leadership hangs from.
 *
 * Algorithm. Create the session (TTL, lock-delay, behaviour, bound checks), then renew it every
 * ttl/2. Consul invalidates a TTL session TTL×2 after the last renewal it processed
 * (agent/consul/session_ttl.go), so a renewal that *started* at time t proves the session alive
 * until at least t + 2·ttl on the server. We count ourselves alive only until t + ttl: the local
 * deadline. When it passes without a successful renewal the session is `lost` — its signal aborts
 * and `lost` fires — a full ttl before Consul could hand our locks to anybody else, and lock-delay
 * adds more margin after that.
 *
 * With `healthCheckTtl`, the session is also bound to an agent TTL check that we heartbeat (the
 * check of a small agent service of its own, so a crash never leaves a critical node check). A
 * crashed process then loses its locks after `healthCheckTtl` instead of up to 2×ttl. Consul
 * invalidates the session as soon as that check expires (no 2× margin), so the local deadline also
 * follows the check: the last heartbeat's start + healthCheckTtl, minus a safety margin.
 *
 * Hazard. A process paused (GC, SIGSTOP) past its deadline learns of the loss only when it runs
 * again; `state`, `isAlive()` and `validUntil` check the deadline synchronously so code that asks
 * before acting never acts late. Work already under way when the pause began cannot be recalled:
 * downstream systems should check fencing tokens.
 *
 * Deadlines use the monotonic clock (performance.now), so wall-clock jumps cannot extend them.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { contextOf, type RecipeContext, type RecipeHost } from '../recipes/context.js';
import { ConfigError, SessionLostError, abortReason } from '../errors.js';
import { linkSignals, optionalSignal, sleep } from '../internal/abort.js';
import { describe, formatDurationMs, toMs } from '../internal/duration.js';
import { backoffDelay } from '../loop/backoff.js';
import { SafeEmitter } from '../internal/safe-emitter.js';
import { StateMachine, type MachineSpec, type Moves } from '../internal/state-machine.js';
import { checkLocalOptions } from '../internal/options.js';
import { explainTtlRefusal } from './ttl-hint.js';

/** Defaults, each with its reason. */
export const SESSION_DEFAULTS = Object.freeze({
  /** Shown by `consul operator` and the UI; recipes name their sessions after themselves. */
  name: 'consul-recipes',
  /** Consul's recipes use 15s: long enough to ride out a leader election, short enough to fail over. */
  ttlMs: 15_000,
  /** Consul's own default lock-delay (session endpoint): time for a lost holder to notice. */
  lockDelayMs: 15_000,
  /** Locks are released (not deleted) when the session ends, as Consul defaults. */
  behavior: 'release' as const,
  /** Consul binds sessions to the node's serfHealth check unless told otherwise. */
  checks: Object.freeze(['serfHealth']) as readonly string[],
  /** Renewal retries start quickly: a renewal missed by a blip must be repeated well before the deadline. */
  retryMinMs: 100,
  /** Share of healthCheckTtl kept as margin: Consul expires the check exactly at its TTL. */
  healthCheckMargin: 0.1,
  /** Name of the agent service that carries a session's heartbeat check. */
  healthServiceName: 'consul-recipes-session',
  /**
   * A crashed process's heartbeat service is removed this long after its check turned critical
   * (Consul raises it to at least 1 minute and reaps every 30 s).
   */
  healthServiceReapMs: 60_000,
  /** destroy() gives up after max(this, ttl): past that Consul expires the session anyway. */
  destroyBudgetMinMs: 2_000,
});

/** Consul accepts session TTLs up to 24h. */
const MAX_TTL_MS = 24 * 3600_000;

export interface SessionOptions {
  /** Session name shown by Consul. @default 'consul-recipes' */
  name?: string;
  /** Session TTL, renewed every ttl/2. Consul requires 10s..24h unless the server allows less. @default '15s' */
  ttl?: string | number;
  /** Time Consul refuses acquires of a key after this session loses it; `0` really sends 0. @default '15s' */
  lockDelay?: string | number;
  /** What happens to held keys when the session ends. @default 'release' */
  behavior?: 'release' | 'delete';
  /** Node check IDs the session is bound to. @default ['serfHealth'] */
  checks?: readonly string[];
  /**
   * Bind to a TTL check heartbeated by this process, for fast crash detection. The check belongs
   * to an agent service `consul-recipes-session-<uuid>` registered for it. @default none
   */
  healthCheckTtl?: string | number;
  /** Cancels creation. */
  signal?: AbortSignal;
}

export interface ResolvedSessionOptions {
  name: string;
  ttlMs: number;
  lockDelayMs: number;
  behavior: 'release' | 'delete';
  checks: readonly string[];
  healthCheckTtlMs: number | undefined;
  signal: AbortSignal | undefined;
}

export type SessionState = 'active' | 'lost' | 'destroyed';

/** Session events. */
export interface SessionEvents {
  /** A renewal succeeded; the local deadline moved forward. */
  renewed: [];
  /** The session can no longer prove it is alive. `signal` aborted just before this fires. */
  lost: [error: SessionLostError];
  /** `destroy()` finished (the session is gone from Consul, or Consul was unreachable). */
  destroyed: [];
  /** A background renewal or heartbeat failed; the session may still recover before its deadline. */
  error: [error: unknown];
}

/** Validates and converts session options synchronously; throws {@link ConfigError}. */
export function resolveSessionOptions(options: SessionOptions = {}): ResolvedSessionOptions {
  checkLocalOptions(options, ['name', 'ttl', 'lockDelay', 'behavior', 'checks', 'healthCheckTtl', 'signal'], 'session()');
  const name = options.name ?? SESSION_DEFAULTS.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError(`option "name" must be a non-empty string, got ${describe(name)}`, 'name');
  }
  const behavior = options.behavior ?? SESSION_DEFAULTS.behavior;
  if (behavior !== 'release' && behavior !== 'delete') {
    throw new ConfigError(`option "behavior" must be 'release' or 'delete', got ${describe(behavior)}`, 'behavior');
  }
  const checks = options.checks ?? SESSION_DEFAULTS.checks;
  if (!Array.isArray(checks) || checks.some((c) => typeof c !== 'string' || c.length === 0)) {
    throw new ConfigError(`option "checks" must be an array of check IDs, got ${describe(checks)}`, 'checks');
  }
  return {
    name,
    ttlMs: options.ttl === undefined ? SESSION_DEFAULTS.ttlMs : toMs('ttl', options.ttl, { min: 1, max: MAX_TTL_MS }),
    lockDelayMs: options.lockDelay === undefined ? SESSION_DEFAULTS.lockDelayMs : toMs('lockDelay', options.lockDelay),
    behavior,
    checks: [...checks],
    healthCheckTtlMs: options.healthCheckTtl === undefined ? undefined : toMs('healthCheckTtl', options.healthCheckTtl, { min: 1 }),
    signal: options.signal,
  };
}

/** A listener of a session's end: `fn` is called with `context` as `this` and the reason. */
interface EndListener {
  readonly fn: (reason: SessionLostError) => void;
  readonly context: unknown;
}

/**
 * Listens for the end of `session` (lost or destroyed): `fn` runs right after its signal aborted,
 * with the same reason, once. For the recipes holding through a session, instead of a listener on
 * its signal: a record here costs a few bytes, while a signal gets a hidden class of its own the
 * moment anybody touches it. Kept off the session's public emitter, so a caller's
 * `session.removeAllListeners()` cannot take a hold's loss detection away.
 */
export function onSessionEnded(session: Session, fn: (reason: SessionLostError) => void, context?: unknown): void {
  (session['endListeners'] ??= []).push({ fn, context });
}

/** Removes a listener added by {@link onSessionEnded} (the same `fn` and `context`). */
export function offSessionEnded(session: Session, fn: (reason: SessionLostError) => void, context?: unknown): void {
  const listeners = session['endListeners'];
  const i = listeners?.findIndex((l) => l.fn === fn && l.context === context) ?? -1;
  if (i >= 0) listeners?.splice(i, 1);
}

/** Allowed moves: `destroyed` is entered as soon as destroy() starts (nothing renews after that). */
const SESSION_TRANSITIONS: Moves<SessionState> = {
  active: ['lost', 'destroyed'],
  lost: ['destroyed'],
  destroyed: [],
};

export class Session extends SafeEmitter<SessionEvents> {
  readonly id: string;
  readonly name: string;
  readonly ttlMs: number;
  readonly lockDelayMs: number;
  readonly behavior: 'release' | 'delete';
  /** ID of the agent TTL check this session heartbeats, when `healthCheckTtl` is set. */
  readonly healthCheckId: string | undefined;
  /** ID of the agent service that check belongs to (`consul-recipes-session-<uuid>`). */
  readonly healthServiceId: string | undefined;
  /** Closed after the recipes that hold keys under it (see Closeable.closePhase). */
  readonly closePhase = 1;

  private readonly ctx: RecipeContext;
  private readonly healthCheckTtlMs: number | undefined;
  private readonly controller = new AbortController();
  /** See {@link onSessionEnded}; created by the first listener. */
  private endListeners: EndListener[] | undefined;
  private readonly machine: StateMachine<SessionState, SessionLostError, Session>;

  /** The machine of every session (shared: a session keeps no closures for its hooks). */
  private static readonly MACHINE: MachineSpec<SessionState, SessionLostError, Session> = Object.freeze({
    initial: 'active',
    moves: SESSION_TRANSITIONS,
    logFields: (s: Session, cause: SessionLostError | undefined) => ({ session: s.id, reason: cause?.message }),
    beforeEmit: (s: Session, from: SessionState, _to: SessionState, cause: SessionLostError | undefined) => {
      s.stopTimers();
      if (from !== 'active') return;
      // Abort before emitting: a listener must never observe 'lost' while the signal still looks live.
      const reason = cause ?? new SessionLostError(s.id, 'destroyed');
      s.controller.abort(reason);
      s.notifyEnded(reason);
    },
    emit: (s: Session, _from: SessionState, to: SessionState, cause: SessionLostError | undefined) => {
      if (to === 'lost' && cause) s.emit('lost', cause);
    },
  });
  private renewDeadline: number;
  private checkDeadline: number;
  /**
   * One timer for the next thing due: the next renewal, the next heartbeat, or the local deadline
   * (a safety net while they fail). One per session rather than one per duty: a process may hold
   * thousands of sessions.
   */
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() time of the next renewal; undefined while one runs. */
  private renewAt: number | undefined;
  /** performance.now() time of the next heartbeat; undefined while one runs or without healthCheckTtl. */
  private heartbeatAt: number | undefined;
  /**
   * Abort the renewal round and the heartbeat round in flight when the session ends. One per
   * round, dropped after it: a signal kept for the session's whole life costs more (Node gives
   * each AbortSignal a hidden class of its own) than one made every ttl/2.
   */
  private renewAbort: AbortController | undefined;
  private heartbeatAbort: AbortController | undefined;
  private renewing: Promise<void> | undefined;
  private heartbeating: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;

  /**
   * Creates a session in Consul and starts renewing it. Options are validated synchronously, so
   * bad input throws here rather than rejecting later.
   */
  static create(host: RecipeHost, options: SessionOptions = {}): Promise<Session> {
    const resolved = resolveSessionOptions(options);
    const ctx = contextOf(host);
    ctx.lifetime.assertOpen();
    return Session.open(ctx, resolved);
  }

  /**
   * Creates a session from options already resolved by {@link resolveSessionOptions} (recipes
   * resolve theirs once, in their constructor, and open one session per acquisition).
   * @internal
   */
  static async open(ctx: RecipeContext, o: ResolvedSessionOptions): Promise<Session> {
    ctx.lifetime.assertOpen();
    optionalSignal(o.signal)?.throwIfAborted();
    const api = ctx.api;
    let healthCheckId: string | undefined;
    let healthServiceId: string | undefined;
    if (o.healthCheckTtlMs !== undefined) {
      // The heartbeat check belongs to a small service of its own, not to the node. A node-level
      // check left critical by a crashed process would stay on the agent for good and fail the
      // `?passing` health of every service on the node; a service check only fails its own
      // service, and Consul reaps that service (check included) after DeregisterCriticalServiceAfter.
      const uid = randomUUID();
      healthCheckId = `consul-recipes:session:${uid}`;
      healthServiceId = `${SESSION_DEFAULTS.healthServiceName}-${uid}`;
      await api.services.register(
        {
          ID: healthServiceId,
          Name: SESSION_DEFAULTS.healthServiceName,
          Meta: { session_name: o.name.slice(0, 512) },
          Check: {
            CheckID: healthCheckId,
            Name: `consul-recipes session heartbeat (${o.name})`,
            TTL: formatDurationMs(o.healthCheckTtlMs),
            // Registered passing: Consul refuses to bind a session to a critical check.
            Status: 'passing',
            DeregisterCriticalServiceAfter: formatDurationMs(SESSION_DEFAULTS.healthServiceReapMs),
          },
        },
        { signal: o.signal },
      );
    }
    const started = performance.now();
    let id: string;
    try {
      id = await api.sessions.create(
        {
          Name: o.name,
          TTL: formatDurationMs(o.ttlMs),
          // Always a string: Consul reads a bare number as seconds and Go's client cannot send 0.
          LockDelay: formatDurationMs(o.lockDelayMs),
          Behavior: o.behavior,
          NodeChecks: [...o.checks],
          ...(healthCheckId ? { ServiceChecks: [{ ID: healthCheckId }] } : {}),
        },
        o.signal,
      );
    } catch (err) {
      if (healthServiceId) {
        await api.services.deregister(healthServiceId).catch((e: unknown) => ctx.logger.debug({ err: String(e) }, 'heartbeat service cleanup failed'));
      }
      throw explainTtlRefusal(err, o.ttlMs);
    }
    const session = new Session(ctx, id, o, healthCheckId, healthServiceId, started);
    if (o.signal?.aborted) {
      // Cancelled while the create was in flight: do not leak what Consul made.
      await session.destroy();
      throw abortReason(o.signal);
    }
    return session;
  }

  private constructor(
    ctx: RecipeContext,
    id: string,
    o: ResolvedSessionOptions,
    healthCheckId: string | undefined,
    healthServiceId: string | undefined,
    started: number,
  ) {
    super(ctx.logger, `session ${id}`);
    this.ctx = ctx;
    this.id = id;
    this.machine = new StateMachine<SessionState, SessionLostError, Session>(Session.MACHINE, this, `session ${id}`, ctx.logger);
    this.name = o.name;
    this.ttlMs = o.ttlMs;
    this.lockDelayMs = o.lockDelayMs;
    this.behavior = o.behavior;
    this.healthCheckId = healthCheckId;
    this.healthServiceId = healthServiceId;
    this.healthCheckTtlMs = o.healthCheckTtlMs;
    this.renewDeadline = started + o.ttlMs;
    this.checkDeadline = o.healthCheckTtlMs === undefined ? Infinity : started + this.checkWindow();
    ctx.lifetime.track(this);
    const now = performance.now();
    this.renewAt = now + o.ttlMs / 2;
    if (this.healthCheckTtlMs !== undefined) this.heartbeatAt = now + this.healthCheckTtlMs / 3;
    this.armTimer();
  }

  /** 'active' | 'lost' | 'destroyed'; reading it checks the local deadline first. */
  get state(): SessionState {
    this.enforceDeadline();
    return this.machine.state;
  }

  /** Aborted (with a {@link SessionLostError}) as soon as the session is lost or destroyed. */
  get signal(): AbortSignal {
    this.enforceDeadline();
    return this.controller.signal;
  }

  /** performance.now() time until which the session is provably alive on the server. */
  get validUntil(): number {
    return Math.min(this.renewDeadline, this.checkDeadline);
  }

  /** True while active; checks the deadline synchronously, so it never answers late. */
  isAlive(): boolean {
    return this.state === 'active';
  }

  /**
   * Destroys the session in Consul (releasing or deleting its keys per `behavior`), stops
   * renewing and deregisters the heartbeat check. Idempotent; safe after `lost`.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  /** Alias of {@link destroy}, so a Session is a Coordinator resource. */
  close(): Promise<void> {
    return this.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  // ---------------------------------------------------------------------------------------------

  private lose(reason: string, cause?: unknown): void {
    if (this.machine.state !== 'active') return;
    this.machine.transition('lost', new SessionLostError(this.id, reason, cause === undefined ? undefined : { cause }));
  }

  private enforceDeadline(): void {
    if (this.machine.state === 'active' && performance.now() >= this.validUntil) {
      this.lose(
        this.checkDeadline <= this.renewDeadline
          ? `no successful health-check heartbeat within healthCheckTtl (${this.healthCheckTtlMs}ms)`
          : `no successful renewal within ttl (${this.ttlMs}ms)`,
      );
    }
  }

  /** (Re)arms the one timer for whatever is due first: a renewal, a heartbeat or the deadline. */
  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.machine.state !== 'active') return;
    const at = Math.min(this.renewAt ?? Infinity, this.heartbeatAt ?? Infinity, this.validUntil);
    this.timer = setTimeout(() => this.wake(), Math.max(0, at - performance.now()));
    this.timer.unref();
  }

  /** The timer fired: enforce the deadline, start what is due, and re-arm for the next. */
  private wake(): void {
    this.timer = undefined;
    this.enforceDeadline();
    if (this.machine.state !== 'active') return;
    const now = performance.now();
    if (this.renewAt !== undefined && now >= this.renewAt) {
      this.renewAt = undefined;
      this.renewing = this.inRound('renewAbort', (signal) => this.renewRound(signal));
    }
    if (this.heartbeatAt !== undefined && now >= this.heartbeatAt) {
      this.heartbeatAt = undefined;
      this.heartbeating = this.inRound('heartbeatAbort', (signal) => this.heartbeatRound(signal));
    }
    this.armTimer();
  }

  private checkWindow(): number {
    const ttl = this.healthCheckTtlMs ?? Infinity;
    return ttl * (1 - SESSION_DEFAULTS.healthCheckMargin);
  }

  private scheduleRenew(delay: number): void {
    if (this.machine.state !== 'active') return;
    this.renewAt = performance.now() + Math.max(0, delay);
    this.armTimer();
  }

  /** Runs one renewal or heartbeat round with its own AbortController, kept in `slot` while it runs. */
  private async inRound(slot: 'renewAbort' | 'heartbeatAbort', run: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const round = (this[slot] = new AbortController());
    try {
      await run(round.signal);
    } finally {
      if (this[slot] === round) this[slot] = undefined;
    }
  }

  /** One renewal round: retried with backoff until it succeeds or the deadline passes. */
  private async renewRound(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (this.machine.state === 'active') {
      const started = performance.now();
      const remaining = this.renewDeadline - started;
      if (remaining <= 0) break;
      try {
        // Our own retry loop below knows the deadline; the transport must not retry on its own.
        const entry = await this.ctx.api.sessions.renew(this.id, {
          signal,
          timeoutMs: Math.max(50, Math.min(remaining, this.ttlMs / 2)),
          retry: 'none',
        });
        if (this.machine.state !== 'active') return;
        if (entry === null) {
          this.lose('Consul no longer knows the session (invalidated or destroyed)');
          return;
        }
        this.renewDeadline = Math.max(this.renewDeadline, started + this.ttlMs);
        this.enforceDeadline(); // a renewal that started after the deadline proves nothing
        if (this.machine.state !== 'active') return;
        this.emit('renewed');
        // Re-arms the timer for the next renewal (or the new deadline, whichever is first).
        this.scheduleRenew(started + this.ttlMs / 2 - performance.now());
        return;
      } catch (err) {
        if (this.machine.state !== 'active' || signal.aborted) return;
        attempt += 1;
        this.emit('error', err);
        const delay = backoffDelay(attempt, { minMs: SESSION_DEFAULTS.retryMinMs, maxMs: Math.max(SESSION_DEFAULTS.retryMinMs, this.ttlMs / 4) });
        try {
          await sleep(Math.min(delay, Math.max(0, this.renewDeadline - performance.now())), signal, { unref: true });
        } catch {
          return; // aborted by destroy/lost
        }
      }
    }
    this.enforceDeadline();
  }

  private scheduleHeartbeat(delay: number): void {
    if (this.machine.state !== 'active' || this.healthCheckId === undefined) return;
    this.heartbeatAt = performance.now() + Math.max(0, delay);
    this.armTimer();
  }

  private async heartbeatRound(signal: AbortSignal): Promise<void> {
    const id = this.healthCheckId as string;
    const ttl = this.healthCheckTtlMs as number;
    let attempt = 0;
    while (this.machine.state === 'active') {
      const started = performance.now();
      try {
        await this.ctx.api.agent.updateTtlCheck(id, 'passing', `session ${this.id} alive`, signal, 'none');
        if (this.machine.state !== 'active') return;
        this.checkDeadline = Math.max(this.checkDeadline, started + this.checkWindow());
        this.enforceDeadline();
        if (this.machine.state !== 'active') return;
        this.scheduleHeartbeat(started + ttl / 3 - performance.now());
        return;
      } catch (err) {
        if (this.machine.state !== 'active' || signal.aborted) return;
        attempt += 1;
        this.emit('error', err);
        try {
          await sleep(backoffDelay(attempt, { minMs: SESSION_DEFAULTS.retryMinMs, maxMs: Math.max(SESSION_DEFAULTS.retryMinMs, ttl / 6) }), signal, { unref: true });
        } catch {
          return;
        }
        this.enforceDeadline();
      }
    }
  }

  /** Runs (and drops) the {@link onSessionEnded} listeners; one that throws is logged. */
  private notifyEnded(reason: SessionLostError): void {
    const listeners = this.endListeners;
    this.endListeners = undefined;
    for (const { fn, context } of listeners ?? []) {
      try {
        fn.call(context, reason);
      } catch (err) {
        this.ctx.logger.warn({ session: this.id, err: err instanceof Error ? err.message : String(err) }, 'a session-end listener threw; ignored');
      }
    }
  }

  private stopTimers(): void {
    clearTimeout(this.timer);
    this.timer = this.renewAt = this.heartbeatAt = undefined;
    this.renewAbort?.abort();
    this.heartbeatAbort?.abort();
  }

  private async teardown(): Promise<void> {
    if (this.machine.can('destroyed')) this.machine.transition('destroyed');
    this.stopTimers();
    await Promise.allSettled([this.renewing, this.heartbeating]);
    const api = this.ctx.api;
    // Bounded: if Consul cannot be reached, it expires the session by itself (TTL or check), so a
    // close() during a partition must not hang for the whole retry budget.
    const budget = linkSignals([], { ms: Math.max(SESSION_DEFAULTS.destroyBudgetMinMs, this.ttlMs), reason: () => new Error('destroy budget exhausted') });
    try {
      await api.sessions.destroy(this.id, budget.signal);
    } catch (err) {
      // Unreachable Consul: the server will expire the session by its TTL (or check); say so.
      this.ctx.logger.warn({ session: this.id, err: err instanceof Error ? err.message : String(err) }, 'session destroy failed; Consul will expire it');
    }
    if (this.healthServiceId) {
      try {
        // Removes the heartbeat check with it.
        await api.services.deregister(this.healthServiceId, budget.signal);
      } catch (err) {
        this.ctx.logger.warn({ service: this.healthServiceId, err: err instanceof Error ? err.message : String(err) }, 'heartbeat service deregistration failed; Consul reaps it once its check is critical');
      }
    }
    budget.dispose();
    this.ctx.lifetime.untrack(this);
    this.emit('destroyed');
  }
}
