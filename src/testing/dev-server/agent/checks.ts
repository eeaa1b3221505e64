/**
 * Agent-local health check definitions and the check runtime (agent/checks/check.go):
 * TTL expiry, HTTP and TCP probes, and the StatusHandler thresholds. The agent state
 * (agent/state.ts) owns the checks and their timers; this module only knows how to probe.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheckFields } from '../../../internal/health-check.js';
import type { CheckStatus } from '../state/types.js';

/** checks.DefaultBufSize: the default cap on a check's Output. */
export const DEFAULT_OUTPUT_MAX_SIZE = 4096;

/** checks.MinInterval: interval checks never run more often than this. */
export const MIN_INTERVAL_MS = 1_000;

/** Default HTTP client and TCP dial timeout of interval checks. */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

/** checks.UserAgent. */
export const CHECK_USER_AGENT = 'Consul Health Check';

/** What runs a check: a TTL timer, a periodic probe or script, or nothing (maintenance, unsupported types). */
export type CheckRuntime =
  | { readonly kind: 'ttl'; readonly ttlMs: number }
  | {
      readonly kind: 'http';
      readonly url: string;
      readonly method: string;
      readonly header: Readonly<Record<string, readonly string[]>>;
      readonly body: string;
      readonly intervalMs: number;
      readonly timeoutMs: number;
      readonly tlsSkipVerify: boolean;
      readonly tlsServerName: string;
      readonly disableRedirects: boolean;
    }
  | { readonly kind: 'tcp'; readonly address: string; readonly intervalMs: number; readonly timeoutMs: number }
  | { readonly kind: 'script'; readonly args: readonly string[]; readonly intervalMs: number; readonly timeoutMs: number }
  | { readonly kind: 'none' };

/** StatusHandler thresholds (0 = apply at once). */
export interface Thresholds {
  readonly successBeforePassing: number;
  readonly failuresBeforeWarning: number;
  readonly failuresBeforeCritical: number;
}

export const NO_THRESHOLDS: Thresholds = { successBeforePassing: 0, failuresBeforeWarning: 0, failuresBeforeCritical: 0 };

/** An agent-local check: the HealthCheck fields plus how it runs. */
export interface LocalCheck extends HealthCheckFields<CheckStatus> {
  Interval: string;
  Timeout: string;
  Definition: Record<string, unknown>;
  runtime: CheckRuntime;
  outputMaxSize: number;
  thresholds: Thresholds;
  /** DeregisterCriticalServiceAfter with the minimum applied, in ms; 0 = never reap. */
  reapAfterMs: number;
}

/** CheckTTL.SetStatus: cap the output at the limit and say how much was captured. */
export function truncateOutput(output: string, max: number): string {
  const bytes = Buffer.from(output, 'utf8');
  if (bytes.length <= max) return output;
  return `${bytes.subarray(0, max).toString('utf8')} ... (captured ${max} of ${bytes.length} bytes)`;
}

/** CheckTTL.getExpiredOutput. */
export function ttlExpiredOutput(lastOutput: string): string {
  return lastOutput === '' ? 'TTL expired' : `TTL expired (last output before timeout follows): ${lastOutput}`;
}

/**
 * checks.StatusHandler: counters start at the thresholds, so the first result applies at once;
 * afterwards a switch needs that many consecutive results. A warning counts as a success; a
 * failure below the critical threshold but at the warning one reports warning.
 */
export class StatusHandler {
  private successCounter: number;
  private failuresCounter: number;

  constructor(private readonly t: Thresholds) {
    this.successCounter = t.successBeforePassing;
    this.failuresCounter = t.failuresBeforeCritical;
  }

  /** The status to report for a probe result, or undefined when a threshold holds it back. */
  next(status: CheckStatus): CheckStatus | undefined {
    if (status === 'passing' || status === 'warning') {
      this.successCounter += 1;
      this.failuresCounter = 0;
      return this.successCounter >= this.t.successBeforePassing ? status : undefined;
    }
    this.failuresCounter += 1;
    this.successCounter = 0;
    if (this.failuresCounter >= this.t.failuresBeforeCritical) return 'critical';
    if (this.failuresCounter >= this.t.failuresBeforeWarning) return 'warning';
    return undefined;
  }
}

export interface ProbeResult {
  readonly status: CheckStatus;
  readonly output: string;
}

