/**
 * Queue: a durable work queue in Consul KV with at-least-once delivery.
 *
 * Algorithm (key layout in ./record.ts):
 * - `put` writes the message and advances the sequence in one transaction: `cas P/seq` (the
 *   number it read, +1) and `set P/msg/<priority>-<sequence>`. A producer keeps the sequence's
 *   index from its last answer, so an uncontended put is one request; a lost race reads again.
 * - Consumers claim a message by locking its key with their session in a transaction that first
 *   checks the key's ModifyIndex (`check-index`, `lock`): one claimant wins each message. The
 *   claim rewrites the record with `attempt + 1`. The claim's ModifyIndex is what `ack` and
 *   `nack` check against.
 * - `ack` is `check-index` + `delete`: after the consumer's session ended (the message was handed
 *   back, perhaps re-delivered) the index has moved and the ack is refused with
 *   `ClaimLostError`. `nack` is `check-index` + `unlock`, with a `notBefore` for a delay; past
 *   `maxAttempts` it moves the message to the dead-letter prefix in the same transaction.
 * - No stampede: idle consumers (one key per Queue instance with waiting takers,
 *   `P/takers/<session>`, locked by its session) form a line ordered by CreateIndex. Only the
 *   first in line watches `P/msg/` (a blocking list); every other one blocks on the key of the
 *   one before it, as in ZooKeeper's lock recipe. A put therefore wakes one consumer, whatever the
 *   number of idle ones; that consumer claims, and leaves the line when no taker of its own came
 *   back within LINGER_MS, which wakes exactly the next one.
 *
 * Guarantee: at-least-once. A message leaves the queue only by an ack, or to the dead-letter
 * prefix. A consumer that crashes or is cut off gives its messages back when its session ends
 * (Consul unlocks the keys; lock-delay then keeps them unclaimable for `lockDelay`), and its
 * `msg.signal` aborts first: the session counts itself lost at its local deadline (ttl after its
 * last renewal), a full ttl before Consul invalidates it. Hazard: the same message can be
 * processed twice (a consumer that finished but crashed before its ack, a consumer paused past
 * its deadline); make the work idempotent (see the guide's idempotency-key example). Work already
 * under way when `msg.signal` aborts cannot be recalled.
 */
import { randomUUID } from 'node:crypto';
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import { ClaimLostError, ClosedError, ConfigError, ConsulError, DecodeError, ReleasedError, SessionLostError, abortReason } from '../../errors.js';
import { linkSignals, sleep } from '../../internal/abort.js';
import { toMs } from '../../internal/duration.js';
import { SafeEmitter } from '../../internal/safe-emitter.js';
import { StateMachine, type MachineSpec, type Moves } from '../../internal/state-machine.js';
import { checkOptions } from '../../internal/options.js';
import { waitSignal } from '../../internal/wait.js';
import { backoffDelay } from '../../loop/backoff.js';
import { Session } from '../../session/session.js';
import { isTransient } from '../../transport/client.js';
import type { KVPair, TxnKVOp } from '../../transport/index.js';
import {
  resolveConsumeOptions,
  resolvePutOptions,
  resolveQueueOptions,
  resolveWaitOptions,
  type ConsumeOptions,
  type NackOptions,
  type PutOptions,
  type QueueOptions,
  type ResolvedQueueOptions,
  type WaitOptions,
} from './options.js';
import {
  decodePayload,
  decodeRecord,
  encodePayload,
  encodeRecord,
  lineOrder,
  messageId,
  nextCandidate,
  parseMessageId,
  queueKeys,
  type Candidate,
  type MessageRecord,
} from './record.js';

export { QUEUE_DEFAULTS, type QueueOptions, type PutOptions, type NackOptions, type ConsumeOptions, type WaitOptions } from './options.js';

/** Backoff of the consumer loop after a failure (Consul unreachable, no leader). */
const PUMP_BACKOFF = Object.freeze({ minMs: 100, maxMs: 5_000 });
/** Backoff of a message whose claim Consul refused for lock-delay (its previous consumer's session was invalidated). */
const REFUSED_BACKOFF = Object.freeze({ minMs: 100, maxMs: 1_000 });
/**
 * How long the first in line stays there after its last taker was served. A consume loop takes
 * again right after its ack (a round trip or two): staying first saves leaving and re-joining the
 * line (three requests per message) at the cost of up to this long before the next consumer takes
 * over when this one is busy.
 */
