/**
 * The one thin Consul HTTP client. It builds URLs, sends the token header, parses the query-meta
 * headers, retries failures per each request's {@link RetryMode}, and maps HTTP statuses to
 * {@link ConsulError} in exactly one place. It does nothing else.
 *
 * Our own rather than the `consul` npm client: that client JSON-parses every body, which rounds
 * uint64 `Flags` above 2^53 (Consul's own lock flag is one), and it does not expose per-request
 * AbortSignals or a connection pool we can close. The wire is ours too (`http1.ts`, HTTP/1.1 over
 * node:net/tls): owning the pool lets `close()` prove that no socket outlives the Coordinator,
 * and a parked blocking read costs its socket, not node:http's per-request objects.
 *
 * Who retries what (one layer per request, never two):
 *
 * | request                                              | `retry`            | retried by |
 * | ---------------------------------------------------- | ------------------ | ---------- |
 * | one-shot reads (kv get/list/keys, session info/list, | `'transient'`      | transport  |
 * |   health, catalog, agent self, leader, event list)   |                    |            |
 * | reads that block (`waitMs` given: every read the     | `'none'`           | blocking loop (backoff, forever or until `isFatal`; monitors count `monitorRetries`) |
 * |   blocking loop drives)                              |                    |            |
 * | plain KV put, plain delete, session destroy, service | `'transient'`      | transport  |
 * |   and check register/deregister, maintenance, agent  |                    |            |
 * |   check updates                                      |                    |            |
 * | session create, KV put with cas/acquire/release, CAS | `'if-not-applied'` | transport, only when provably not applied; otherwise the caller reads state back |
 * |   delete, txn with writes, event fire                |                    |            |
 * | session renew, session and service TTL heartbeats,   | `'none'`           | the session's / registration's own loop |
 * |   a registration's presence check                    |                    |            |
 *
 * Every wait of a retry here keeps the process alive: a request is something its caller awaits
 * (an acquire, a release, `ready()`), and an `unref()`ed retry timer lets a process whose main
 * module awaits it exit mid-wait with code 13 ("unsettled top-level await"). Background upkeep
 * nobody awaits (renewals, heartbeats) sends with `'none'` and spaces its own retries with
 * unref()ed sleeps.
 */
import type http from 'node:http';
import net from 'node:net';
import { inspect } from 'node:util';
import pRetry from 'p-retry';
import { ConfigError, ConsulError, abortReason, isTransient } from '../errors.js';
import { optionalSignal } from '../internal/abort.js';
import { silentLogger, type Logger } from '../internal/logger.js';
import { WirePool, type WireError } from './http1.js';

/** Query metadata Consul returns on reads (`X-Consul-*` headers). */
export interface QueryMeta {
  /** `X-Consul-Index` as an exact uint64 (event indexes can exceed 2^53); 0n when absent. */
  index: bigint;
  /** `X-Consul-KnownLeader`; true when absent. */
  knownLeader: boolean;
  /** `X-Consul-LastContact` in ms; 0 when absent. */
  lastContactMs: number;
}

export interface ConsulResponse {
  status: number;
  /** Response headers, names in lower case (a repeated header keeps its first value). */
  headers: Record<string, string>;
  /** Raw body bytes. */
  body: Buffer;
  meta: QueryMeta;
}

export type QueryValue = string | number | bigint | boolean | undefined | null | readonly string[];

export interface RequestSpec {
  method: 'GET' | 'PUT' | 'DELETE' | 'POST';
  /** Path starting with `/v1/`, already encoded. */
  path: string;
  /** Query parameters. `true` sends a presence-only flag (`?recurse`); false/undefined omit it. */
  query?: Record<string, QueryValue>;
  /** A Buffer/string is sent as is; anything else as JSON. */
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Overall per-attempt timeout in ms; defaults to the transport's. */
  timeoutMs?: number | undefined;
  /** When the transport may repeat this request; see {@link RetryMode} and the table above. */
  retry: RetryMode;
  /** Statuses that are answers, not errors (404 on a KV read). 2xx always are. */
  okStatuses?: readonly number[];
}

