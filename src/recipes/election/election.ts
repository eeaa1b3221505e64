/**
 * LeaderElection: one leader at a time among the processes campaigning on one Consul KV key, with
 * a fencing token per term, fast hand-over on a graceful shutdown, and a leader that steps down
 * (locally) before Consul can elect anybody else.
 *
 * Algorithm. Built on the hold engine shared with Lock and Semaphore (`hold/contender.ts`) and the
 * key-contention loop shared with Lock (`hold/key-contention.ts`); the election's own half is
 * `election/driver.ts`.
 * - Each campaign creates a session (`Behavior: delete`, `ttl`, `lockDelay`, optional
 *   `healthCheckTtl`). A term starts with one transaction that *creates* the key locked by that
 *   session: `check-not-exists` + `lock` (or `delete-cas` of a leftover unlocked key + `lock`).
 *   Followers wait with blocking queries on the key — no polling — and try again when it goes.
 * - A term ends when the key is deleted: by `resign()` (transaction `check-session` + `delete`),
 *   or by Consul when the session is invalidated (Behavior `delete`).
 * - The leader monitors the key with consistent blocking reads; the session renews itself.
 *
 * Fencing token = the key's CreateIndex. Consul's alternatives do not work here: ModifyIndex
 * changes on every `proclaim()`, and LockIndex restarts at 1 on a fresh key (and is reset by a
 * plain PUT). Because every term creates the key — a campaign succeeds only if the key is absent
 * or is a leftover it deletes in the same transaction — each term's CreateIndex is the Raft index
 * of the write that began it: strictly greater than any earlier term's, kept by `proclaim()`, and
 * readable by observers (`leader().fencingToken`). etcd's election uses the same idea (the key's
 * create revision identifies the term).
 *
 * Guarantees.
 * - Safety after a crash, pause or partition: the session counts itself lost at its local deadline
 *   (last renewal start + ttl, or last heartbeat start + 90% of healthCheckTtl), before Consul can
 *   invalidate it (2×ttl, or healthCheckTtl after the heartbeat), and lock-delay keeps the key
 *   from being taken for `lockDelay` more after an invalidation. `isLeader`, `state`, `signal` and
 *   `term.signal` check that deadline synchronously, so a process resumed after SIGSTOP sees
 *   itself deposed on its first look; `signal` aborts before `deposed` is emitted.
 * - Fast hand-over: `resign()` deletes the key itself and then destroys the session, which then
 *   holds nothing — no lock-delay applies (Consul sets it only for keys a dying session held), so
 *   the next campaigner's blocking query wakes and it is elected within a few round trips.
 *   `resignOnSignals()` does this on SIGTERM/SIGINT.
 * - Crash detection: without `healthCheckTtl` Consul frees the key up to 2×ttl after the last
 *   renewal, then lock-delay; with it, after healthCheckTtl, then lock-delay.
 *
 * Hazard (as Consul's `Lock()` doc says): it is NOT safe to assume leadership lasts until you
 * resign. The key can be deleted by an operator, the session invalidated, the process paused past
 * its deadline; work already under way cannot be recalled. Check `signal` before each step and
 * pass `fencingToken` to downstream systems so they can refuse a deposed leader's late writes.
 */
import type { EventEmitter } from 'eventemitter3';
import { SafeEmitter } from '../../internal/safe-emitter.js';
import { StateMachine, type MachineSpec } from '../../internal/state-machine.js';
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import {
  ClosedError,
  ConfigError,
  IllegalStateError,
  NotLeaderError,
  SessionLostError,
  type LockLostError,
} from '../../errors.js';
import { describe } from '../../internal/duration.js';
import type { Session } from '../../session/session.js';
import type { KVPair } from '../../transport/index.js';
import type { Decoder } from '../config/config-snapshot.js';
import { ElectionDriver } from './driver.js';
import { ElectionObserver, type LeaderInfo } from './observer.js';
import { proclaimOps, resolveLeaderDecoder, type LeaderDecodeOption } from './leader-key.js';
import { installShutdown, resolveShutdownOptions, type ShutdownOptions } from './shutdown.js';
import { ELECTION_TRANSITIONS, type DeposedReason, type ElectionState } from './state.js';
import {
  Contender,
  resolveAcquireOptions,
  type ContenderConfig,
  type HoldingView,
  type TransitionDetail,
} from '../hold/contender.js';
import { encodeLockValue, type LockValue } from '../hold/keys.js';
import type { HoldState } from '../hold/state.js';
import { HOLDER_OPTION_NAMES, resolveSingleKeyOptions, type HolderOptions } from '../hold/options.js';
import { optionalSignal } from '../../internal/abort.js';

