/**
 * Routing and the error wrapper, after agent/http.go (`handler`, `wrap`, `Index`) and Go's
 * ServeMux: a pattern ending in `/` matches its whole subtree (longest pattern wins) and a
 * request for the subtree root without its slash is redirected to it; every route declares
 * its methods (405 + `Allow: OPTIONS,<methods>` otherwise; OPTIONS answers 200 with `Allow`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Core } from '../core.js';
import { StateError } from '../state/types.js';
import { RequestContext, type Reply } from './context.js';
import { AclError, HttpError, MethodNotAllowedError, RequestAborted, RpcError } from './errors.js';
import { DecodeError } from './json.js';
import { goUnescape, parseQuery } from './query.js';

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

interface Route {
  readonly pattern: string;
  readonly methods: readonly string[];
  readonly handler: Handler;
}

export class Router {
  private readonly exact = new Map<string, Route>();
  private readonly subtrees: Route[] = [];

  add(pattern: string, methods: readonly string[], handler: Handler): this {
    const route: Route = { pattern, methods, handler };
    if (pattern.endsWith('/')) {
      this.subtrees.push(route);
      this.subtrees.sort((a, b) => b.pattern.length - a.pattern.length);
    } else {
      this.exact.set(pattern, route);
    }
    return this;
  }

  match(path: string): { route: Route } | { redirect: string } | undefined {
    const exact = this.exact.get(path);
    if (exact) return { route: exact };
    for (const route of this.subtrees) if (path.startsWith(route.pattern)) return { route };
    // ServeMux: "/v1/kv" redirects to the registered subtree "/v1/kv/".
    if (this.subtrees.some((r) => r.pattern === `${path}/`)) return { redirect: `${path}/` };
    return undefined;
  }
}

export interface DispatchHooks {
  /** Resolves when the server may answer (pause gate). */
  gate(): Promise<void>;
  /** Aborted when the server closes or restarts. */
  readonly closing: AbortSignal;
}

/** net/http rstAvoidanceDelay: how long a closing connection keeps reading after its answer. */
const RST_AVOIDANCE_DELAY_MS = 500;

/**
 * Go's closeWriteAndWait for a connection answered before its request body arrived: Node closes
 * such a connection as soon as the answer is written, and the client's next upload bytes then
 * meet a reset that can destroy the answer before the client reads it. Instead, half-close
 * (FIN after the answer), keep discarding what the client still sends, and close once it is done
 * or after the delay.
 */
function lingerAfterReply(socket: Socket): void {
  socket.destroySoon = function destroySoon(this: Socket): void {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), RST_AVOIDANCE_DELAY_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    this.once('end', () => this.destroy());
    this.resume();
  };
}