/**
 * When the transport repeats a request after a failure:
 * - `'transient'`: after any {@link isTransient} failure. For requests whose repetition is
 *   harmless: reads, plain puts and deletes, destroys, registrations.
 * - `'if-not-applied'`: only after a failure that proves nothing was applied ({@link isNotApplied}:
 *   connection refused, an idle pooled connection reset before the server read it, a 429, or
 *   Consul's "No cluster leader"). For writes a second application would change: session create
 *   (a leaked session), CAS/acquire/release puts, CAS deletes, txns with writes, event fire.
 *   After any other failure the caller recovers by reading state back.
 * - `'none'`: never; the caller has its own retry loop (the blocking loop, session renewals,
 *   TTL heartbeats), so retrying here would stack a second layer of backoff under it.
 */
export type RetryMode = 'transient' | 'if-not-applied' | 'none';

export interface RetryPolicy {
  /** Retries after the first attempt. @default 4 */
  retries: number;
  /** First backoff in ms. @default 100 */
  minTimeoutMs: number;
  /** Backoff cap in ms. @default 2000 */
  maxTimeoutMs: number;
}

export interface TransportOptions {
  address: string;
  token?: string | undefined;
  datacenter?: string | undefined;
  ca?: string | Buffer | undefined;
  /** Client certificate and key (PEM) for agents that verify clients. */
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  /** SNI and certificate name to verify, when it differs from the address's host. */
  tlsServerName?: string | undefined;
  /** Accept any server certificate (CONSUL_HTTP_SSL_VERIFY=false). Never in production. */
  tlsSkipVerify?: boolean | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
  logger?: Logger | undefined;
}

/**
 * Failures that prove a write never reached Raft: the connection was refused, an idle pooled
 * connection turned out to be closed, or the server refused it up front because there is no
 * leader (or rate-limited it).
 */
const IDLE_RESET = 'ECONNRESET on a reused idle connection';

/** True when `err` proves the request never reached Raft (see the comment above). */
export function isNotApplied(err: unknown): boolean {
  if (!(err instanceof ConsulError)) return false;
  if (err.statusCode === 0) return /^(ECONNREFUSED|EAI_AGAIN|ENOTFOUND)$/.test(err.consulMessage) || err.consulMessage === IDLE_RESET;
  if (err.statusCode === 429) return true;
  return err.statusCode === 500 && /No cluster leader/i.test(err.consulMessage);
}

/** The one transient rule lives in errors.ts; re-exported for the transport's users. */
export { isTransient };

export class ConsulTransport {
  readonly baseUrl: URL;
  readonly datacenter: string | undefined;
  readonly logger: Logger;
  private readonly token: string | undefined;
  private readonly pool: WirePool;
  /** `Host` and the fixed headers every request carries (the token among them), written once. */
  private readonly fixedHeaders: string;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private closed = false;

