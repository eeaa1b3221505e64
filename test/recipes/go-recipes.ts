/**
 * Test doubles of Consul's Go recipes: `api.Lock` and `api.Semaphore` followed step by step with
 * raw HTTP calls (hashicorp/consul `api/lock.go`, `api/semaphore.go`, `api/session.go`
 * RenewPeriodic). They share no code with src/recipes on purpose — flags are written as Go's
 * decimal digits, the `.lock` record is built and parsed here — so a test where they and our
 * recipes exclude each other proves wire compatibility, not self-consistency.
 */
import { consulFetch, kvPath, type ConsulResponse } from '../support/target.js';

/** Go's constants, as the decimal digits Consul's JSON and query strings carry. */
export const GO_LOCK_FLAG = '3304740253564472344'; // 0x2ddccbc058a50c18
export const GO_SEMAPHORE_FLAG = '16210313421097356768'; // 0xe0f69a2baa414de0

interface Target {
  url: string;
  token?: string;
}

interface RawEntry {
  Key: string;
  Session?: string;
  ModifyIndex: number;
  Value: string | null;
  /** Flags as exact digits, cut from the raw text (JSON.parse would round them). */
  flags: string;
}

/** Parses a KV answer keeping each entry's Flags as the exact digits. */
function entries(res: ConsulResponse): RawEntry[] {
  if (res.status === 404) return [];
  if (res.status !== 200) throw new Error(`KV read failed: ${res.status} ${res.text}`);
  const flags = [...res.text.matchAll(/"Flags":\s*(\d+)/g)].map((m) => m[1] as string);
  const parsed = res.json() as Array<Omit<RawEntry, 'flags'>>;
  return parsed.map((e, i) => ({ ...e, flags: flags[i] ?? '0' }));
}

function index(res: ConsulResponse): string {
  return res.header('x-consul-index') ?? '0';
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `session.Create` + `RenewPeriodic` (renew every ttl/2 until stopped). */
class RawSession {
  private timer: NodeJS.Timeout | undefined;
  private constructor(
    private readonly t: Target,
    readonly id: string,
    private readonly ttlMs: number,
  ) {}

  static async create(t: Target, body: Record<string, unknown>, ttlMs: number): Promise<RawSession> {
    const res = await consulFetch(t, 'PUT', '/v1/session/create', { body });
    if (res.status !== 200) throw new Error(`session create failed: ${res.status} ${res.text}`);
    const s = new RawSession(t, (res.json() as { ID: string }).ID, ttlMs);
    s.schedule();
    return s;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void consulFetch(this.t, 'PUT', `/v1/session/renew/${this.id}`).then(
        () => this.schedule(),
        () => this.schedule(),
      );
    }, this.ttlMs / 2);
    this.timer.unref();
  }

  /** Closing doneCh in RenewPeriodic: stop renewing and destroy. */
  async destroy(): Promise<void> {
    clearTimeout(this.timer);
    await consulFetch(this.t, 'PUT', `/v1/session/destroy/${this.id}`);
  }
}

export interface GoLockOptions {
  value?: string;
  /** SessionTTL. @default '15s' */
  sessionTtl?: string;
  /** DefaultLockRetryTime is 5s in Go; tests may shorten it (same algorithm). @default 5000 */
  lockRetryMs?: number;
  /** LockWaitTime. @default '15s' */
  waitTime?: string;
}

/** `api.Lock`: `Lock(stopCh)` and `Unlock()`, step by step. */
export class GoLock {
  session: RawSession | undefined;

  constructor(
    private readonly t: Target,
    readonly key: string,
    private readonly opts: GoLockOptions = {},
  ) {}

  /** Returns true once held; false when `stop` aborted (Go returns nil, nil). Throws ErrLockConflict. */
  async lock(stop?: AbortSignal): Promise<boolean> {
    const ttl = this.opts.sessionTtl ?? '15s';
    const session = await RawSession.create(this.t, { Name: 'Consul API Lock', TTL: ttl }, Number.parseInt(ttl, 10) * 1000);
    this.session = session;
    let held = false;
    try {
      let waitIndex = '0';
      const wait = this.opts.waitTime ?? '15s';
      for (;;) {
        if (stop?.aborted) return false;
        // Look for an existing lock, blocking until not taken.
        const query = waitIndex === '0' ? undefined : `index=${waitIndex}&wait=${wait}`;
        const res = await consulFetch(this.t, 'GET', kvPath(this.key, query), { signal: stop });
        const pair = entries(res)[0];
        if (pair && pair.flags !== GO_LOCK_FLAG) throw new Error('Existing key does not match lock use');
        if (pair && pair.Session === session.id) break; // HELD
        if (pair && pair.Session) {
          waitIndex = index(res);
          continue;
        }
        // Try to acquire the lock.
        const acquire = await consulFetch(this.t, 'PUT', kvPath(this.key, `acquire=${session.id}&flags=${GO_LOCK_FLAG}`), {
          body: this.opts.value ?? '',
        });
        if (acquire.text.trim() === 'true') break;
        // Determine why the lock failed.
        waitIndex = '0';
        const again = await consulFetch(this.t, 'GET', kvPath(this.key));
        const now = entries(again)[0];
        if (now && now.Session) {
          waitIndex = index(again);
          continue;
        }
        // Lock-delay: a timed wait.
        try {
          await sleep(this.opts.lockRetryMs ?? 5000, stop);
        } catch {
          return false;
        }
      }
      held = true;
      return true;
    } catch (err) {
      if (stop?.aborted) return false;
      throw err;
    } finally {
      if (!held) {
        this.session = undefined;
        await session.destroy();
      }
    }
  }

