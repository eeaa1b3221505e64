/**
 * The acquire loop of every single-key hold (Lock, LeaderElection), written once. Consul's
 * `api/lock.go` algorithm, shared by both:
 *
 * 1. Block on the key (the one blocking-query loop) while another session holds it: no polling.
 * 2. Free (for the recipe) → one acquiring write. Refused while the key looked free means
 *    lock-delay (Consul refuses acquires for `lockDelay` after a holder's session was
 *    invalidated): wait a growing delay capped at `retryTime`, read again, retry. Seeing another
 *    holder resets that backoff. A write whose answer was lost (a transient error) is settled by
 *    the next read: the key then carries our session, or it does not.
 * 3. Ours → the grant (fencing token, monitor start index).
 *
 * A recipe supplies what differs: what a read of the key means (`observe`), how a write is made
 * (`write`: `?acquire` for a lock, a create-or-replace transaction for an election), how a key
 * found ours becomes a grant (`claim`), and how to undo a write on abandon.
 */
import { abortReason } from '../../errors.js';
import { sleep } from '../../internal/abort.js';
import { backoffDelay } from '../../loop/backoff.js';
import { blockingQuery, type BlockingRead } from '../../loop/blocking-query.js';
import { isTransient } from '../../transport/client.js';
import type { ConsulApi, KVPair } from '../../transport/index.js';
import type { Session } from '../../session/session.js';
import type { AcquireAttempt, Grant, HoldDriver } from './contender.js';

/** A blocking read of one key, as the blocking-query loop wants it. */
export function keyRead(api: ConsulApi, key: string, options: { consistent?: boolean } = {}): BlockingRead<KVPair | null> {
  const consistent = options.consistent === true;
  return async ({ index, waitMs, signal }) => {
    const { pair, meta } = await api.kv.get(key, { index, waitMs, signal, ...(consistent ? { consistent } : {}) });
    return { value: pair, meta };
  };
}

/**
 * The monitor read of a single-key hold (lock, election term): a consistent blocking read, as
 * Go's monitor does, so a stale follower can never tell a holder it still holds.
 */
export function consistentKeyRead(api: ConsulApi, key: string): BlockingRead<KVPair | null> {
  return keyRead(api, key, { consistent: true });
}

/** The half of a single-key recipe (Lock, LeaderElection) the hold engine drives. */
export abstract class SingleKeyDriver implements HoldDriver<KVPair | null> {
  /** The monitor's consistent blocking read of the key. */
  readonly monitorRead: BlockingRead<KVPair | null>;

  constructor(
    readonly api: ConsulApi,
    readonly key: string,
    readonly options: { readonly waitMs: number; readonly retryTimeMs: number },
  ) {
    this.monitorRead = consistentKeyRead(api, key);
  }

  /** Why the hold is gone according to `pair`, or undefined while it is ours. */
  abstract lossReason(pair: KVPair | null, sessionId: string): string | undefined;
  abstract begin(session: Session): AcquireAttempt;
  /** Gives the hold back. Must not need a signal: it runs during close and after aborts. */
  abstract release(session: Session): Promise<void>;
}

/** What a read of the key means to a contender. `held`: another session has it. */
export interface KeySeen {
  readonly kind: string;
  readonly holder?: string;
}

/** What one acquiring write told us. */
export type WriteOutcome =
  | { readonly kind: 'held'; readonly grant: Grant }
  /** Refused while the key looked free: lock-delay. */
  | { readonly kind: 'refused' }
  /** Refused because the key changed under us: read again, no backoff. */
  | { readonly kind: 'conflict' }
  /** A transient failure: the write may or may not have landed; the next read tells. */
  | { readonly kind: 'unknown' };

/** What differs between the recipes' loops (the driver carries `waitMs` and the backoff cap `retryTimeMs`). */
export interface KeyContentionOptions {
  /** First delay of the lock-delay backoff. */
  readonly retryMinMs: number;
  /** Whether waiting out somebody else's lock-delay counts as `waiting` (the election's view). */
  readonly lockDelayIsWaiting: boolean;
}