export type { DeposedReason, ElectionState } from './state.js';
export { ElectionObserver, type LeaderInfo } from './observer.js';
export type { LeaderDecodeOption } from './leader-key.js';
export type { ShutdownOptions } from './shutdown.js';

/** Defaults, each with its reason. */
export const ELECTION_DEFAULTS = Object.freeze({
  /**
   * Consul's recipes use 15s. Without `healthCheckTtl` a crashed leader is replaced up to 2×ttl
   * later; a partitioned leader steps down after ttl. Consul refuses less than 10s.
   */
  ttlMs: 15_000,
  /**
   * Consul defaults to 15s, but our leader already steps down at its local deadline, before
   * Consul can invalidate its session; lock-delay only adds margin for a request the old leader
   * had in flight. 1s keeps crash failover at about detection time + 1s. A resign pays none.
   */
  lockDelayMs: 1_000,
  /** As for Lock: `consul lock`'s 3 tolerated monitor failures (each already retried). */
  monitorRetries: 3,
  /** Blocking wait of followers, monitor and observers. Cancelling does not depend on it. */
  waitTimeMs: 15_000,
  /**
   * Cap of the delay between campaigns refused by lock-delay (the key is absent then, so there is
   * nothing to block on). Small: it is what failover overshoots lock-delay by; a refused
   * transaction costs the server little.
   */
  retryTimeMs: 250,
  /** Session name shown by Consul. */
  sessionName: 'consul-recipes election',
});

/**
 * Options of `new LeaderElection(coord, key, options)` / `coord.election(key, options)`. The
 * session and monitor options are documented once, in {@link HolderOptions}; those re-declared
 * here have the election's own default or meaning.
 */
export interface ElectionOptions<T = unknown> extends HolderOptions {
  /** Value advertised while leader (Buffer/string as is, anything else as JSON). @default empty */
  value?: LockValue;
  /** How `leader()`, `observe()` and `leader` events decode the value. @default 'auto' (JSON, else text) */
  decode?: LeaderDecodeOption<T>;
  /**
   * A session to campaign with, used as is and never destroyed; its loss ends the term. Prefer
   * `behavior: 'delete'`; with 'release' an invalidation leaves the key unlocked and the next
   * campaigner replaces it (same safety, same tokens). @default a new session per campaign
   */
  session?: Session;
  /** Lock-delay of the session we create; `0` really sends 0. @default '1s' */
  lockDelay?: string | number;
  /** Binds the session we create to a heartbeated agent TTL check: crash failover in about this long. @default none */
  healthCheckTtl?: string | number;
  /**
   * Node checks the session we create is bound to, besides the heartbeat check. Binding to
   * `serfHealth` is only safe with lockDelay ≥ ttl (see `defaultHolderChecks`): otherwise a node
   * cut off from the servers could be replaced before its leader's deadline.
   * @default ['serfHealth'] when lockDelay ≥ ttl, otherwise [] (the defaults: [])
   */
  checks?: readonly string[];
  /** Name of the session we create. @default 'consul-recipes election' */
  sessionName?: string;
  /** Blocking wait per read of followers, the leader's monitor and observers. @default '15s' */
  waitTime?: string | number;
  /** Cap of the delay between campaigns refused by lock-delay. @default '250ms' */
  retryTime?: string | number;
}

/** The names `election()` accepts. */
export const ELECTION_OPTION_NAMES = Object.freeze([...HOLDER_OPTION_NAMES, 'value', 'decode', 'retryTime'] as const);

export interface ResolvedElectionOptions<T> {
  key: string;
  value: Buffer | null;
  decode: Decoder<T>;
  retryTimeMs: number;
  engine: Omit<ContenderConfig<KVPair | null>, 'driver' | 'kind' | 'key'>;
}

/** Validates and converts election options synchronously; throws {@link ConfigError}. */
export function resolveElectionOptions<T>(key: unknown, options: ElectionOptions<T> = {}): ResolvedElectionOptions<T> {
  const common = resolveSingleKeyOptions(key, options, ELECTION_OPTION_NAMES, 'election()', { ...ELECTION_DEFAULTS, behavior: 'delete', lockDelayGuards: true });
  return {
    key: common.key,
    value: common.value,
    decode: resolveLeaderDecoder<T>(options.decode),
    retryTimeMs: common.retryTimeMs,
    engine: {
      session: common.session,
      sessionOptions: common.sessionOptions,
      monitorRetries: common.monitorRetries,
      waitMs: common.waitTimeMs,
    },
  };
}

