/**
 * The one thin Consul HTTP client. It builds URLs, sends the token header, parses the query-meta
 * headers, retries failures per each request's {@link RetryMode}, and maps HTTP statuses to
 * {@link ConsulError} in exactly one place. It does nothing else.
 *
 * Built on node:http(s) rather than the `consul` npm client: that client JSON-parses every body,
 * which rounds uint64 `Flags` above 2^53 (Consul's own lock flag is one), and it does not expose
 * per-request AbortSignals or a socket pool we can close. Owning the agent lets `close()` prove
 * that no socket outlives the Coordinator.
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
import http from 'node:http';
import https from 'node:https';
import { inspect } from 'node:util';
import pRetry from 'p-retry';
import { ConfigError, ConsulError, abortReason, isTransient } from '../errors.js';
import { optionalSignal } from '../internal/abort.js';
import { silentLogger, type Logger } from '../internal/logger.js';

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
  headers: http.IncomingHttpHeaders;
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
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly inflight = new Set<http.ClientRequest>();
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
    this.datacenter = options.datacenter;
    this.timeoutMs = options.timeoutMs;
    this.retry = options.retry;
    this.logger = options.logger ?? silentLogger;
    const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity };
    this.agent =
      this.baseUrl.protocol === 'https:'
        ? new https.Agent({
            ...agentOptions,
            ...(options.ca ? { ca: options.ca } : {}),
            ...(options.cert ? { cert: options.cert } : {}),
            ...(options.key ? { key: options.key } : {}),
            ...(options.tlsServerName ? { servername: options.tlsServerName } : {}),
            ...(options.tlsSkipVerify ? { rejectUnauthorized: false } : {}),
          })
        : new http.Agent(agentOptions);
  }

  /** Address without credentials, for messages. */
  get address(): string {
    return this.baseUrl.origin;
  }

  /**
   * Sends a request, repeating it per `spec.retry` with exponential backoff and jitter. Rejects
   * with {@link ConsulError} or with the signal's abort reason.
   */
  async request(spec: RequestSpec): Promise<ConsulResponse> {
    optionalSignal(spec.signal)?.throwIfAborted();
    if (spec.retry === 'none' || this.retry.retries <= 0) return this.once(spec);
    const retryable = spec.retry === 'transient' ? isTransient : isNotApplied;
    // A retried blocking read drops index/wait: the failure may have been a restart that
    // lowered the server's index, and blocking on our stale, higher index would stall for the
    // whole wait. The caller's loop compares indexes, so a non-blocking answer is always safe.
    const retrySpec: RequestSpec =
      spec.method === 'GET' && spec.query?.index !== undefined
        ? { ...spec, query: { ...spec.query, index: undefined, wait: undefined }, timeoutMs: undefined }
        : spec;
    return pRetry((attempt) => this.once(attempt === 1 ? spec : retrySpec), {
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
    });
  }

  /** Aborts in-flight requests and closes every pooled socket. Idempotent. */
  close(): void {
    this.closed = true;
    for (const req of this.inflight) req.destroy();
    this.inflight.clear();
    this.agent.destroy();
  }

  private url(spec: RequestSpec): URL {
    const url = new URL(spec.path, this.baseUrl);
    // A per-call `dc` (even one given as undefined) falls back to the Coordinator's datacenter.
    const query: Record<string, QueryValue> = { ...spec.query, dc: spec.query?.dc ?? this.datacenter };
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === null || value === false) continue;
      if (value === true) url.searchParams.append(name, '');
      else if (Array.isArray(value)) for (const v of value) url.searchParams.append(name, String(v));
      else url.searchParams.append(name, String(value));
    }
    // URLSearchParams writes presence flags as "recurse=", Consul reads them by presence either way.
    return url;
  }

  private once(spec: RequestSpec): Promise<ConsulResponse> {
    const endpoint = `${spec.method} ${spec.path}`;
    if (this.closed) return Promise.reject(new ConsulError(0, endpoint, 'transport is closed'));
    const url = this.url(spec);
    let payload: Buffer | undefined;
    if (spec.body !== undefined) {
      payload = Buffer.isBuffer(spec.body)
        ? spec.body
        : spec.body instanceof Uint8Array
          ? Buffer.from(spec.body)
          : typeof spec.body === 'string'
            ? Buffer.from(spec.body)
            : Buffer.from(jsonBody(spec.body, endpoint));
    }
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (this.token) headers['x-consul-token'] = this.token;
    if (payload) headers['content-length'] = payload.length;
    const timeoutMs = spec.timeoutMs ?? this.timeoutMs;
    const lib = url.protocol === 'https:' ? https : http;

    return new Promise<ConsulResponse>((resolve, reject) => {
      const signal = spec.signal;
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.inflight.delete(req);
        fn();
      };
      const req = lib.request(url, { method: spec.method, headers, agent: this.agent });
      this.inflight.add(req);
      const onAbort = (): void => {
        finish(() => reject(abortReason(signal as AbortSignal)));
        req.destroy();
      };
      // Not unref()ed either: while a request is out its socket keeps the process alive anyway,
      // and the deadline must fire for whoever awaits the answer.
      const timer = setTimeout(() => {
        finish(() => reject(new ConsulError(0, endpoint, `no response within ${timeoutMs}ms`)));
        req.destroy();
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });

      let responded = false;
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A keep-alive connection the server closed while idle is reset as soon as we reuse it,
        // before the server read anything: such a request was never applied (Go's client
        // retries it for the same reason). Node documents the race: `req.reusedSocket`.
        const idleReset = err.code === 'ECONNRESET' && req.reusedSocket && !responded;
        const message = idleReset ? IDLE_RESET : (err.code ?? err.message);
        finish(() => reject(new ConsulError(0, endpoint, message, { cause: err })));
      });
      req.on('response', (res) => {
        responded = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: NodeJS.ErrnoException) => {
          finish(() => reject(new ConsulError(0, endpoint, err.code ?? err.message, { cause: err })));
        });
        res.on('aborted', () => {
          finish(() => reject(new ConsulError(0, endpoint, 'response aborted')));
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          finish(() => {
            if ((status >= 200 && status < 300) || spec.okStatuses?.includes(status)) {
              resolve({ status, headers: res.headers, body, meta: parseMeta(res.headers) });
            } else {
              reject(new ConsulError(status, endpoint, body.toString('utf8').trim().slice(0, 2000)));
            }
          });
        });
      });
      req.end(payload);
    });
  }
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function parseMeta(headers: http.IncomingHttpHeaders): QueryMeta {
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
