/**
 * DoubleBarrier: `count` participants start together and finish together (Curator's
 * `DistributedDoubleBarrier`, etcd's `recipe.DoubleBarrier`).
 *
 * Layout under a prefix `P`:
 * - `P/<session>` — one key per participant, locked by the participant's own session, which uses
 *   `Behavior: delete`: a participant that dies (crash, partition past its TTL) is counted out
 *   when Consul ends its session, without anybody's help;
 * - `P/.ready` — written by whoever first sees `count` participants, so a participant that reads
 *   late (after a fast one already left) still knows the round started.
 *
 * `enter()`: create the session and the participant key, then block on the prefix until
 * `.ready` exists or `count` participant keys are locked (then write `.ready`). `leave()`: delete
 * our key, then block until no participant key is left; the last to see that removes `.ready`
 * (check-and-set, so a new round's marker is never removed). A failed or cancelled `enter()`
 * removes what it wrote and destroys its session before it rejects.
 *
 * Hazard: a participant that dies after `.ready` was written does not undo the start; it only
 * stops holding the others in `leave()` once its session ends (2×ttl, or healthCheckTtl after
 * its last heartbeat).
 */
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import { ClosedError, ConfigError, IllegalStateError, SessionLostError, abortReason } from '../../errors.js';
import { describe, toMs } from '../../internal/duration.js';
import { validateKey } from '../../internal/keys.js';
import { checkLocalOptions } from '../../internal/options.js';
import { SafeEmitter } from '../../internal/safe-emitter.js';
import { StateMachine, type MachineSpec, type Moves } from '../../internal/state-machine.js';
import { resolveWaitOptions, waitSignal, type WaitOptions } from '../../internal/wait.js';
import { blockingQuery } from '../../loop/blocking-query.js';
import { Session, resolveSessionOptions, type ResolvedSessionOptions } from '../../session/session.js';
import { isTransient } from '../../transport/client.js';
import type { KVPair } from '../../transport/index.js';
import { normalizePrefix } from '../hold/keys.js';

/** Defaults, each with its reason. */
export const DOUBLE_BARRIER_DEFAULTS = Object.freeze({
  /** As a lock's: rides out a leader election; a dead participant is counted out after 2×ttl. */
  ttlMs: 15_000,
  /** Participant keys are named after their session and never re-acquired: lock-delay would delay nobody. */
  lockDelayMs: 0,
  sessionName: 'consul-recipes double barrier',
  /** Blocking wait of each read while waiting. Cancelling never waits for it. */
  waitTimeMs: 60_000,
});

const READY = '.ready';

/** Options of `coord.doubleBarrier(prefix, options)`. */
export interface DoubleBarrierOptions {
  /** Participants per round: `enter()` resolves once this many have entered. Required. */
  count: number;
  /** TTL of each participant's session: a dead participant is counted out 2×ttl after its last renewal. @default '15s' */
  ttl?: string | number;
  /** Binds the participant session to a heartbeated agent TTL check (a dead participant is counted out sooner). @default none */
  healthCheckTtl?: string | number;
  /** Name of the participant session. @default 'consul-recipes double barrier' */
  sessionName?: string;
  /** Blocking wait per read while waiting. @default '1m' */
  waitTime?: string | number;
}

export type DoubleBarrierState = 'idle' | 'entering' | 'entered' | 'leaving' | 'closed';

/**
 * `closed` only from a resting state: close() lets a running enter/leave unwind first. After
 * `leave()` the barrier is `idle` again and may enter the next round.
 */
const DOUBLE_BARRIER_TRANSITIONS: Moves<DoubleBarrierState> = {
  idle: ['entering', 'closed'],
  entering: ['entered', 'idle'],
  entered: ['leaving', 'closed'],
  leaving: ['idle'],
  closed: [],
};

/** Events of a {@link DoubleBarrier}. */
export interface DoubleBarrierEvents {
  /** `count` participants entered: `enter()` resolves. */
  entered: [];
  /** Every participant left: `leave()` resolves. */
  left: [];
  /** A read failed while waiting; the wait retries with backoff. */
  error: [error: unknown];
}