/** One term of this instance as leader. */
export interface LeaderTerm {
  readonly key: string;
  /** Strictly increasing across successive leaders; unchanged by `proclaim()`. */
  readonly fencingToken: number;
  /** The session holding the key. */
  readonly sessionId: string;
  /**
   * Aborted when the term ends (resign, close, session lost, key deleted or taken), before
   * `deposed` is emitted. Reading it checks the session deadline first.
   */
  readonly signal: AbortSignal;
  /**
   * `performance.now()` time until which the term is provably ours: the session's local
   * deadline, pushed forward by each renewal/heartbeat. Useful before starting a long step.
   */
  readonly validUntil: number;
}

/** What `deposed` reports. */
export interface Deposition {
  readonly reason: DeposedReason;
  /** The token of the term that ended. */
  readonly fencingToken: number;
  /** For `session-lost` and `key-lost`: the error the term's signal was aborted with. */
  readonly error?: LockLostError;
}

/** Election events. */
export interface ElectionEvents<T> {
  /** This instance became leader. `campaign()` resolves with the same term. */
  elected: [term: LeaderTerm];
  /**
   * This instance's term ended; `term.signal` was aborted just before. First the reason
   * (`'resigned' | 'session-lost' | 'key-lost' | 'closed'`), then the details of the term.
   */
  deposed: [reason: DeposedReason, deposition: Deposition];
  /**
   * The observed leader changed (null: no leader). Emitted while at least one `leader` listener
   * is attached: adding the first starts a blocking-query watch (no session), removing the last
   * stops it. The first event is the current leader.
   */
  leader: [leader: LeaderInfo<T> | null];
  /** Debug aid: a campaign found another leader, or lock-delay, and now waits (once per campaign). */
  waiting: [];
  /** A background failure: cleanup after a term, a failed watch read, a value that does not decode. */
  error: [error: unknown];
}

/** An election event's name, and the listener it takes (the overrides below keep eventemitter3's typing). */
type ElectionEvent<T> = EventEmitter.EventNames<ElectionEvents<T>>;
type ElectionListener<T, E extends ElectionEvent<T>> = EventEmitter.EventListener<ElectionEvents<T>, E>;

/** Per-call options of `campaign()`. */
export interface CampaignOptions {
  /** Cancels the campaign; it rejects with the signal's reason. Nothing is left on the server. */
  signal?: AbortSignal;
  /** Gives up after this long with `LockTimeoutError` (duration string or ms). @default no timeout */
  timeout?: string | number;
}

/** What accompanies a move of the election's state machine. */
interface ElectionMove {
  /** The term current when the move began (cleared on `idle`/`closed`). */
  readonly hold: Hold | undefined;
  readonly ended?: { readonly reason: DeposedReason; readonly error?: LockLostError };
}

/** What the engine holds for one term. */
interface Hold {
  readonly term: LeaderTerm;
  readonly session: Session;
}

