/**
 * Per-request context handed to route handlers: the decoded path and query, the token, the
 * common query options (agent/http.go `parse`), body reading with hard limits, the RPC
 * preludes (datacenter, leader, ACL), query-meta headers and reply builders.
 */
import type { IncomingMessage } from 'node:http';
import { parseGoDurationNs } from '../../../internal/duration.js';
import { UINT64_MAX, stringifyJsonWithUint64 } from '../../../internal/uint64.js';
import type { Core } from '../core.js';
import { type Authorizer, resolveAuthorizer } from './acl.js';
import { NO_PATH_TO_DATACENTER } from '../cluster/federation.js';
import { HttpError, RequestAborted, RpcError } from './errors.js';
import { parseCacheControl } from './agent-cache.js';
import type { Query } from './query.js';

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly closeConnection?: boolean;
  /**
   * A streamed body (`/v1/agent/monitor`): sent chunked after the headers, until the returned
   * promise settles or the request's signal aborts. `body` is ignored.
   */
  readonly stream?: (write: (chunk: string) => void, signal: AbortSignal) => Promise<void>;
}

/** http.go `parse` results: consistency mode and blocking parameters. */
export interface QueryOptions {
  readonly stale: boolean;
  readonly consistent: boolean;
  /** `?index`; 0 = do not block. */
  readonly minIndex: number;
  /** `?wait` in ms; 0 when absent (the default query time applies). */
  readonly waitMs: number;
}

/**
 * JSON text of a reply. Plain `JSON.stringify` when the value holds no bigint (most replies: it
 * is several times faster than a replacer); uint64 values kept exact otherwise.
 */
function jsonText(value: unknown, space?: number): string {
  try {
    return JSON.stringify(value, undefined, space);
  } catch (err) {
    // "Do not know how to serialize a BigInt".
    if (err instanceof TypeError) return stringifyJsonWithUint64(value, space);
    throw err;
  }
}

export class RequestContext {
  /** Headers accumulated by the handler (meta headers etc.), sent with its reply. */
  readonly headers: Record<string, string> = {};

  /** The agent that received the request (agent endpoints always answer from it). */
  readonly local: Core;

  constructor(
    /**
     * The agent whose datacenter answers: the local one, until {@link forward} routes a `?dc=`
     * request to a server of another datacenter.
     */
    public core: Core,
    readonly req: IncomingMessage,
    readonly method: string,
    /** Decoded URL path (Go's req.URL.Path). */
    readonly path: string,
    /** The path exactly as sent (Go's req.URL.RawPath / EscapedPath). */
    readonly rawPath: string,
    readonly query: Query,
    private readonly lifetime: { readonly signal: AbortSignal },
  ) {
    this.local = core;
  }

  /** Aborts when the client goes away or the server closes (made on first use). */
  get signal(): AbortSignal {
    return this.lifetime.signal;
  }

  // ---- tokens and ACLs ----------------------------------------------------------------------

  /** parseTokenInternal: `?token=` wins, then X-Consul-Token, then `Authorization: Bearer`. */
  token(): string {
    const fromQuery = this.query.get('token');
    if (fromQuery !== '') return fromQuery;
    const header = this.req.headers['x-consul-token'];
    const xToken = Array.isArray(header) ? header[0] : header;
    if (xToken) return xToken;
    const auth = this.req.headers.authorization;
    if (auth) {
      const parts = auth.split(' ');
      if (parts.length > 1 && parts[0]?.toLowerCase() === 'bearer') return parts.slice(1).join(' ').trim();
    }
    return '';
  }

  /** The request's token, or the agent's `default` token (set with /v1/agent/token/default). */
  authorizer(): Authorizer {
    return resolveAuthorizer(this.core.options.aclToken, this.token() || (this.core.agentTokens.get('default') ?? ''));
  }

  /**
   * `?cached` reads (http.go parseConsistency, setCacheMeta): refused with `?consistent`, and
   * answered with the agent cache's X-Cache / Age headers. Call after the result's index is known.
   */
  cacheMeta(index: number): void {
    if (!this.query.has('cached')) return;
    const control = parseCacheControl(headerValue(this.req.headers['cache-control']));
    if (control === 'invalid') throw new HttpError(400, 'Invalid Cache-Control header.');
    const params = [...this.query.entries()]
      .filter(([k]) => !['index', 'wait', 'cached', 'pretty', 'token'].includes(k))
      .map(([k, v]) => `${k}=${v.join(',')}`)
      .sort();
    Object.assign(this.headers, this.core.cache.read(`${this.path}?${params.join('&')}`, index, control));
  }

  // ---- query options ------------------------------------------------------------------------

