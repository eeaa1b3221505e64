/** KV endpoints (`/v1/kv/`), with `Flags` kept exact as bigint. */
import { encodeKeyPath } from '../internal/keys.js';
import { parseJsonWithUint64 } from '../internal/uint64.js';
import type { ConsulTransport, QueryMeta, QueryValue, RequestSpec, RetryMode } from './client.js';

/** One KV entry as Consul returns it, decoded. */
export interface KVPair {
  key: string;
  /** Raw value bytes; null when the key has an empty value. */
  value: Buffer | null;
  /** uint64 flags, exact. */
  flags: bigint;
  /** Session holding the key's lock, if any. */
  session: string | undefined;
  lockIndex: number;
  createIndex: number;
  modifyIndex: number;
}

/** Options shared by reads: blocking (`index`/`waitMs`) and consistency. */
export interface ReadOptions {
  index?: bigint | undefined;
  waitMs?: number | undefined;
  consistent?: boolean | undefined;
  stale?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** Datacenter to read from (`?dc=`). @default the Coordinator's (or the agent's) datacenter */
  dc?: string | undefined;
  /**
   * Whether the transport retries this read. A read that blocks (`waitMs` given) is driven by
   * the blocking loop, which retries it with its own backoff, so the transport must not stack a
   * second layer under it; a one-shot read is retried by the transport.
   * @default `'none'` when `waitMs` is given, else `'transient'`
   */
  retry?: RetryMode | undefined;
}

/** The retry mode of a read (see {@link ReadOptions.retry}). */
export function readRetry(opts: ReadOptions): RetryMode {
  return opts.retry ?? (opts.waitMs !== undefined ? 'none' : 'transient');
}

interface RawDirEntry {
  Key: string;
  Value: string | null;
  Flags: bigint | number;
  Session?: string;
  LockIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
}

export function decodeDirEntry(raw: RawDirEntry): KVPair {
  return {
    key: raw.Key,
    value: raw.Value ? Buffer.from(raw.Value, 'base64') : null,
    flags: typeof raw.Flags === 'bigint' ? raw.Flags : BigInt(raw.Flags ?? 0),
    session: raw.Session || undefined,
    lockIndex: raw.LockIndex,
    createIndex: raw.CreateIndex,
    modifyIndex: raw.ModifyIndex,
  };
}

export function parseDirEntries(text: string): KVPair[] {
  const raw = parseJsonWithUint64<RawDirEntry[] | null>(text, ['Flags']);
  return (raw ?? []).map(decodeDirEntry);
}

/** Blocking reads wait `wait` plus Consul's jitter (wait/16); the client allows more. */
export function blockingTimeoutMs(waitMs: number | undefined, baseMs: number): number | undefined {
  if (waitMs === undefined) return undefined;
  return waitMs + Math.ceil(waitMs / 16) + baseMs;
}

export function readQuery(opts: ReadOptions): Record<string, string | boolean | undefined> {
  return {
    index: opts.index !== undefined && opts.index > 0n ? opts.index.toString() : undefined,
    wait: opts.index !== undefined && opts.index > 0n && opts.waitMs !== undefined ? `${Math.max(1, Math.round(opts.waitMs))}ms` : undefined,
    consistent: opts.consistent || undefined,
    stale: opts.stale || undefined,
    dc: opts.dc,
  };
}

/**
 * A GET of `path` that may block: the read's index/wait/consistency query (plus `extra`), its
 * signal, a timeout that outlasts the wait, and its retry mode.
 */
export function readRequest(path: string, opts: ReadOptions, baseTimeoutMs: number, extra: Record<string, QueryValue> = {}, okStatuses?: readonly number[]): RequestSpec {
  // Always the same fields in the same order: a parked read keeps its spec alive, and one shape
  // for every read keeps that object small.
  return {
    method: 'GET',
    path,
    query: { ...readQuery(opts), ...extra },
    signal: opts.signal,
    timeoutMs: blockingTimeoutMs(opts.waitMs, baseTimeoutMs),
    retry: readRetry(opts),
    okStatuses,
  };
}