/** Go's net error texts for the failures a loopback probe meets. */
function netErrorText(err: NodeJS.ErrnoException, op: string, address: string): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${address}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `dial tcp ${address}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${address}: connect: network is unreachable`;
    case 'ECONNRESET':
      return `read tcp ${address}: read: connection reset by peer`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${address.replace(/:\d+$/, '')}: no such host`;
    case 'ETIMEDOUT':
      return `dial tcp ${address}: i/o timeout`;
    default:
      return `${op} ${address}: ${err.message}`;
  }
}

/** "host:port" of a URL, with the scheme's default port, as Go's dialer names it. */
function urlAddress(url: URL): string {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  return `${url.hostname}:${port}`;
}

/** Go's http.Client error op: "Get", "Post", … */
function goMethodOp(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
}

/** Keeps the last `max` bytes written, as circbuf.Buffer does, and counts everything written. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes written in all (circbuf's TotalWritten). */
  total = 0;
  constructor(readonly max: number) {}
  write(chunk: Buffer): void {
    this.total += chunk.length;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.max && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/**
 * CheckHTTP.check: one request without keep-alive; 2xx passing, 429 warning, anything else
 * critical, with the output `HTTP <METHOD> <url>: <status line> Output: <body tail>`. A transport
 * failure is critical with Go's error text. Redirects are followed (up to 10) unless disabled.
 */
export async function probeHttp(spec: Extract<CheckRuntime, { kind: 'http' }>, outputMax: number, signal: AbortSignal): Promise<ProbeResult> {
  const method = spec.method === '' ? 'GET' : spec.method;
  const deadline = Date.now() + spec.timeoutMs;
  const failure = (text: string): ProbeResult => ({ status: 'critical', output: `${goMethodOp(method)} ${JSON.stringify(spec.url)}: ${text}` });
  let target: URL;
  try {
    target = new URL(spec.url);
  } catch {
    return { status: 'critical', output: `parse ${JSON.stringify(spec.url)}: invalid URI for request` };
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return failure(`unsupported protocol scheme ${JSON.stringify(target.protocol.replace(/:$/, ''))}`);
  }
  let currentMethod = method;
  let body: string | undefined = spec.body;
  for (let hop = 0; ; hop++) {
    const res = await oneRequest(target, currentMethod, spec, body, deadline, signal).catch((err: unknown) => err as Error);
    if (res instanceof Error) {
      if ((res as { timeout?: boolean }).timeout) return failure('context deadline exceeded (Client.Timeout exceeded while awaiting headers)');
      return failure(netErrorText(res as NodeJS.ErrnoException, 'dial tcp', urlAddress(target)));
    }
    const location = res.headers.location;
    if (!spec.disableRedirects && REDIRECT_CODES.has(res.statusCode ?? 0) && location) {
      res.resume();
      if (hop + 1 >= MAX_REDIRECTS) return failure('stopped after 10 redirects');
      target = new URL(location, target);
      if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && currentMethod !== 'GET' && currentMethod !== 'HEAD')) {
        currentMethod = 'GET';
        body = undefined;
      }
      continue;
    }
    const out = new TailBuffer(outputMax);
    const completed = await new Promise<boolean>((resolve) => {
      res.on('data', (c: Buffer) => out.write(c));
      res.on('end', () => resolve(true));
      res.on('error', () => resolve(false));
      res.on('close', () => resolve(false));
    });
    if (!completed && Date.now() >= deadline) {
      return failure('context deadline exceeded (Client.Timeout exceeded while reading body)');
    }
    const code = res.statusCode ?? 0;
    const statusLine = `${code} ${res.statusMessage ?? ''}`.trimEnd();
    const output = `HTTP ${method} ${spec.url}: ${statusLine} Output: ${out.toString()}`;
    if (code >= 200 && code <= 299) return { status: 'passing', output };
    if (code === 429) return { status: 'warning', output };
    return { status: 'critical', output };
  }
}

function oneRequest(
  url: URL,
  method: string,
  spec: Extract<CheckRuntime, { kind: 'http' }>,
  body: string | undefined,
  deadline: number,
  signal: AbortSignal,
): Promise<http.IncomingMessage> {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(spec.header)) headers[k] = [...v];
  const has = (name: string): boolean => Object.keys(headers).some((k) => k.toLowerCase() === name);
  if (!has('user-agent')) headers['User-Agent'] = CHECK_USER_AGENT;
  if (!has('accept')) headers.Accept = 'text/plain, text/*, */*';
  headers.Connection = 'close';
  const payload = body !== undefined && body !== '' ? Buffer.from(body, 'utf8') : undefined;
  if (payload) headers['Content-Length'] = String(payload.length);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('timeout'), { timeout: true }));
    }, Math.max(0, deadline - Date.now()));
    timer.unref();
    const req = transport.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        agent: false,
        signal,
        ...(url.protocol === 'https:' ? { rejectUnauthorized: !spec.tlsSkipVerify, ...(spec.tlsServerName ? { servername: spec.tlsServerName } : {}) } : {}),
      },
      (res) => {
        res.once('close', () => clearTimeout(timer));
        resolve(res);
      },
    );
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}

/** CheckTCP.check: a plain connect; `TCP connect <addr>: Success`, or the dial error as critical. */
/**
 * A probe's one answer under its timeout and the check's abort signal: the returned `finish`
 * passes only its first result to `settle`, after clearing the timer and the abort listener.
 * `onTimeout` and `onAbort` either finish the probe or stop its work so that it finishes.
 */
export function settleOnce(
  settle: (result: ProbeResult) => void,
  signal: AbortSignal,
  timeoutMs: number,
  onTimeout: () => void,
  onAbort: () => void,
): (result: ProbeResult) => void {
  let settled = false;
  const timer = setTimeout(onTimeout, timeoutMs);
  timer.unref();
  signal.addEventListener('abort', onAbort, { once: true });
  return (result) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    settle(result);
  };
}

export function probeTcp(spec: Extract<CheckRuntime, { kind: 'tcp' }>, signal: AbortSignal): Promise<ProbeResult> {
  const colon = spec.address.lastIndexOf(':');
  const host = colon < 0 ? spec.address : spec.address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = colon < 0 ? NaN : Number(spec.address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    return Promise.resolve({ status: 'critical', output: `dial tcp ${spec.address}: address ${spec.address}: missing port in address` });
  }
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = settleOnce(
      (result) => {
        socket.destroy();
        resolve(result);
      },
      signal,
      spec.timeoutMs,
      () => finish({ status: 'critical', output: `dial tcp ${spec.address}: i/o timeout` }),
      () => finish({ status: 'critical', output: 'aborted' }),
    );
    socket.once('connect', () => finish({ status: 'passing', output: `TCP connect ${spec.address}: Success` }));
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ status: 'critical', output: netErrorText(err, 'dial tcp', spec.address) }));
  });
}
