/** Session endpoints (`/v1/session/`). */
import type { ConsulTransport, QueryMeta, RetryMode } from './client.js';
import { readRequest, type ReadOptions } from './kv.js';

export interface SessionCreateRequest {
  Name?: string;
  Node?: string;
  /** Go duration string; we always send a string so 0 really means 0. */
  LockDelay?: string;
  Behavior?: 'release' | 'delete';
  TTL?: string;
  NodeChecks?: string[];
  ServiceChecks?: Array<{ ID: string; Namespace?: string }>;
  Checks?: string[];
}

/** Session as Consul returns it. */
export interface SessionEntry {
  ID: string;
  Name: string;
  Node: string;
  /** Nanoseconds. */
  LockDelay: number;
  Behavior: 'release' | 'delete';
  TTL: string;
  NodeChecks: string[] | null;
  ServiceChecks: Array<{ ID: string; Namespace?: string }> | null;
  Checks?: string[];
  CreateIndex: number;
  ModifyIndex: number;
}

export class Sessions {
  constructor(
    private readonly t: ConsulTransport,
    private readonly baseTimeoutMs: number,
  ) {}

  /**
   * Creates a session. Retried only when the failure proves nothing was created: a lost reply
   * would otherwise leave an orphan session behind.
   */
  async create(body: SessionCreateRequest, signal?: AbortSignal): Promise<string> {
    const res = await this.t.request({ method: 'PUT', path: '/v1/session/create', body, signal, retry: 'if-not-applied' });
    return (JSON.parse(res.body.toString('utf8')) as { ID: string }).ID;
  }

  /** Destroys a session (idempotent in Consul: an unknown id answers true). */
  async destroy(id: string, signal?: AbortSignal): Promise<void> {
    await this.t.request({ method: 'PUT', path: `/v1/session/destroy/${encodeURIComponent(id)}`, signal, retry: 'transient' });
  }

  /** Renews a TTL session; null when Consul no longer knows it (404). */
  async renew(id: string, opts: { signal?: AbortSignal; timeoutMs?: number; retry?: RetryMode } = {}): Promise<SessionEntry | null> {
    const res = await this.t.request({
      method: 'PUT',
      path: `/v1/session/renew/${encodeURIComponent(id)}`,
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
      retry: opts.retry ?? 'transient',
      okStatuses: [404],
    });
    if (res.status === 404) return null;
    return (JSON.parse(res.body.toString('utf8')) as SessionEntry[])[0] ?? null;
  }

  async info(id: string, opts: ReadOptions = {}): Promise<{ session: SessionEntry | null; meta: QueryMeta }> {
    const res = await this.t.request(readRequest(`/v1/session/info/${encodeURIComponent(id)}`, opts, this.baseTimeoutMs));
    const list = (JSON.parse(res.body.toString('utf8')) as SessionEntry[] | null) ?? [];
    return { session: list[0] ?? null, meta: res.meta };
  }

  async list(opts: ReadOptions = {}): Promise<{ sessions: SessionEntry[]; meta: QueryMeta }> {
    const res = await this.t.request(readRequest('/v1/session/list', opts, this.baseTimeoutMs));
    return { sessions: (JSON.parse(res.body.toString('utf8')) as SessionEntry[] | null) ?? [], meta: res.meta };
  }
}