const LINGER_MS = 50;
/** Backoff between puts that lost the sequence race to another producer. */
const PUT_RACE_BACKOFF = Object.freeze({ minMs: 5, maxMs: 200 });

export type QueueState = 'open' | 'closing' | 'closed';

const QUEUE_TRANSITIONS: Moves<QueueState> = {
  open: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** The life of one delivery: claimed, then settled by ack or nack, or lost with the claim. */
export type MessageState = 'claimed' | 'acked' | 'nacked' | 'lost';

const MESSAGE_TRANSITIONS: Moves<MessageState> = {
  claimed: ['acked', 'nacked', 'lost'],
  acked: [],
  nacked: [],
  lost: [],
};

/** Events of a {@link Queue}. */
export interface QueueEvents {
  /** This instance claimed a message (before it is handed to a taker). */
  claimed: [id: string, attempt: number];
  /** A message was moved to the dead-letter prefix after `attempts` deliveries. */
  deadLettered: [id: string, attempts: number, reason: string];
  /** A background failure: a read or claim that will be retried, a message that does not decode, a give-back on close that failed. */
  error: [error: unknown];
  /** `close()` finished. */
  closed: [];
}

/** One delivery of a message, owned by the taker until it is acked or nacked. */
export interface QueueMessage<T = unknown> {
  /** Stable across deliveries: `<9999 - priority>-<sequence>` (sorts in delivery order). */
  readonly id: string;
  readonly payload: T;
  /** 1 on the first delivery, then one more per delivery. */
  readonly attempt: number;
  readonly priority: number;
  readonly enqueuedAt: Date;
  /** 'claimed' | 'acked' | 'nacked' | 'lost'; reading it checks the session deadline first. */
  readonly state: MessageState;
  /**
   * Aborts when the claim ends: with `ClaimLostError` when the consumer's session is lost (the
   * message goes back to the queue), with `ReleasedError` (`name: 'AbortError'`) once settled or
   * when `close()` hands it back. Reading it checks the session deadline first.
   */
  readonly signal: AbortSignal;
  /** Removes the message (check-and-set against the claim). `ClaimLostError` when the claim is gone. Idempotent. */
  ack(): Promise<void>;
  /** Hands the message back, due after `delay`; past `maxAttempts` it goes to the dead-letter prefix. `ClaimLostError` when the claim is gone. */
  nack(options?: NackOptions): Promise<void>;
}

/** A dead letter as `deadLetters()` lists it. */
export interface DeadLetter<T = unknown> {
  readonly id: string;
  readonly payload: T;
  readonly attempts: number;
  readonly reason: string;
  readonly enqueuedAt: Date;
}

interface Waiter<T> {
  deliver(message: QueueMessage<T>): void;
}

/**
 * A work queue under `prefix`. Any number of producers and consumers, in any number of processes,
 * may share one prefix. Create one Queue per process (its takers share one consumer session).
 */
export class Queue<T = unknown> extends SafeEmitter<QueueEvents> {
  readonly prefix: string;
  private readonly ctx: RecipeContext;
  private readonly o: ResolvedQueueOptions;
  private readonly keys: ReturnType<typeof queueKeys>;
  private readonly machine: StateMachine<QueueState, undefined, Queue>;

  private static readonly MACHINE: MachineSpec<QueueState, undefined, Queue> = Object.freeze({
    initial: 'open',
    moves: QUEUE_TRANSITIONS,
    emit: (q: Queue, _from: QueueState, to: QueueState) => {
      if (to === 'closed') q.emit('closed');
    },
  });
  private readonly waiters: Array<Waiter<T>> = [];
  private readonly inFlight = new Set<Delivery<T>>();
  /** Stops the consumer loop and every wait. */
  private readonly closed = new AbortController();
  /** Aborted when the last waiter leaves, so the consumer loop stops blocking and leaves the line. */
  private idle = new AbortController();
  private pumping: Promise<void> | undefined;
  /** Set while the first in line lingers: a new taker ends the linger at once. */
  private arrival: (() => void) | undefined;
  private session: Session | undefined;
  private sessionOpening: Promise<Session> | undefined;
  /** Sequence number and index from this producer's last put: an uncontended put needs no read. */
  private sequence: { value: bigint; index: number } | undefined;
  /** Messages whose claim Consul refused for lock-delay, and until when to leave them. */
  private readonly refused = new Map<string, { until: number; count: number }>();
  /** Undecodable message keys already reported (key@index). */
  private readonly reported = new Set<string>();
  private closing: Promise<void> | undefined;

  constructor(host: RecipeHost, prefix: string, options: QueueOptions = {}) {
    const o = resolveQueueOptions(prefix, options);
    const ctx = contextOf(host);
    super(ctx.logger, `queue "${o.prefix}"`);
    this.ctx = ctx;
    this.o = o;
    this.prefix = o.prefix;
    this.keys = queueKeys(o.prefix);
    this.machine = new StateMachine<QueueState, undefined, Queue>(Queue.MACHINE, this as Queue, `queue "${o.prefix}"`, ctx.logger);
    ctx.lifetime.track(this);
  }

  get state(): QueueState {
    return this.machine.state;
  }

  /**
   * Enqueues `payload` (JSON, or a Buffer stored as bytes) and resolves with its ID. Durable once
   * resolved. A put whose answer was lost is settled by reading the message back, so a put never
   * enqueues twice.
   */
  put(payload: T, options?: PutOptions): Promise<string> {
    const { priority, delayMs, signal } = resolvePutOptions(options);
    if (payload === undefined) throw new ConfigError('payload must not be undefined (use null)', 'payload');
    if (!this.machine.is('open')) return Promise.reject(this.closedError());
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return this.write(payload, priority, delayMs, signal);
  }

  private async write(payload: T, priority: number, delayMs: number, signal: AbortSignal | undefined): Promise<string> {
    const now = Date.now();
    const nonce = randomUUID();
    const value = encodeRecord({ ...encodePayload(payload), enqueuedAt: now, attempt: 0, nonce, ...(delayMs > 0 ? { notBefore: now + delayMs } : {}) });
    for (let race = 0; ; ) {
      const seq = this.sequence ?? (await this.readSequence(signal));
      const next = seq.value + 1n;
      const id = messageId(priority, next);
      const key = this.keys.message(id);
      let result;
      try {
        result = await this.ctx.api.txn(
          [
            { verb: 'cas', key: this.keys.sequence, value: next.toString(), index: seq.index },
            { verb: 'set', key, value },
          ],
          signal,
        );
      } catch (err) {
        this.sequence = undefined;
        if (signal?.aborted || !isTransient(err)) throw err;
        // The answer was lost: the message is there with our nonce, or the put did not happen.
        if (await this.holdsNonce(key, nonce, signal)) return id;
        race += 1;
        await sleep(backoffDelay(race, PUMP_BACKOFF), signal);
        continue;
      }
      if (result.ok) {
        const entry = result.results.find((r) => r.key === this.keys.sequence);
        this.sequence = entry ? { value: next, index: entry.modifyIndex } : undefined;
        return id;
      }
      // Another producer took this number first.
      this.sequence = undefined;
      race += 1;
      if (race > 1) await sleep(backoffDelay(race - 1, PUT_RACE_BACKOFF), signal);
    }
  }

  /**
   * Waits for the next due message and claims it for the caller. Rejects with `TimeoutError`
   * after `timeout`, with the signal's reason when `signal` aborts, with `ClosedError` on close.
   */
  take(options?: WaitOptions): Promise<QueueMessage<T>> {
    const wait = resolveWaitOptions(options, 'take()');
    if (!this.machine.is('open')) return Promise.reject(this.closedError());
    if (wait.signal?.aborted) return Promise.reject(abortReason(wait.signal));
    return new Promise<QueueMessage<T>>((resolve, reject) => {
      const linked = waitSignal(wait, `a message on queue "${this.prefix}"`, this.closed.signal);
      const waiter: Waiter<T> = {
        deliver: (message) => {
          finish();
          resolve(message);
        },
      };
      const onAbort = (): void => {
        finish();
        reject(abortReason(linked.signal));
      };
      const finish = (): void => {
        linked.signal.removeEventListener('abort', onAbort);
        linked.dispose();
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        if (this.waiters.length === 0) this.idle.abort();
      };
      if (linked.signal.aborted) {
        onAbort();
        return;
      }
      linked.signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.arrival?.();
      this.startPump();
    });
  }

  /**
   * Messages as they come, holding at most `concurrency` unsettled ones: the next take starts
   * only when fewer are out. Ends (without an error) when `signal` aborts or the queue closes.
   */
  consume(options?: ConsumeOptions): AsyncGenerator<QueueMessage<T>, void, undefined> {
    const { concurrency, signal } = resolveConsumeOptions(options);
    this.assertOpen();
    return this.messages(concurrency, signal);
  }

  private async *messages(concurrency: number, signal: AbortSignal | undefined): AsyncGenerator<QueueMessage<T>, void, undefined> {
    const stop = linkSignals([signal, this.closed.signal]);
    let out = 0;
    let freed: (() => void) | undefined;
    try {
      while (!stop.signal.aborted) {
        while (out >= concurrency) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              stop.signal.removeEventListener('abort', done);
              freed = undefined;
              resolve();
            };
            freed = done;
            stop.signal.addEventListener('abort', done, { once: true });
          });
          if (stop.signal.aborted) return;
        }
        let message: QueueMessage<T>;
        try {
          message = await this.take({ signal: stop.signal });
        } catch (err) {
          if (stop.signal.aborted) return;
          throw err;
        }
        out += 1;
        void (message as Delivery<T>).settled.then(() => {
          out -= 1;
          freed?.();
        });
        yield message;
      }
    } finally {
      stop.dispose();
    }
  }

  /** Messages in the queue, claimed or not (not the dead letters). One read. */
  size(options?: Pick<WaitOptions, 'signal'>): Promise<number> {
    checkOptions(options, ['signal'], 'size()');
    return this.ctx.api.kv
      .keys(this.keys.messages, { signal: options?.signal })
      .then(({ keys }) => keys.filter((k) => parseMessageId(k.slice(this.keys.messages.length)) !== undefined).length);
  }

  /** The dead letters of this queue, oldest first. */
  deadLetters(options?: Pick<WaitOptions, 'signal'>): Promise<Array<DeadLetter<T>>> {
    checkOptions(options, ['signal'], 'deadLetters()');
    const prefix = `${this.o.deadLetter}/`;
    return this.ctx.api.kv.list(prefix, { signal: options?.signal }).then(({ pairs }) => pairs.flatMap((pair) => {
      try {
        const record = decodeRecord(pair);
        const id = pair.key.slice(prefix.length);
        return [{ id, payload: decodePayload(record) as T, attempts: record.attempt, reason: record.deadLetter?.reason ?? 'unknown', enqueuedAt: new Date(record.enqueuedAt) }];
      } catch {
        return [];
      }
    }));
  }

  /**
   * Stops taking: pending takes reject with `ClosedError`, unsettled messages are handed back
   * (their attempt not counted, their `signal` aborted first), the consumer session is destroyed.
   * Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.machine.transition('closing');
      this.closed.abort(new ClosedError(`queue "${this.prefix}"`));
      await this.pumping;
      await Promise.allSettled([...this.inFlight].map((d) => d.giveBack('the queue was closed')));
      await this.sessionOpening?.catch(() => undefined);
      await this.session?.destroy();
      this.ctx.lifetime.untrack(this);
      this.machine.transition('closed');
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Producer helpers

  private async readSequence(signal: AbortSignal | undefined): Promise<{ value: bigint; index: number }> {
    const { pair } = await this.ctx.api.kv.get(this.keys.sequence, { signal });
    if (pair === null) return { value: 0n, index: 0 };
    const text = pair.value?.toString('utf8') ?? '';
    if (!/^\d+$/.test(text)) throw new DecodeError(pair.key, `the queue sequence is not a number: ${JSON.stringify(text.slice(0, 40))}`);
    return { value: BigInt(text), index: pair.modifyIndex };
  }

  private async holdsNonce(key: string, nonce: string, signal: AbortSignal | undefined): Promise<boolean> {
    const { pair } = await this.ctx.api.kv.get(key, { consistent: true, signal });
    if (pair === null) return false;
    try {
      return decodeRecord(pair).nonce === nonce;
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The consumer loop: one per instance, running while takers wait

  private startPump(): void {
    if (this.pumping || !this.machine.is('open')) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.waiters.length > 0) this.startPump();
    });
  }

  private async pump(): Promise<void> {
    let failures = 0;
    let inLine: Session | undefined;
    /** The session with which this instance is first in line (nobody can get ahead of it then). */
    let first: Session | undefined;
    try {
      while (this.waiters.length > 0 && this.machine.is('open')) {
        // Takers may have left and others come since the last round: a fresh "no taker left" cue.
        if (this.idle.signal.aborted) this.idle = new AbortController();
        const idle = this.idle.signal;
        let session: Session | undefined;
        try {
          session = await this.ensureSession();
          const scope = linkSignals([idle, this.closed.signal, session.signal]);
          try {
            if (inLine !== session) {
              await this.joinLine(session, scope.signal);
              inLine = session;
            }
            if (first !== session) await this.waitForTurn(session, scope.signal);
            first = session;
            await this.serve(session, scope.signal);
          } finally {
            scope.dispose();
          }
          failures = 0;
          await this.lingerForTaker();
        } catch (err) {
          first = undefined;
          if (this.waiters.length === 0 || !this.machine.is('open')) break;
          // Every taker left (the loop was stopped) and new ones came meanwhile: not a failure.
          if (idle.aborted) continue;
          if (session !== undefined && !session.isAlive()) continue; // a new session next round
          failures += 1;
          this.ctx.logger.debug({ queue: this.prefix, failures, err: String(err) }, 'queue consumer loop failed; retrying');
          this.emit('error', err);
          const pause = linkSignals([this.idle.signal, this.closed.signal]);
          try {
            await sleep(backoffDelay(failures, PUMP_BACKOFF), pause.signal);
          } catch {
            break; // no taker left, or closed
          } finally {
            pause.dispose();
          }
        }
      }
    } finally {
      if (inLine?.isAlive()) await this.leaveLine(inLine);
    }
  }

  /** Waits up to LINGER_MS for a new taker (or close) before the loop gives up its place in line. */
  private lingerForTaker(): Promise<void> {
    if (this.waiters.length > 0 || !this.machine.is('open')) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.closed.signal.removeEventListener('abort', done);
        this.arrival = undefined;
        resolve();
      };
      const timer = setTimeout(done, LINGER_MS);
      this.closed.signal.addEventListener('abort', done, { once: true });
      this.arrival = done;
    });
  }

  private async ensureSession(): Promise<Session> {
    if (this.session?.isAlive()) return this.session;
    const old = this.session;
    this.session = undefined;
    // A lost session may still exist on the server: destroying it hands its messages back now.
    if (old) void old.destroy();
    this.sessionOpening ??= Session.open(this.ctx, { ...this.o.sessionOptions, signal: this.closed.signal }).finally(() => {
      this.sessionOpening = undefined;
    });
    const session = await this.sessionOpening;
    if (!this.machine.is('open')) {
      await session.destroy();
      throw new ClosedError(`queue "${this.prefix}"`);
    }
    this.session = session;
    return session;
  }

  private async joinLine(session: Session, signal: AbortSignal): Promise<void> {
    const joined = await this.ctx.api.kv.put(this.keys.taker(session.id), null, { acquire: session.id, signal });
    if (!joined) throw new SessionLostError(session.id, 'Consul refused to lock the taker key with it');
  }

  /** Leaves the line; never rejects (a key left behind is unlocked with its session and skipped). */
  private async leaveLine(session: Session): Promise<void> {
    try {
      await this.ctx.api.kv.delete(this.keys.taker(session.id));
    } catch (err) {
      this.ctx.logger.debug({ queue: this.prefix, err: String(err) }, 'could not leave the line; the key goes with the session');
    }
  }

  /** Resolves once this instance is first in line: blocks on the key of the one before it. */
  private async waitForTurn(session: Session, signal: AbortSignal): Promise<void> {
    const mine = this.keys.taker(session.id);
    for (;;) {
      const { pairs } = await this.ctx.api.kv.list(this.keys.takers, { signal });
      for (const stale of pairs.filter((p) => p.session === undefined)) {
        // A consumer whose session ended left its key unlocked: tidy it (CAS, so a re-join stays).
        await this.ctx.api.kv.delete(stale.key, { cas: stale.modifyIndex, signal }).catch(() => undefined);
      }
      const line = lineOrder(pairs);
      const at = line.findIndex((p) => p.key === mine);
      if (at === -1) {
        await this.joinLine(session, signal);
        continue;
      }
      if (at === 0) return;
      const before = line[at - 1] as KVPair;
      for (;;) {
        const { pair } = await this.ctx.api.kv.get(before.key, { index: BigInt(before.modifyIndex), waitMs: this.o.waitTimeMs, signal });
        if (pair === null || pair.session === undefined || pair.modifyIndex !== before.modifyIndex) break;
      }
    }
  }

  /** First in line: claims due messages for the waiting takers, one at a time, in key order. */
  private async serve(session: Session, signal: AbortSignal): Promise<void> {
    let index = 0n;
    let waitMs = this.o.waitTimeMs;
    while (this.waiters.length > 0) {
      const { pairs, meta } = await this.ctx.api.kv.list(this.keys.messages, { index, waitMs, signal });
      const now = Date.now();
      const refusedUntil = new Map([...this.refused].map(([id, r]) => [id, r.until]));
      const { candidate, wakeAt, broken } = nextCandidate(pairs, this.keys.messages, now, refusedUntil);
      // Forget refusals of messages that are gone (acked or dead-lettered elsewhere).
      for (const id of this.refused.keys()) if (!pairs.some((p) => p.key === this.keys.message(id))) this.refused.delete(id);
      this.reportBroken(broken);
      if (candidate === undefined) {
        index = meta.index > 0n ? meta.index : 1n;
        waitMs = Math.max(1, Math.min(this.o.waitTimeMs, wakeAt === undefined ? Infinity : wakeAt - now));
        continue;
      }
      index = 0n;
      if (candidate.record.attempt >= this.o.maxAttempts) {
        await this.moveToDeadLetter(candidate.id, candidate.pair.modifyIndex, candidate.record, `delivered ${candidate.record.attempt} times without an ack`);
        continue;
      }
      const delivery = await this.claim(candidate, session);
      if (delivery === undefined) continue;
      const waiter = this.waiters.shift();
      if (waiter === undefined) {
        // Every taker gave up while the claim was in flight: hand it back, attempt uncounted.
        await delivery.giveBack('no taker was waiting any more');
        return;
      }
      if (this.waiters.length === 0) this.idle.abort();
      waiter.deliver(delivery);
    }
  }

  /** One claim: check-index + lock. Undefined when somebody else changed it first or lock-delay refused it. */
  private async claim(c: Candidate, session: Session): Promise<Delivery<T> | undefined> {
    const key = c.pair.key;
    const { notBefore: _due, ...rest } = c.record;
    const record: MessageRecord = { ...rest, attempt: c.record.attempt + 1 };
    let result;
    try {
      // No abort signal: a claim that may have landed must be seen through, or it would stay
      // claimed by a live session nobody serves.
      result = await this.ctx.api.txn([
        { verb: 'check-index', key, index: c.pair.modifyIndex },
        { verb: 'lock', key, value: encodeRecord(record), session: session.id },
      ]);
    } catch (err) {
      if (!isTransient(err)) throw err;
      const { pair } = await this.ctx.api.kv.get(key, { consistent: true });
      if (pair?.session !== session.id) return undefined;
      return this.deliveryOf(c.id, pair, decodeRecord(pair), session);
    }
    if (!result.ok) {
      const lockError = result.errors.find((e) => e.opIndex === 1);
      if (lockError && /lock delay/i.test(lockError.what)) {
        const count = (this.refused.get(c.id)?.count ?? 0) + 1;
        this.refused.set(c.id, { until: Date.now() + backoffDelay(count, REFUSED_BACKOFF), count });
      } else if (lockError && /session/i.test(lockError.what)) {
        throw new SessionLostError(session.id, lockError.what);
      }
      return undefined;
    }
    this.refused.delete(c.id);
    const locked = result.results.find((r) => r.key === key && r.session === session.id) ?? result.results[result.results.length - 1];
    if (!locked) throw new ConsulError(200, 'PUT /v1/txn', 'the claim transaction returned no entry');
    return this.deliveryOf(c.id, { ...locked, value: null }, record, session);
  }

  private deliveryOf(id: string, pair: KVPair, record: MessageRecord, session: Session): Delivery<T> {
    const delivery = new Delivery<T>(this.settlement, id, pair.key, pair.modifyIndex, record, session);
    this.inFlight.add(delivery);
    void delivery.settled.then(() => this.inFlight.delete(delivery));
    this.emit('claimed', id, record.attempt);
    return delivery;
  }

  private async moveToDeadLetter(id: string, index: number, record: MessageRecord, reason: string): Promise<boolean> {
    const key = this.keys.message(id);
    const dead: MessageRecord = { ...record, deadLetter: { at: Date.now(), reason } };
    const result = await this.ctx.api.txn([
      { verb: 'check-index', key, index },
      { verb: 'delete', key },
      { verb: 'set', key: `${this.o.deadLetter}/${id}`, value: encodeRecord(dead) },
    ]);
    if (result.ok) this.emit('deadLettered', id, record.attempt, reason);
    return result.ok;
  }

  private reportBroken(broken: readonly KVPair[]): void {
    for (const pair of broken) {
      const tag = `${pair.key}@${pair.modifyIndex}`;
      if (this.reported.has(tag)) continue;
      this.reported.add(tag);
      this.emit('error', new DecodeError(pair.key, 'not a queue message record; skipped'));
    }
  }

  /** What a delivery needs from its queue to settle. */
  private readonly settlement: Settlement = {
    queue: () => this.prefix,
    logger: () => this.ctx.logger,
    txn: (ops) => this.ctx.api.txn(ops),
    maxAttempts: () => this.o.maxAttempts,
    deadLetter: (id, index, record, reason) => this.moveToDeadLetter(id, index, record, reason),
    read: (key) => this.ctx.api.kv.get(key, { consistent: true }).then((r) => r.pair),
  };

  private assertOpen(): void {
    if (!this.machine.is('open')) throw this.closedError();
  }

  private closedError(): ClosedError {
    return new ClosedError(`queue "${this.prefix}"`);
  }
}