/** A participant of the double barrier under `prefix`. Create one per participant. */
export class DoubleBarrier extends SafeEmitter<DoubleBarrierEvents> {
  readonly prefix: string;
  readonly count: number;
  private readonly ctx: RecipeContext;
  private readonly sessionOptions: ResolvedSessionOptions;
  private readonly waitTimeMs: number;
  private readonly machine: StateMachine<DoubleBarrierState, undefined, DoubleBarrier>;

  private static readonly MACHINE: MachineSpec<DoubleBarrierState, undefined, DoubleBarrier> = Object.freeze({
    initial: 'idle',
    moves: DOUBLE_BARRIER_TRANSITIONS,
    emit: (b: DoubleBarrier, from: DoubleBarrierState, to: DoubleBarrierState) => {
      if (to === 'entered' && from === 'entering') b.emit('entered');
      if (to === 'idle' && from === 'leaving') b.emit('left');
    },
  });
  private readonly closedSignal = new AbortController();
  private session: Session | undefined;
  private running: Promise<unknown> | undefined;
  private closing: Promise<void> | undefined;

  constructor(host: RecipeHost, prefix: string, options: DoubleBarrierOptions) {
    validateKey('prefix', prefix);
    if (options === null || typeof options !== 'object') throw new ConfigError(`doubleBarrier() options must be an object with a "count", got ${describe(options)}`, 'options');
    checkLocalOptions(options, ['count', 'ttl', 'healthCheckTtl', 'sessionName', 'waitTime'], 'doubleBarrier()');
    const { count } = options;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) {
      throw new ConfigError(`option "count" must be a positive integer, got ${describe(count)}`, 'count');
    }
    const normalized = normalizePrefix(prefix);
    if (normalized === '') throw new ConfigError(`prefix must name a folder, got ${describe(prefix)}`, 'prefix');
    const sessionOptions = resolveSessionOptions({
      name: options.sessionName ?? DOUBLE_BARRIER_DEFAULTS.sessionName,
      ttl: options.ttl ?? DOUBLE_BARRIER_DEFAULTS.ttlMs,
      lockDelay: DOUBLE_BARRIER_DEFAULTS.lockDelayMs,
      behavior: 'delete',
      // Counted out by TTL or by the heartbeat check only: the participant sees both first.
      checks: [],
      ...(options.healthCheckTtl !== undefined ? { healthCheckTtl: options.healthCheckTtl } : {}),
    });
    const waitTimeMs = options.waitTime === undefined ? DOUBLE_BARRIER_DEFAULTS.waitTimeMs : toMs('waitTime', options.waitTime, { min: 1, max: 10 * 60_000 });
    const ctx = contextOf(host);
    super(ctx.logger, `double barrier "${normalized}"`);
    this.ctx = ctx;
    this.prefix = normalized;
    this.count = count;
    this.sessionOptions = sessionOptions;
    this.waitTimeMs = waitTimeMs;
    this.machine = new StateMachine<DoubleBarrierState, undefined, DoubleBarrier>(DoubleBarrier.MACHINE, this, `double barrier "${normalized}"`, ctx.logger);
    ctx.lifetime.track(this);
  }

  get state(): DoubleBarrierState {
    return this.machine.state;
  }

  /**
   * Enters and resolves once `count` participants have entered. Rejects with `TimeoutError`, the
   * signal's reason or `ClosedError`, after removing this participant again.
   */
  enter(options?: WaitOptions): Promise<void> {
    const wait = resolveWaitOptions(options, 'enter()');
    this.assertState('idle', 'enter()');
    if (wait.signal?.aborted) return Promise.reject(abortReason(wait.signal));
    this.machine.transition('entering');
    const run = this.doEnter(waitSignal(wait, `${this.count} participants to enter double barrier "${this.prefix}"`, this.closedSignal.signal));
    this.running = run.catch(() => undefined);
    return run;
  }

  /**
   * Leaves and resolves once every participant has left (a dead one counts as left when its
   * session ends). A timeout or abort rejects, but this participant has left already.
   */
  leave(options?: WaitOptions): Promise<void> {
    const wait = resolveWaitOptions(options, 'leave()');
    this.assertState('entered', 'leave()');
    this.machine.transition('leaving');
    const run = this.doLeave(waitSignal(wait, `every participant to leave double barrier "${this.prefix}"`, this.closedSignal.signal));
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Cancels a running enter/leave, leaves, and destroys the session. Idempotent; never rejects. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closedSignal.abort(new ClosedError(`double barrier "${this.prefix}"`));
      await this.running;
      await this.dropSession();
      this.machine.transition('closed');
      this.ctx.lifetime.untrack(this);
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private doEnter(linked: { signal: AbortSignal; dispose: () => void }): Promise<void> {
    return this.step(linked, 'entered', async () => {
      const session = await Session.open(this.ctx, { ...this.sessionOptions, signal: linked.signal });
      this.session = session;
      const mine = `${this.prefix}/${session.id}`;
      if (!(await this.ctx.api.kv.put(mine, null, { acquire: session.id, signal: linked.signal }))) {
        throw new SessionLostError(session.id, 'Consul refused to lock the participant key with it');
      }
      await this.until(linked.signal, async (pairs) => {
        if (pairs.some((p) => p.key === `${this.prefix}/${READY}`)) return true;
        if (participants(pairs, this.prefix).length < this.count) return false;
        await this.ctx.api.kv.put(`${this.prefix}/${READY}`, null, { signal: linked.signal });
        return true;
      });
    });
  }

  private doLeave(linked: { signal: AbortSignal; dispose: () => void }): Promise<void> {
    // Whatever the outcome, our key is gone (deleted here, or with the session): we have left.
    return this.step(linked, 'idle', async () => {
      const session = this.session;
      if (session) await this.ctx.api.kv.delete(`${this.prefix}/${session.id}`, { signal: linked.signal });
      await this.until(linked.signal, async (pairs) => {
        if (participants(pairs, this.prefix).length > 0) return false;
        const ready = pairs.find((p) => p.key === `${this.prefix}/${READY}`);
        // Check-and-set: a marker written for a new round since our read stays.
        if (ready) await this.ctx.api.kv.delete(ready.key, { cas: ready.modifyIndex, signal: linked.signal });
        return true;
      });
      await this.dropSession();
    });
  }

  /**
   * Runs an enter or leave: on success moves to `to`; on failure drops the session (removing our
   * key) and goes back to `idle`, rejecting with the abort reason when the wait was cancelled.
   */
  private async step(linked: { signal: AbortSignal; dispose: () => void }, to: 'entered' | 'idle', body: () => Promise<void>): Promise<void> {
    try {
      await body();
      this.machine.transition(to);
    } catch (err) {
      await this.dropSession();
      this.machine.transition('idle');
      throw linked.signal.aborted ? abortReason(linked.signal) : err;
    } finally {
      linked.dispose();
    }
  }

  /** Blocks on the prefix until `done(pairs)` says so. */
  private async until(signal: AbortSignal, done: (pairs: KVPair[]) => Promise<boolean>): Promise<void> {
    const reads = blockingQuery<KVPair[]>(
      async ({ index, waitMs, signal: s }) => {
        const { pairs, meta } = await this.ctx.api.kv.list(`${this.prefix}/`, { index, waitMs, signal: s });
        return { value: pairs, meta };
      },
      { signal, waitMs: this.waitTimeMs, isFatal: (err) => !isTransient(err), onError: (err) => this.emit('error', err) },
    );
    for await (const { value } of reads) {
      if (await done(value)) return;
    }
    throw abortReason(signal);
  }

  private async dropSession(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    // Behavior delete: destroying the session removes our participant key with it.
    await session?.destroy();
  }

  private assertState(expected: DoubleBarrierState, call: string): void {
    if (this.closing) throw new ClosedError(`double barrier "${this.prefix}"`);
    if (!this.machine.is(expected)) throw new IllegalStateError(`double barrier "${this.prefix}": ${call} needs state ${expected}`, this.machine.state);
  }
}

/** Participant keys still locked by a live session (the `.ready` marker is not one). */
export function participants(pairs: readonly KVPair[], prefix: string): KVPair[] {
  return pairs.filter((p) => p.session !== undefined && p.key !== `${prefix}/${READY}` && !p.key.slice(prefix.length + 1).includes('/'));
}