/** Writes a reply (after the pause gate). */
async function send(res: ServerResponse, reply: Reply, hooks: DispatchHooks, signal?: AbortSignal): Promise<void> {
  await hooks.gate();
  if (res.writableEnded || res.destroyed) return;
  if (reply.stream && signal) {
    res.writeHead(reply.status, reply.headers);
    res.flushHeaders();
    await reply.stream((chunk) => void res.write(chunk), signal);
    if (!res.destroyed) res.end();
    return;
  }
  const headers: Record<string, string | number> = { ...reply.headers, 'Content-Length': reply.body.length };
  if (reply.closeConnection) headers.Connection = 'close';
  if (!res.req.complete && res.socket) lingerAfterReply(res.socket);
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

function errorReply(ctx: RequestContext | undefined, err: unknown): Reply | undefined {
  const text = (status: number, body: string, extra: Record<string, string> = {}): Reply => ({
    status,
    headers: { ...(ctx?.headers ?? {}), ...(body === '' ? {} : { 'Content-Type': 'text/plain; charset=utf-8' }), ...extra },
    body: Buffer.from(body, 'utf8'),
  });
  if (err instanceof RequestAborted) return undefined;
  if (err instanceof HttpError) return { ...text(err.status, err.message), closeConnection: err.closeConnection };
  if (err instanceof MethodNotAllowedError) return text(405, err.message, { Allow: ['OPTIONS', ...err.allow].join(',') });
  if (err instanceof AclError) return text(403, err.message);
  if (err instanceof StateError || err instanceof RpcError || err instanceof DecodeError) return text(500, err.message);
  // Any other error is a server bug, but Consul's rule still applies: 500 with the text.
  return text(500, err instanceof Error ? err.message : String(err));
}

/** Characters outside Go's unicode.IsPrint (letters, marks, numbers, punctuation, symbols, ' '). */
const NON_PRINTABLE = /[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

/** agent/http.go Index: the root, or a 404 that says whether the path looked like the API. */
function indexReply(path: string): Reply {
  const text = (status: number, body: string): Reply => ({
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    body: Buffer.from(body),
  });
  if (path === '/') return text(200, 'Consul Agent');
  if (path.startsWith('/v1/')) return text(404, 'Invalid URL path: not a recognized HTTP API endpoint\n');
  return text(404, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n");
}

/**
 * The abort signal of one request, made on first use: most requests never wait, so they never pay
 * for an AbortController and its two listeners. Once made, it aborts when the client hangs up
 * before the answer (or already has) or when the server closes or restarts.
 */
export class RequestLifetime {
  private controller: AbortController | undefined;
  private readonly abort = (): void => this.controller?.abort();

  constructor(
    private readonly res: ServerResponse,
    private readonly closing: AbortSignal,
  ) {}

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    if (this.res.closed || this.closing.aborted) {
      controller.abort();
      return controller.signal;
    }
    this.res.on('close', this.abort);
    this.closing.addEventListener('abort', this.abort, { once: true });
    return controller.signal;
  }

  end(): void {
    if (!this.controller) return;
    this.res.off('close', this.abort);
    this.closing.removeEventListener('abort', this.abort);
  }
}

export async function dispatch(core: Core, router: Router, req: IncomingMessage, res: ServerResponse, hooks: DispatchHooks): Promise<void> {
  const lifetime = new RequestLifetime(res, hooks.closing);
  let ctx: RequestContext | undefined;
  try {
    await hooks.gate();
    const method = req.method ?? 'GET';
    // An absolute-form request target (`http://host/path`) addresses the same path.
    const url = (req.url ?? '/').replace(/^https?:\/\/[^/?]*/i, '') || '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const path = goUnescape(rawPath, false);
    // net/http rejects a request line whose path has a malformed escape.
    if (path === undefined || !path.startsWith('/')) {
      await send(res, { status: 400, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: Buffer.from('400 Bad Request'), closeConnection: true }, hooks);
      return;
    }
    // go-cleanhttp PrintablePathCheckHandler wraps Consul's mux: a path with a character Go's
    // unicode.IsPrint refuses gets a bare 400.
    if (NON_PRINTABLE.test(path)) {
      await send(res, { status: 400, headers: {}, body: Buffer.alloc(0) }, hooks);
      return;
    }
    core.log('debug', 'http: request', { method, path });
    const found = router.match(path);
    if (!found) {
      await send(res, indexReply(path), hooks);
      return;
    }
    if ('redirect' in found) {
      const location = found.redirect + (rawQuery === '' ? '' : `?${rawQuery}`);
      await send(res, { status: 301, headers: { Location: location, 'Content-Type': 'text/html; charset=utf-8' }, body: Buffer.alloc(0) }, hooks);
      return;
    }
    const { route } = found;
    // http.go wrap: a query that does not decode is a 500 with no body.
    const query = parseQuery(rawQuery);
    if (query === undefined) {
      await send(res, { status: 500, headers: {}, body: Buffer.alloc(0) }, hooks);
      return;
    }
    const allow = ['OPTIONS', ...route.methods].join(',');
    if (method === 'OPTIONS') {
      await send(res, { status: 200, headers: { Allow: allow }, body: Buffer.alloc(0) }, hooks);
      return;
    }
    ctx = new RequestContext(core, req, method, path, rawPath, query, lifetime);
    if (!route.methods.includes(method)) throw new MethodNotAllowedError(method, route.methods);
    const reply = await route.handler(ctx);
    // Only a streamed reply needs the request's abort signal (made on first use, see RequestLifetime).
    await send(res, reply, hooks, reply.stream ? lifetime.signal : undefined);
  } catch (err) {
    const reply = errorReply(ctx, err);
    if (reply === undefined) {
      if (!res.headersSent) res.destroy();
      return;
    }
    if (!(err instanceof HttpError || err instanceof AclError || err instanceof MethodNotAllowedError)) {
      core.log('debug', 'http: request error', { path: ctx?.path, error: err instanceof Error ? err.message : String(err) });
    }
    try {
      await send(res, reply, hooks);
    } catch {
      // The socket is gone; nothing more to tell the client.
      res.destroy();
    }
  } finally {
    lifetime.end();
  }
}