interface Settlement {
  queue(): string;
  logger(): RecipeContext['logger'];
  txn(ops: readonly TxnKVOp[]): Promise<{ ok: boolean; errors: Array<{ opIndex: number; what: string }> }>;
  maxAttempts(): number;
  deadLetter(id: string, index: number, record: MessageRecord, reason: string): Promise<boolean>;
  read(key: string): Promise<KVPair | null>;
}

/** One claimed message. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the shared machine spec serves every payload type
type AnyMessage = Delivery<any>;

class Delivery<T> implements QueueMessage<T> {
  readonly payload: T;
  readonly attempt: number;
  readonly priority: number;
  readonly enqueuedAt: Date;
  /** Resolves when the delivery leaves `claimed`. */
  readonly settled: Promise<void>;
  private readonly controller = new AbortController();
  private readonly machine: StateMachine<MessageState, Error, AnyMessage>;

  private static readonly MACHINE: MachineSpec<MessageState, Error, AnyMessage> = Object.freeze({
    initial: 'claimed',
    moves: MESSAGE_TRANSITIONS,
    logFields: (_m: AnyMessage, cause: Error | undefined) => ({ reason: cause?.message }),
    beforeEmit: (m: AnyMessage, _from: MessageState, _to: MessageState, cause: Error | undefined) => {
      m.detach();
      m.controller.abort(cause);
    },
    emit: (m: AnyMessage) => m.markSettled(),
  });
  private settling: Promise<void> | undefined;
  private settlingAs: 'acked' | 'nacked' | 'given back' | undefined;
  private markSettled!: () => void;
  private readonly detach: () => void;

  constructor(
    private readonly q: Settlement,
    readonly id: string,
    private readonly key: string,
    /** ModifyIndex of the claim: what ack and nack check against. */
    private readonly claimIndex: number,
    private readonly record: MessageRecord,
    private readonly session: Session,
  ) {
    this.payload = decodePayload(record) as T;
    this.attempt = record.attempt;
    this.priority = parseMessageId(id)?.priority ?? 0;
    this.enqueuedAt = new Date(record.enqueuedAt);
    this.settled = new Promise((resolve) => {
      this.markSettled = resolve;
    });
    this.machine = new StateMachine(Delivery.MACHINE, this as AnyMessage, `message ${id} of queue "${q.queue()}"`, q.logger());
    const onSessionEnd = (): void => this.lose('the consumer session was lost', session.signal.reason);
    const sessionSignal = session.signal;
    sessionSignal.addEventListener('abort', onSessionEnd, { once: true });
    this.detach = () => sessionSignal.removeEventListener('abort', onSessionEnd);
    if (sessionSignal.aborted) onSessionEnd();
  }

  get state(): MessageState {
    this.enforceDeadline();
    return this.machine.state;
  }

  get signal(): AbortSignal {
    this.enforceDeadline();
    return this.controller.signal;
  }

  ack(): Promise<void> {
    if (this.settling) return this.settlingAs === 'acked' ? this.settling : Promise.reject(this.alreadySettled());
    this.settlingAs = 'acked';
    this.settling = this.settle('acked', [
      { verb: 'check-index', key: this.key, index: this.claimIndex },
      { verb: 'delete', key: this.key },
    ]);
    return this.settling;
  }

  nack(options?: NackOptions): Promise<void> {
    checkOptions(options, ['delay'], 'nack()');
    const delayMs = options?.delay === undefined ? 0 : toMs('delay', options.delay);
    if (this.settling) return this.settlingAs === 'nacked' ? this.settling : Promise.reject(this.alreadySettled());
    this.settlingAs = 'nacked';
    if (this.attempt >= this.q.maxAttempts()) {
      this.settling = this.settleBy('nacked', () =>
        this.q.deadLetter(this.id, this.claimIndex, this.record, `nacked on delivery ${this.attempt} of ${this.q.maxAttempts()}`),
      );
      return this.settling;
    }
    const { notBefore: _due, ...rest } = this.record;
    const back: MessageRecord = { ...rest, ...(delayMs > 0 ? { notBefore: Date.now() + delayMs } : {}) };
    this.settling = this.settle('nacked', [
      { verb: 'check-index', key: this.key, index: this.claimIndex },
      { verb: 'unlock', key: this.key, value: encodeRecord(back), session: this.session.id },
    ]);
    return this.settling;
  }

  /** Hands the message back uncounted (close, or no taker left). Never rejects. */
  async giveBack(why: string): Promise<void> {
    if (this.settling || !this.machine.is('claimed')) return this.settling?.catch(() => undefined);
    this.settlingAs = 'given back';
    const { notBefore: _due, ...rest } = this.record;
    const back: MessageRecord = { ...rest, attempt: Math.max(0, this.attempt - 1) };
    this.settling = this.settle(
      'nacked',
      [
        { verb: 'check-index', key: this.key, index: this.claimIndex },
        { verb: 'unlock', key: this.key, value: encodeRecord(back), session: this.session.id },
      ],
      why,
    );
    await this.settling.catch((err: unknown) => this.q.logger().debug({ id: this.id, err: String(err) }, 'give-back failed; the session end hands it back'));
  }

  private settle(to: 'acked' | 'nacked', ops: TxnKVOp[], why?: string): Promise<void> {
    return this.settleBy(to, async () => {
      const result = await this.q.txn(ops);
      return result.ok;
    }, why);
  }

  /** Runs a settling write; its answer decides between `to` and `lost` (`ClaimLostError`). */
  private async settleBy(to: 'acked' | 'nacked', write: () => Promise<boolean>, why = to === 'acked' ? 'acked' : 'nacked'): Promise<void> {
    if (!this.machine.is('claimed') || !this.session.isAlive()) {
      this.enforceDeadline();
      throw this.controller.signal.reason instanceof ClaimLostError ? this.controller.signal.reason : new ClaimLostError(this.q.queue(), this.id, `the message is ${this.machine.state}`);
    }
    let ok: boolean;
    try {
      ok = await write();
    } catch (err) {
      if (!isTransient(err)) throw err;
      // The answer was lost. An ack that landed leaves no key; a nack leaves it unlocked with a new index.
      const pair = await this.q.read(this.key);
      // That proves our settle only while our session is still alive after the read: once it is
      // lost, Consul may have unlocked the message and another consumer claimed and acked it.
      ok = this.session.isAlive() && (to === 'acked' ? pair === null : pair !== null && pair.session === undefined && pair.modifyIndex !== this.claimIndex);
    }
    if (!this.machine.is('claimed')) {
      if (ok) return; // settled on the server; the local loss came second
      throw this.controller.signal.reason;
    }
    if (!ok) {
      const error = new ClaimLostError(this.q.queue(), this.id, 'the claim no longer holds (the consumer session ended, or the message was re-delivered, settled or deleted)');
      this.machine.transition('lost', error);
      throw error;
    }
    this.machine.transition(to, new ReleasedError(`message ${this.id} (${why})`, this.key));
  }

  private alreadySettled(): ClaimLostError {
    return new ClaimLostError(this.q.queue(), this.id, `the message was already ${this.settlingAs ?? this.machine.state}`);
  }

  private lose(reason: string, cause?: unknown): void {
    if (!this.machine.is('claimed')) return;
    this.machine.transition('lost', new ClaimLostError(this.q.queue(), this.id, reason, cause === undefined ? undefined : { cause }));
  }

  private enforceDeadline(): void {
    if (this.machine.is('claimed') && !this.session.isAlive()) this.lose('the consumer session was lost', this.session.signal.reason);
  }
}