  /**
   * What `util.inspect` (console.log) and JSON loggers print. An event payload reaches the
   * transport (handle → session → coordinator → api), and the token — its own field, and the
   * headers of in-flight requests and pooled sockets — must never be printed.
   */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl.href, datacenter: this.datacenter, token: this.token === undefined ? undefined : '[redacted]' };
  }

  [inspect.custom](): string {
    return `ConsulTransport ${inspect(this.toJSON())}`;
  }

  constructor(options: TransportOptions) {
    this.baseUrl = new URL(options.address);
    this.token = options.token || undefined;
    if (this.token !== undefined && !/^[\x21-\x7e]+$/.test(this.token)) {
      // Never echo the token: only say what is wrong with it.
      throw new ConfigError('the ACL token contains characters an HTTP header cannot carry (spaces, control or non-ASCII characters)', 'token');
    }
    this.datacenter = options.datacenter;
    this.timeoutMs = options.timeoutMs;
    this.retry = options.retry;
    this.logger = options.logger ?? silentLogger;
    const secure = this.baseUrl.protocol === 'https:';
    const host = this.baseUrl.hostname.replace(/^\[(.*)\]$/, '$1');
    this.pool = new WirePool({
      host,
      port: Number(this.baseUrl.port || (secure ? 443 : 80)),
      keepAliveMs: 1000,
      tls: secure
        ? {
            ...(options.ca ? { ca: options.ca } : {}),
            ...(options.cert ? { cert: options.cert } : {}),
            ...(options.key ? { key: options.key } : {}),
            // SNI only for names (RFC 6066 forbids IP addresses there).
            ...(options.tlsServerName ? { servername: options.tlsServerName } : net.isIP(host) ? {} : { servername: host }),
            ...(options.tlsSkipVerify ? { rejectUnauthorized: false } : {}),
          }
        : undefined,
    });
    this.fixedHeaders = `Host: ${this.baseUrl.host}\r\nAccept: application/json\r\n${this.token ? `X-Consul-Token: ${this.token}\r\n` : ''}`;
  }

  /** Address without credentials, for messages. */
  get address(): string {
    return this.baseUrl.origin;
  }

  /** Connections open now, idle or busy (for tests and benchmarks). */
  get connections(): number {
    return this.pool.size;
  }

  /**
   * Sends a request, repeating it per `spec.retry` with exponential backoff and jitter. Rejects
   * with {@link ConsulError} or with the signal's abort reason.
   */
  async request(spec: RequestSpec): Promise<ConsulResponse> {
    optionalSignal(spec.signal)?.throwIfAborted();
    if (spec.retry === 'none' || this.retry.retries <= 0) return this.once(spec);
    const retryable = spec.retry === 'transient' ? isTransient : isNotApplied;
    // The first attempt goes out directly; the retry machinery is built only after a failure.
    let first: unknown;
    try {
      return await this.once(spec);
    } catch (err) {
      if (this.closed || !retryable(err) || spec.signal?.aborted) throw err;
      first = err;
    }
    // A retried blocking read drops index/wait: the failure may have been a restart that
    // lowered the server's index, and blocking on our stale, higher index would stall for the
    // whole wait. The caller's loop compares indexes, so a non-blocking answer is always safe.
    const retrySpec: RequestSpec =
      spec.method === 'GET' && spec.query?.index !== undefined
        ? { ...spec, query: { ...spec.query, index: undefined, wait: undefined }, timeoutMs: undefined }
        : spec;
    return pRetry(
      async (attempt) => {
        // p-retry's first call is our second attempt: the first one failed above.
        if (attempt === 1) throw first;
        return this.once(retrySpec);
      },
      {
        retries: this.retry.retries,
        minTimeout: this.retry.minTimeoutMs,
        maxTimeout: this.retry.maxTimeoutMs,
        factor: 2,
        randomize: true,
        signal: spec.signal,
        // The caller awaits this request: the wait between attempts must keep the process alive
        // (see the header), so the timer is not unref()ed.
        unref: false,
        shouldRetry: ({ error }) => !this.closed && retryable(error),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0 && retryable(error)) {
            this.logger.debug({ endpoint: `${spec.method} ${spec.path}`, attemptNumber, err: error.message }, 'consul request failed, retrying');
          }
        },
      },
    );
  }

  /** Aborts in-flight requests and closes every pooled connection. Idempotent. */
  close(): void {
    this.closed = true;
    this.pool.destroy();
  }

  /** The request target: the path and the query string (`dc` defaulting to the Coordinator's). */
  private target(spec: RequestSpec): string {
    let path = spec.path;
    // Paths arrive encoded; anything a URL would still rewrite (dot segments, characters that
    // need escaping) goes through URL parsing, as a browser would send it.
    if (NEEDS_URL.test(path)) path = new URL(path, this.baseUrl).pathname;
    // A per-call `dc` (even one given as undefined) falls back to the Coordinator's datacenter.
    let search = '';
    const add = (name: string, value: QueryValue): void => {
      if (value === undefined || value === null || value === false) return;
      if (Array.isArray(value)) {
        for (const v of value) add(name, v);
        return;
      }
      // Presence flags go out as "recurse="; Consul reads them by presence either way.
      search += `${search ? '&' : '?'}${encodeQuery(name)}=${value === true ? '' : encodeQuery(String(value))}`;
    };
    for (const name in spec.query) if (name !== 'dc') add(name, spec.query[name]);
    add('dc', spec.query?.dc ?? this.datacenter);
    return path + search;
  }

  private once(spec: RequestSpec): Promise<ConsulResponse> {
    if (this.closed) return Promise.reject(new ConsulError(0, `${spec.method} ${spec.path}`, 'transport is closed'));
    // Before anything is written: cancelling a request already sent would cost its connection.
    if (spec.signal?.aborted) return Promise.reject(abortReason(spec.signal));
    let payload: Buffer | undefined;
    if (spec.body !== undefined) {
      payload = Buffer.isBuffer(spec.body)
        ? spec.body
        : spec.body instanceof Uint8Array
          ? Buffer.from(spec.body)
          : typeof spec.body === 'string'
            ? Buffer.from(spec.body)
            : Buffer.from(jsonBody(spec.body, `${spec.method} ${spec.path}`));
    }
    const length = payload ? `Content-Length: ${payload.length}\r\n` : spec.method === 'PUT' || spec.method === 'POST' ? 'Content-Length: 0\r\n' : '';
    const head = `${spec.method} ${this.target(spec)} HTTP/1.1\r\n${this.fixedHeaders}${length}\r\n`;
    const timeoutMs = spec.timeoutMs ?? this.timeoutMs;
    // What the answer's handlers need, and nothing else: a parked read keeps them alive, not the spec.
    const { method, path, signal, okStatuses } = spec;
    const exchange = this.pool.request(head, payload);

    return new Promise<ConsulResponse>((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (!settle()) return;
        exchange.cancel('ECONNRESET', 'aborted');
        reject(abortReason(signal as AbortSignal));
      };
      // Not unref()ed either: while a request is out its socket keeps the process alive anyway,
      // and the deadline must fire for whoever awaits the answer.
      const timer = setTimeout(() => {
        if (!settle()) return;
        exchange.cancel('ETIMEDOUT', 'timed out');
        reject(new ConsulError(0, `${method} ${path}`, `no response within ${timeoutMs}ms`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      exchange.response.then(
        (res) => {
          if (!settle()) return;
          const status = res.status;
          if ((status >= 200 && status < 300) || okStatuses?.includes(status)) {
            resolve({ status, headers: res.headers, body: res.body, meta: parseMeta(res.headers) });
          } else {
            reject(new ConsulError(status, `${method} ${path}`, res.body.toString('utf8').trim().slice(0, 2000)));
          }
        },
        (err: WireError) => {
          if (!settle()) return;
          // A keep-alive connection the server closed while idle is reset as soon as we reuse
          // it, before the server read anything: such a request was never applied (Go's client
          // retries it for the same reason).
          const idleReset = err.code === 'ECONNRESET' && err.reused === true && err.answered !== true;
          const message = idleReset ? IDLE_RESET : err.code === 'EPROTO' ? `malformed response: ${err.message}` : err.answered ? 'response aborted' : (err.code ?? err.message);
          reject(new ConsulError(0, `${method} ${path}`, message, { cause: err }));
        },
      );
    });
  }
}

/** Paths a URL parser would rewrite: dot segments, or characters that must be percent-encoded. */
const NEEDS_URL = /(^|\/)\.\.?(\/|$)|[^\x21-\x7e]|["<>\\^`{|}#?]/;

/** Query names and values as URLSearchParams writes them (application/x-www-form-urlencoded). */
function encodeQuery(text: string): string {
  return /^[A-Za-z0-9*\-._]*$/.test(text) ? text : new URLSearchParams([['', text]]).toString().slice(1);
}

function header(headers: http.IncomingHttpHeaders | Record<string, string>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function parseMeta(headers: http.IncomingHttpHeaders | Record<string, string>): QueryMeta {
  const rawIndex = header(headers, 'x-consul-index');
  const leader = header(headers, 'x-consul-knownleader');
  const contact = header(headers, 'x-consul-lastcontact');
  return {
    index: rawIndex && /^\d+$/.test(rawIndex) ? BigInt(rawIndex) : 0n,
    knownLeader: leader === undefined ? true : leader === 'true',
    lastContactMs: contact && /^\d+$/.test(contact) ? Number(contact) : 0,
  };
}

/** JSON for a request body; a value JSON cannot encode (a BigInt, a cycle) is the caller's error. */
function jsonBody(body: unknown, endpoint: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (err) {
    throw new ConfigError(`the body of ${endpoint} cannot be encoded as JSON: ${err instanceof Error ? err.message : String(err)}`, 'value', { cause: err });
  }
  // A function or a symbol has no JSON at all.
  if (json === undefined) throw new ConfigError(`the body of ${endpoint} cannot be encoded as JSON: got a ${typeof body}`, 'value');
  return json;
}