  /** `Unlock()`: release with the lock entry, then stop renewing and destroy the session. */
  async unlock(): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('Lock not held');
    this.session = undefined;
    await consulFetch(this.t, 'PUT', kvPath(this.key, `release=${session.id}&flags=${GO_LOCK_FLAG}`), { body: this.opts.value ?? '' });
    await session.destroy();
  }
}

/** Go's `semaphoreLock` as json.Marshal writes it (sorted map keys). */
function encodeGoRecord(limit: number, holders: Set<string>): string {
  const sorted = [...holders].sort();
  return JSON.stringify({ Limit: limit, Holders: Object.fromEntries(sorted.map((h) => [h, true])) });
}

export interface GoSemaphoreOptions {
  value?: string;
  sessionTtl?: string;
  waitTime?: string;
}

/** `api.Semaphore`: `Acquire(stopCh)` and `Release()`, step by step. */
export class GoSemaphore {
  session: RawSession | undefined;

  constructor(
    private readonly t: Target,
    /** As given to SemaphorePrefix; keys are built with path.Join. */
    readonly prefix: string,
    readonly limit: number,
    private readonly opts: GoSemaphoreOptions = {},
  ) {}

  private get lockKey(): string {
    return `${this.prefix.replace(/\/+$/, '')}/.lock`;
  }

  private contenderKey(id: string): string {
    return `${this.prefix.replace(/\/+$/, '')}/${id}`;
  }

  async acquire(stop?: AbortSignal): Promise<boolean> {
    const ttl = this.opts.sessionTtl ?? '15s';
    const session = await RawSession.create(this.t, { Name: 'Consul API Semaphore', TTL: ttl, Behavior: 'delete' }, Number.parseInt(ttl, 10) * 1000);
    this.session = session;
    let held = false;
    try {
      // Create the contender entry.
      const made = await consulFetch(this.t, 'PUT', kvPath(this.contenderKey(session.id), `acquire=${session.id}&flags=${GO_SEMAPHORE_FLAG}`), {
        body: this.opts.value ?? '',
      });
      if (made.text.trim() !== 'true') throw new Error(`failed to make contender entry: ${made.text}`);
      let waitIndex = '0';
      const wait = this.opts.waitTime ?? '15s';
      for (;;) {
        if (stop?.aborted) return false;
        // Read the prefix (Go lists the prefix as given).
        const query = waitIndex === '0' ? 'recurse' : `recurse&index=${waitIndex}&wait=${wait}`;
        const res = await consulFetch(this.t, 'GET', kvPath(this.prefix, query), { signal: stop });
        const pairs = entries(res);
        const lockPair = pairs.find((p) => p.Key === this.lockKey);
        if (lockPair && lockPair.flags !== GO_SEMAPHORE_FLAG) throw new Error('Existing key does not match semaphore use');
        let limit = this.limit;
        let holders = new Set<string>();
        if (lockPair && lockPair.Value !== null) {
          const decoded = JSON.parse(Buffer.from(lockPair.Value, 'base64').toString()) as { Limit: number; Holders: Record<string, boolean> | null };
          limit = decoded.Limit;
          holders = new Set(Object.keys(decoded.Holders ?? {}));
        }
        if (limit !== this.limit) throw new Error(`semaphore limit conflict (lock: ${limit}, local: ${this.limit})`);
        // Prune the dead holders.
        const alive = new Set(pairs.filter((p) => p.Session).map((p) => p.Session as string));
        for (const h of holders) if (!alive.has(h)) holders.delete(h);
        if (holders.size >= limit) {
          waitIndex = index(res);
          continue;
        }
        holders.add(session.id);
        const cas = await consulFetch(this.t, 'PUT', kvPath(this.lockKey, `cas=${lockPair?.ModifyIndex ?? 0}&flags=${GO_SEMAPHORE_FLAG}`), {
          body: encodeGoRecord(limit, holders),
        });
        if (cas.text.trim() === 'true') break;
        // Update failed, could have been a race with another contender: retry (WaitIndex kept).
      }
      held = true;
      return true;
    } catch (err) {
      if (stop?.aborted) return false;
      throw err;
    } finally {
      if (!held) {
        this.session = undefined;
        await session.destroy();
      }
    }
  }

  async release(): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('Semaphore not held');
    this.session = undefined;
    for (;;) {
      const res = await consulFetch(this.t, 'GET', kvPath(this.lockKey));
      const pair = entries(res)[0];
      const decoded = pair?.Value ? (JSON.parse(Buffer.from(pair.Value, 'base64').toString()) as { Limit: number; Holders: Record<string, boolean> | null }) : { Limit: this.limit, Holders: {} };
      const holders = new Set(Object.keys(decoded.Holders ?? {}));
      if (!holders.has(session.id)) break;
      holders.delete(session.id);
      const cas = await consulFetch(this.t, 'PUT', kvPath(this.lockKey, `cas=${pair?.ModifyIndex ?? 0}&flags=${GO_SEMAPHORE_FLAG}`), {
        body: encodeGoRecord(decoded.Limit, holders),
      });
      if (cas.text.trim() === 'true') break;
    }
    await consulFetch(this.t, 'DELETE', kvPath(this.contenderKey(session.id)));
    await session.destroy();
  }
}