/** One attempt of one session on one key. */
export abstract class KeyContentionAttempt<S extends KeySeen> implements AcquireAttempt {
  /** An acquiring write was sent: abandon() must check whether it landed. */
  protected wrote = false;
  /** The last write was refused while the key looked free: the previous holder's lock-delay is in force. */
  lockDelayInForce = false;
  /** The holder last seen on the key, when another session held it. */
  lastHolder: string | undefined;

  protected readonly api: ConsulApi;
  protected readonly key: string;
  private readonly options: KeyContentionOptions & { readonly waitMs: number; readonly retryTimeMs: number };

  constructor(
    driver: SingleKeyDriver,
    protected readonly sessionId: string,
    options: KeyContentionOptions,
  ) {
    this.api = driver.api;
    this.key = driver.key;
    this.options = { ...options, waitMs: driver.options.waitMs, retryTimeMs: driver.options.retryTimeMs };
  }

  /** What `pair` means for us; throws when the key is not this recipe's (a conflict error). */
  protected abstract observe(pair: KVPair | null): S;
  /** A key found ours becomes a grant (null when it turns out not to be). */
  protected abstract claim(seen: S & { kind: 'ours' }, signal: AbortSignal): Promise<Grant | null>;
  /** One acquiring write given what was seen. */
  protected abstract write(seen: S, signal: AbortSignal): Promise<WriteOutcome>;
  /** A consistent read settling a write whose answer was lost: the grant if the key is ours. */
  protected abstract confirm(signal: AbortSignal): Promise<Grant | null>;
  abstract abandon(): Promise<void>;

  async acquire(signal: AbortSignal, onWaiting: () => void): Promise<Grant> {
    // Writes refused by lock-delay in a row; reset when another holder is seen.
    let refusals = 0;
    for (;;) {
      const seen = await this.waitForChance(signal, () => {
        refusals = 0;
        this.lockDelayInForce = false;
        onWaiting();
      });
      if (isOurs(seen)) {
        const grant = await this.claim(seen, signal);
        if (grant) return grant;
        continue;
      }
      if (refusals > 0) {
        await sleep(backoffDelay(refusals, { minMs: this.options.retryMinMs, maxMs: this.options.retryTimeMs }), signal);
      }
      const outcome = await this.write(seen, signal);
      if (outcome.kind === 'held') return outcome.grant;
      if (outcome.kind === 'refused') {
        refusals += 1;
        this.lockDelayInForce = true;
        if (this.options.lockDelayIsWaiting) onWaiting();
      }
    }
  }

  async tryOnce(signal: AbortSignal): Promise<Grant | null> {
    const { pair } = await this.api.kv.get(this.key, { signal });
    const seen = this.observe(pair);
    if (isHeld(seen)) {
      this.lastHolder = seen.holder;
      return null;
    }
    if (isOurs(seen)) return this.claim(seen, signal);
    const outcome = await this.write(seen, signal);
    if (outcome.kind === 'held') return outcome.grant;
    if (outcome.kind === 'refused') this.lockDelayInForce = true;
    if (outcome.kind === 'unknown') return this.confirm(signal);
    return null;
  }

  /** Blocks until the key is not held by another session; `onHeld` runs each time it is. */
  private async waitForChance(signal: AbortSignal, onHeld: () => void): Promise<S> {
    const snapshots = blockingQuery<KVPair | null>(keyRead(this.api, this.key), {
      signal,
      waitMs: this.options.waitMs,
      // A permanent error (403, bad key) fails the acquire instead of retrying forever.
      isFatal: (err) => !isTransient(err),
    });
    for await (const { value } of snapshots) {
      const seen = this.observe(value);
      if (!isHeld(seen)) {
        this.lastHolder = undefined;
        return seen;
      }
      this.lastHolder = seen.holder;
      onHeld();
    }
    throw abortReason(signal);
  }
}

function isHeld<S extends KeySeen>(seen: S): seen is S & { kind: 'held'; holder: string } {
  return seen.kind === 'held';
}

function isOurs<S extends KeySeen>(seen: S): seen is S & { kind: 'ours' } {
  return seen.kind === 'ours';
}