/**
 * A campaign on `key`. One instance is at most one candidate at a time; campaign again after
 * `resign()` or after being deposed.
 *
 * States: `idle → campaigning → leader → resigning → idle`, `leader → idle` (deposed by a loss),
 * `idle → closed`. Events: {@link ElectionEvents}.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the shared machine spec serves every value type
type AnyElection = LeaderElection<any>;

export class LeaderElection<T = unknown> extends SafeEmitter<ElectionEvents<T>> {
  readonly key: string;
  private readonly ctx: RecipeContext;
  private readonly driver: ElectionDriver;
  private readonly engine: TermEngine;
  private readonly machine: StateMachine<ElectionState, ElectionMove, AnyElection>;

  private static readonly MACHINE: MachineSpec<ElectionState, ElectionMove, AnyElection> = Object.freeze({
    initial: 'idle',
    moves: ELECTION_TRANSITIONS,
    logFields: (e: AnyElection, move: ElectionMove | undefined) => ({ key: e.key, reason: move?.ended?.reason, token: move?.hold?.term.fencingToken }),
    // The engine aborted the term's signal before it called us: listeners never see a live signal.
    beforeEmit: (e: AnyElection, _from: ElectionState, to: ElectionState) => {
      if (to === 'idle' || to === 'closed') e.hold = undefined;
    },
    emit: (e: AnyElection, _from: ElectionState, to: ElectionState, move: ElectionMove | undefined) => e.emitFor(to, move),
  });
  /** The current term, from `elected` until the election is idle again. */
  private hold: Hold | undefined;
  /** Why the running release was started; none means the engine's own close(). */
  private endingReason: DeposedReason | undefined;
  private resigning: Promise<void> | undefined;
  /**
   * The running close(), kept so close() is idempotent. As in the hold engine, closing drives
   * the ordinary moves (`campaigning → idle`, `leader → resigning → idle`) and ends in `closed`;
   * "no new campaign" is the aborted `closed` signal, which the shutdown helper aborts first.
   */
  private closing: Promise<void> | undefined;
  private readonly closed = new AbortController();
  /** Reads the leader without a session: `leader()`, `observe()` and the `leader` events. */
  private readonly observer: ElectionObserver<T>;
  private watch: AbortController | undefined;
  private readonly background = new Set<Promise<unknown>>();

  constructor(host: RecipeHost, key: string, options: ElectionOptions<T> = {}) {
    const o = resolveElectionOptions<T>(key, options);
    const ctx = contextOf(host);
    super(ctx.logger, `election "${o.key}"`);
    this.ctx = ctx;
    this.key = o.key;
    this.machine = new StateMachine<ElectionState, ElectionMove, AnyElection>(LeaderElection.MACHINE, this, this.what, ctx.logger);
    this.observer = new ElectionObserver<T>(ctx, o.key, o.decode, o.engine.waitMs, (err) => this.emit('error', err));
    this.driver = new ElectionDriver(ctx.api, o.key, o.value, { waitMs: o.engine.waitMs, retryTimeMs: o.retryTimeMs });
    ctx.lifetime.track(this);
    this.engine = new TermEngine(ctx, { kind: 'election', key: o.key, driver: this.driver, ...o.engine }, (from, to, detail) =>
      this.follow(from, to, detail),
    );
    this.engine.on('waiting', () => this.emit('waiting'));
    this.engine.on('error', (err) => this.emit('error', err));
  }

  /** Current state. Reading it checks the session deadline first, so it never says `leader` late. */
  get state(): ElectionState {
    if (this.machine.state === 'leader') void this.engine.state; // the engine's getter enforces the deadline
    return this.machine.state;
  }

  /** True while leader; checks the session deadline synchronously. */
  get isLeader(): boolean {
    return this.state === 'leader';
  }

  /** The current term's fencing token while leader, else undefined. */
  get fencingToken(): number | undefined {
    return this.isLeader ? this.hold?.term.fencingToken : undefined;
  }

  /** The current term while leader (or resigning), else undefined. */
  get term(): LeaderTerm | undefined {
    void this.state;
    return this.hold?.term;
  }

  /**
   * Aborted whenever this instance is not the leader: the current term's signal while leader (it
   * aborts when the term ends, before `deposed`), an already aborted one (`NotLeaderError`)
   * otherwise. Capture it when elected, or use `term.signal`.
   */
  get signal(): AbortSignal {
    void this.state;
    return this.hold?.term.signal ?? AbortSignal.abort(new NotLeaderError(this.key));
  }

  /**
   * Campaigns until elected; resolves with the term. Rejects with `LockTimeoutError` after
   * `timeout`, with the signal's reason on abort, with `ClosedError` when closed meanwhile, and
   * with `IllegalStateError` unless idle. Whatever the failure, nothing is left on the server: no
   * session, no key.
   */
  campaign(options?: CampaignOptions): Promise<LeaderTerm> {
    resolveAcquireOptions(options, 'campaign()');
    return this.runCampaign(options);
  }

  /**
   * Gives leadership up: aborts the term's signal, emits `deposed` ('resigned'), deletes the key
   * if still ours, destroys the session we created. Another campaigner is elected at once (no
   * lock-delay). A no-op when not leader; while resigning, resolves when that is done.
   */
  resign(): Promise<void> {
    const state = this.state;
    if (state === 'resigning') return this.resigning ?? Promise.resolve();
    if (state !== 'leader') return Promise.resolve();
    this.endingReason = 'resigned';
    let release: Promise<void>;
    try {
      release = this.engine.release();
    } finally {
      this.endingReason = undefined;
    }
    const resigning = release.finally(() => {
      if (this.resigning === resigning) this.resigning = undefined;
    });
    this.resigning = resigning;
    return resigning;
  }

  /**
   * Re-writes the advertised value while leader (the fencing token does not change) and keeps it
   * for later terms. Throws `NotLeaderError` when not leader, or when the key turns out not to be
   * ours any more (the term is then about to be reported lost).
   */
  proclaim(value: LockValue, options: { signal?: AbortSignal } = {}): Promise<void> {
    const bytes = encodeLockValue('value', value);
    return this.runProclaim(bytes, options.signal);
  }

  /** One read of the key: the current leader, or null. No session needed. */
  leader(options: { signal?: AbortSignal } = {}): Promise<LeaderInfo<T> | null> {
    return this.observer.leader(options.signal);
  }

  /**
   * Leader changes as an async iterable, first the current leader (or null). Uses blocking
   * queries and no session. Between two terms it always yields `null` (each term creates the key,
   * so it was absent in between, even if no read caught that moment); a term that began and ended
   * between two reads can be missed, never reordered. Ends when the election is closed; rejects
   * with the signal's reason when `signal` aborts, or with a `ConsulError` that retrying cannot
   * fix (403…).
   */
  observe(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<LeaderInfo<T> | null> {
    if (options === null || typeof options !== 'object') {
      throw new ConfigError(`observe options must be an object, got ${describe(options)}`, 'options');
    }
    optionalSignal(options.signal);
    if (this.closing) throw new ClosedError(this.what);
    return this.observer.observe(options.signal, this.closed.signal);
  }

  /**
   * On the first of `signals`: stop campaigning, resign (deleting the key, so another instance
   * is elected at once), close, run `beforeExit`, then exit the process (unless `exit: false`).
   * A second signal terminates at once. Returns a function that removes the handlers.
   */
  resignOnSignals(signals?: readonly NodeJS.Signals[], options: ShutdownOptions = {}): () => void {
    const o = resolveShutdownOptions(signals, options);
    return installShutdown(
      o,
      async () => {
        // No new campaign from here on: the same signal close() aborts.
        this.closed.abort(new ClosedError(this.what));
        await this.resign();
        await this.close();
      },
      (err) => this.emit('error', err),
    );
  }

  /**
   * Stops everything: cancels a campaign, resigns a term (`deposed` with 'closed'), ends observers
   * and the `leader` watch, destroys the sessions we created. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed.abort(new ClosedError(this.what));
      this.watch?.abort();
      await this.engine.close();
      while (this.background.size > 0) await Promise.allSettled([...this.background]);
      if (this.machine.state !== 'closed') this.transition('closed');
      this.ctx.lifetime.untrack(this);
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // The first `leader` listener starts the watch, removing the last stops it.

  override on<E extends ElectionEvent<T>>(event: E, fn: ElectionListener<T, E>, context?: unknown): this {
    super.on(event, fn, context);
    return this.listenersChanged(event);
  }

  override addListener<E extends ElectionEvent<T>>(event: E, fn: ElectionListener<T, E>, context?: unknown): this {
    return this.on(event, fn, context);
  }

  override once<E extends ElectionEvent<T>>(event: E, fn: ElectionListener<T, E>, context?: unknown): this {
    super.once(event, fn, context);
    return this.listenersChanged(event);
  }

  override removeListener<E extends ElectionEvent<T>>(event: E, fn?: ElectionListener<T, E>, context?: unknown, once?: boolean): this {
    super.removeListener(event, fn, context, once);
    return this.listenersChanged(event);
  }

  override off<E extends ElectionEvent<T>>(event: E, fn?: ElectionListener<T, E>, context?: unknown, once?: boolean): this {
    return this.removeListener(event, fn, context, once);
  }

  override removeAllListeners(event?: ElectionEvent<T>): this {
    super.removeAllListeners(event);
    this.syncWatch();
    return this;
  }

  /** After a listener of `event` was added or removed: only `leader` listeners drive the watch. */
  private listenersChanged(event: ElectionEvent<T>): this {
    if (event === 'leader') this.syncWatch();
    return this;
  }

  // ---------------------------------------------------------------------------------------------
  // Campaign and proclaim

  private async runCampaign(options: CampaignOptions | undefined): Promise<LeaderTerm> {
    if (this.closed.signal.aborted) throw new ClosedError(this.what);
    options?.signal?.throwIfAborted();
    const state = this.state;
    if (state !== 'idle') {
      throw new IllegalStateError(`election "${this.key}": campaign() needs an idle election (resign or await the current campaign first)`, state);
    }
    const hold = await this.engine.acquire(options);
    return hold.term;
  }

  private async runProclaim(bytes: Buffer | null, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    const hold = this.isLeader ? this.hold : undefined;
    if (!hold) throw new NotLeaderError(this.key);
    const result = await this.ctx.api.txn(proclaimOps(this.key, bytes, hold.session.id), signal);
    if (!result.ok) throw new NotLeaderError(this.key, 'no longer the leader (the key does not carry our session)');
    this.driver.value = bytes;
  }

  // ---------------------------------------------------------------------------------------------
  // Observing

  private syncWatch(): void {
    const wanted = this.listenerCount('leader') > 0 && !this.closing;
    if (wanted && !this.watch) {
      const controller = new AbortController();
      this.watch = controller;
      this.inBackground(
        (async () => {
          try {
            for await (const leader of this.observer.observe(controller.signal, this.closed.signal)) this.emit('leader', leader);
          } catch (err) {
            if (!controller.signal.aborted) this.emit('error', err);
          } finally {
            if (this.watch === controller) this.watch = undefined;
          }
        })(),
      );
    } else if (!wanted && this.watch) {
      this.watch.abort();
      this.watch = undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The one way to change state, driven by the engine's transitions

  /** Projects the engine's state change onto ours (called synchronously from its transition). */
  private follow(from: HoldState, to: HoldState, detail: TransitionDetail<Hold>): void {
    switch (to) {
      case 'acquiring':
        this.transition('campaigning');
        return;
      case 'held':
        this.hold = detail.handle;
        this.transition('leader');
        return;
      case 'releasing':
        this.transition('resigning', { reason: this.endingReason ?? 'closed' });
        return;
      case 'lost':
        this.transition('idle', { reason: this.lossReason(detail.error), ...(detail.error ? { error: detail.error } : {}) });
        return;
      case 'idle':
        // From acquiring (the campaign failed or was cancelled) or releasing (resign finished).
        if (from === 'acquiring' || from === 'releasing') this.transition('idle');
        return;
      case 'closed':
        // The engine was closed by its Coordinator (it is closed before us): close with it. Never
        // reached from inside our own close() synchronously: the engine closes after an await.
        if (!this.closing) void this.close();
        return;
    }
  }

  private transition(to: ElectionState, ended?: { reason: DeposedReason; error?: LockLostError }): void {
    this.machine.transition(to, { hold: this.hold, ...(ended ? { ended } : {}) });
  }

  private emitFor(to: ElectionState, move: ElectionMove | undefined): void {
    const hold = move?.hold;
    if (to === 'leader' && hold) this.emit('elected', hold.term);
    const ended = move?.ended;
    if (ended && hold) {
      const deposition: Deposition = Object.freeze({ reason: ended.reason, fencingToken: hold.term.fencingToken, ...(ended.error ? { error: ended.error } : {}) });
      this.emit('deposed', ended.reason, deposition);
    }
  }

  private lossReason(error: LockLostError | undefined): DeposedReason {
    const session = this.hold?.session;
    if (error?.cause instanceof SessionLostError || (session !== undefined && !session.isAlive())) return 'session-lost';
    return 'key-lost';
  }

  private inBackground(p: Promise<unknown>): void {
    this.background.add(p);
    const done = (): void => void this.background.delete(p);
    p.then(done, done);
  }

  private get what(): string {
    return `election "${this.key}"`;
  }
}

/** The hold engine specialised for terms: builds the term handle and reports each transition. */
class TermEngine extends Contender<Hold, KVPair | null> {
  private readonly key: string;

  constructor(
    host: RecipeHost,
    config: ContenderConfig<KVPair | null>,
    private readonly listener: (from: HoldState, to: HoldState, detail: TransitionDetail<Hold>) => void,
  ) {
    super(host, config);
    this.key = config.key;
  }

  protected wrap(view: HoldingView): Hold {
    const term: LeaderTerm = Object.freeze({
      key: this.key,
      fencingToken: view.fencingToken,
      sessionId: view.session.id,
      get signal() {
        return view.signal();
      },
      get validUntil() {
        return view.session.validUntil;
      },
    });
    return { term, session: view.session };
  }

  protected override onTransition(from: HoldState, to: HoldState, detail: TransitionDetail<Hold>): void {
    this.listener(from, to, detail);
  }
}