  /**
   * http.go `parse`: consistency (`?stale` with `?consistent` is a 400), then `?wait` (a Go
   * duration) and `?index` (a uint64). Plain-text 400 bodies, as Consul writes them.
   */
  queryOptions(): QueryOptions {
    let stale = this.query.has('stale');
    const consistent = this.query.has('consistent');
    const maxStale = this.query.get('max_stale');
    if (maxStale !== '') {
      if (parseGoDurationNs(maxStale) === undefined) throw new HttpError(400, `Invalid max_stale value ${JSON.stringify(maxStale)}`);
      stale = true;
    }
    if (stale && consistent) throw new HttpError(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
    if (this.query.has('cached') && consistent) throw new HttpError(400, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
    const { index, waitMs } = this.parseWait();
    return { stale, consistent, minIndex: Number(index), waitMs };
  }

  /**
   * http.go `parseWait`: `?wait` (a Go duration) and `?index` (a uint64, kept exact: the event
   * list's index is derived from a UUID), each a plain-text 400 when malformed.
   */
  parseWait(): { index: bigint; waitMs: number } {
    let waitMs = 0;
    const wait = this.query.get('wait');
    if (wait !== '') {
      const ns = parseGoDurationNs(wait);
      if (ns === undefined) throw new HttpError(400, 'Invalid wait time');
      waitMs = ns / 1e6;
    }
    let index = 0n;
    const raw = this.query.get('index');
    if (raw !== '') {
      if (!/^\d+$/.test(raw) || BigInt(raw) > UINT64_MAX) throw new HttpError(400, 'Invalid index');
      index = BigInt(raw);
    }
    return { index, waitMs };
  }

  // ---- RPC preludes -------------------------------------------------------------------------

  /**
   * rpc.go `forwardDC`: a `?dc` other than the agent's own is served by a server of that
   * datacenter (a dev cluster across datacenters), whose state every later read and write of the
   * request uses; an unknown or unreachable one fails with `No path to datacenter` (a 500).
   */
  forward(): void {
    const dc = this.query.get('dc');
    const home = this.local.options.datacenter;
    if (dc === '' || dc === home) return;
    const federation = this.local.dc.federation;
    if (!federation) throw new RpcError(NO_PATH_TO_DATACENTER);
    this.core = federation.route(home, dc);
  }

  /**
   * Before a Raft write: forward to the leader (or fail with `No cluster leader`), then resolve
   * the token (`ACL not found`), as an RPC does on the server.
   */
  async rpcWrite(): Promise<Authorizer> {
    this.forward();
    if (!this.core.isLeader) await this.core.requireLeader(this.signal);
    return this.authorizer();
  }

  /** Before a read: `?stale` may be served without a leader; other modes need one. */
  async rpcRead(opts: QueryOptions): Promise<Authorizer> {
    this.forward();
    if (!opts.stale && !this.core.isLeader) await this.core.requireLeader(this.signal);
    return this.authorizer();
  }

  // ---- meta headers -------------------------------------------------------------------------

  /** setMeta: X-Consul-Index (never 0), X-Consul-LastContact, X-Consul-KnownLeader. */
  setMeta(index: number): void {
    this.headers['X-Consul-Index'] = String(Math.max(1, index));
    this.setLeaderMeta();
    // structs.QueryBackend zero value prints as "blocking-query" (recent versions).
    this.headers['X-Consul-Query-Backend'] = 'blocking-query';
  }

  /** setLastContact + setKnownLeader (read-only txn sets only these). */
  setLeaderMeta(): void {
    this.headers['X-Consul-LastContact'] = String(this.core.lastContactMs());
    this.headers['X-Consul-KnownLeader'] = this.core.isLeader ? 'true' : 'false';
  }

  // ---- bodies -------------------------------------------------------------------------------

  /** The request's Content-Length, or -1 when absent (chunked), as Go's req.ContentLength. */
  contentLength(): number {
    const raw = this.req.headers['content-length'];
    if (raw === undefined) return -1;
    const n = Number(raw);
    return Number.isSafeInteger(n) && n >= 0 ? n : -1;
  }

  /**
   * Reads the body, never buffering more than `limit` bytes: past it the request is answered
   * with 413 `tooLarge` and the connection is closed rather than drained.
   */
  async readBody(limit: number, tooLarge: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    const req = this.req;
    const declared = this.contentLength();
    if (declared >= 0 && req.readableLength >= declared && !req.readableFlowing && !req.destroyed) {
      // The whole declared body has arrived and waits in the stream's buffer (the common case: a
      // small body comes in the same packets as the headers): take it without waiting for events.
      for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) {
        total += chunk.length;
        if (total > limit) throw new HttpError(413, tooLarge);
        chunks.push(chunk);
      }
      return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    }
    return new Promise<Buffer>((resolve, reject) => {
      const cleanup = (): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        this.signal.removeEventListener('abort', onAbort);
      };
      const onData = (chunk: Buffer): void => {
        total += chunk.length;
        if (total > limit) {
          cleanup();
          // Keep nothing more: the rest of the body is discarded as it arrives (Node dumps an
          // unread request body once the reply is sent), so the client still reads our 413.
          reject(new HttpError(413, tooLarge));
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = (): void => {
        cleanup();
        resolve(Buffer.concat(chunks, total));
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onAbort = (): void => {
        cleanup();
        reject(new RequestAborted());
      };
      if (this.signal.aborted) {
        reject(new RequestAborted());
        return;
      }
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- replies ------------------------------------------------------------------------------

  /** A JSON reply (`?pretty` indents with 4 spaces and a trailing newline, as marshalJSON). */
  json(value: unknown, status = 200): Reply {
    const pretty = this.core.options.pretty || this.query.has('pretty');
    const text = pretty ? `${jsonText(value, 4)}\n` : jsonText(value);
    return this.reply(status, Buffer.from(text, 'utf8'), 'application/json');
  }

  /** A plain-text reply (Go's content sniffing labels such bodies text/plain; charset=utf-8). */
  text(status: number, body: string): Reply {
    return this.reply(status, Buffer.from(body, 'utf8'), body === '' ? undefined : 'text/plain; charset=utf-8');
  }

  /** An empty reply without Content-Type (agent write handlers returning nothing). */
  empty(status = 200): Reply {
    return this.reply(status, Buffer.alloc(0), undefined);
  }

  reply(status: number, body: Buffer, contentType: string | undefined, extra: Record<string, string> = {}): Reply {
    const headers: Record<string, string> = { ...this.headers, ...extra };
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    return { status, headers, body };
  }
}