/** A KV read answers 404 for an absent key or an empty prefix: an answer, not an error. */
const KV_READ_OK: readonly number[] = Object.freeze([404]);

export class KV {
  constructor(
    private readonly t: ConsulTransport,
    private readonly baseTimeoutMs: number,
  ) {}

  /** Reads one key; `pair` is null when it does not exist. */
  async get(key: string, opts: ReadOptions = {}): Promise<{ pair: KVPair | null; meta: QueryMeta }> {
    const res = await this.t.request(readRequest(`/v1/kv/${encodeKeyPath(key)}`, opts, this.baseTimeoutMs, {}, KV_READ_OK));
    if (res.status === 404) return { pair: null, meta: res.meta };
    return { pair: parseDirEntries(res.body.toString('utf8'))[0] ?? null, meta: res.meta };
  }

  /** Reads every entry whose key starts with `prefix` (plain string prefix, as Consul does). */
  async list(prefix: string, opts: ReadOptions = {}): Promise<{ pairs: KVPair[]; meta: QueryMeta }> {
    const res = await this.t.request(readRequest(`/v1/kv/${encodeKeyPath(prefix)}`, opts, this.baseTimeoutMs, { recurse: true }, KV_READ_OK));
    if (res.status === 404) return { pairs: [], meta: res.meta };
    return { pairs: parseDirEntries(res.body.toString('utf8')), meta: res.meta };
  }

  /** Lists key names under `prefix`, optionally folded at `separator`. */
  async keys(prefix: string, opts: ReadOptions & { separator?: string } = {}): Promise<{ keys: string[]; meta: QueryMeta }> {
    const res = await this.t.request(readRequest(`/v1/kv/${encodeKeyPath(prefix)}`, opts, this.baseTimeoutMs, { keys: true, separator: opts.separator }, KV_READ_OK));
    if (res.status === 404) return { keys: [], meta: res.meta };
    return { keys: JSON.parse(res.body.toString('utf8')) as string[], meta: res.meta };
  }

  /**
   * Writes a key. Returns Consul's boolean answer (false: CAS mismatch, lock held elsewhere or
   * lock-delay). A plain PUT is retried on any transient failure; cas/acquire/release only when
   * the failure proves nothing was applied (`'if-not-applied'`), since a timed-out first try
   * may have landed (callers read the key back instead).
   */
  async put(
    key: string,
    value: Buffer | string | null,
    opts: { flags?: bigint; cas?: number; acquire?: string; release?: string; signal?: AbortSignal; dc?: string | undefined } = {},
  ): Promise<boolean> {
    const res = await this.t.request({
      method: 'PUT',
      path: `/v1/kv/${encodeKeyPath(key)}`,
      query: {
        flags: opts.flags !== undefined ? opts.flags.toString() : undefined,
        cas: opts.cas !== undefined ? String(opts.cas) : undefined,
        acquire: opts.acquire,
        release: opts.release,
        dc: opts.dc,
      },
      body: value ?? Buffer.alloc(0),
      signal: opts.signal,
      retry: opts.cas === undefined && opts.acquire === undefined && opts.release === undefined ? 'transient' : 'if-not-applied',
    });
    return res.body.toString('utf8').trim() === 'true';
  }

  /**
   * Deletes a key (or a prefix with `recurse`). A plain delete is retried on any transient
   * failure; a CAS delete only when the failure proves it was not applied (`'if-not-applied'`).
   */
  async delete(key: string, opts: { cas?: number; recurse?: boolean; signal?: AbortSignal; dc?: string | undefined } = {}): Promise<boolean> {
    const res = await this.t.request({
      method: 'DELETE',
      path: `/v1/kv/${encodeKeyPath(key)}`,
      query: { cas: opts.cas !== undefined ? String(opts.cas) : undefined, recurse: opts.recurse || undefined, dc: opts.dc },
      signal: opts.signal,
      retry: opts.cas === undefined ? 'transient' : 'if-not-applied',
    });
    return res.body.toString('utf8').trim() === 'true';
  }
}
