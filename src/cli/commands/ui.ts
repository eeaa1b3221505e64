/**
 * `consul-recipes ui --consul <addr> [--port 8501]`: serves the web UI for a real Consul agent or
 * cluster. A small local HTTP server serves the static files (dist/ui/) and forwards `/v1/` to the
 * agent, over https with the usual CA / client certificate variables when the address is https.
 *
 * The ACL token: `--token` or CONSUL_HTTP_TOKEN stays in this process and is added to forwarded
 * requests that carry none; without one, the page asks for a token and keeps it in the tab's
 * session storage, sending it as the `X-Consul-Token` header. A token is never accepted in a URL
 * (`?token=` is refused) and never printed. Because this server holds a token, it answers only
 * requests addressed to itself by a loopback name (no DNS rebinding) and refuses cross-site
 * browser requests (no other web page can use the token).
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { normalizeAddress, optionsFromEnv } from '../../coordinator.js';
import { ConfigError } from '../../errors.js';
import { createUiHandler } from '../../ui/static.js';
import { CONNECTION_OPTIONS, UsageError, integerOption, parse, runCommand, type CommandIo } from '../args.js';
import { EXIT, exitCodesHelp } from '../exit-codes.js';
import { untilStopSignal } from '../stop-signal.js';

export const UI_USAGE = `Usage: consul-recipes ui [--consul <addr>] [options]

Serves the web UI (services, nodes, key/value, sessions, and who holds every lock, semaphore
permit and leadership) for a Consul agent, on a local port. Requests to /v1/ are forwarded to the
agent.

Options:
  --consul <addr>      Consul agent, host:port or http(s)://host:port (same as --address;
                       default $CONSUL_HTTP_ADDR, then 127.0.0.1:8500)
  --port <n>           local port to serve on (default 8501; 0 picks a free port)
  --host <addr>        local address to bind (default 127.0.0.1)
  --token <token>      ACL token kept in this process and added to forwarded requests
                       (default $CONSUL_HTTP_TOKEN). Without one the page asks for a token and
                       keeps it in the browser tab's session storage. Never put in a URL.
  --ca-file <path>     PEM CA bundle for https (default $CONSUL_CACERT); client certificates
                       come from $CONSUL_CLIENT_CERT / $CONSUL_CLIENT_KEY, the server name from
                       $CONSUL_TLS_SERVER_NAME, CONSUL_HTTP_SSL_VERIFY=false skips verification
  -h, --help           show this help

Stops cleanly on SIGINT or SIGTERM (exit 0).

${exitCodesHelp(false)}`;

/** Request headers passed on to the agent; everything else (cookies, …) stays here. */
const FORWARDED_REQUEST = ['accept', 'content-type', 'content-length', 'transfer-encoding', 'x-consul-token'];
/** Response headers passed back; the agent's own headers that matter to the UI. */
const FORWARDED_RESPONSE = /^(content-type|content-length|transfer-encoding|x-consul-.*)$/i;

export interface UiServerOptions {
  /** Base URL of the agent (`http(s)://host:port`). */
  readonly agent: string;
  readonly port: number;
  readonly host: string;
  /** Kept here, added to requests that carry none. */
  readonly token?: string | undefined;
  readonly tls?: https.AgentOptions;
}

export interface UiServer {
  /** `http://host:port/ui/` */
  readonly url: string;
  close(): Promise<void>;
}

function loopbackNames(host: string, port: number): Set<string> {
  const names = new Set([`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);
  names.add(`${host.includes(':') ? `[${host}]` : host}:${port}`);
  return names;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}

/** Starts the local UI server. */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const agent = new URL(options.agent);
  const secure = agent.protocol === 'https:';
  const pool = secure ? new https.Agent({ keepAlive: true, ...options.tls }) : new http.Agent({ keepAlive: true });
  const ui = createUiHandler();
  let names = new Set<string>();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.searchParams.has('token')) return refuse(res, 400, 'A token in the URL is refused: send it as the X-Consul-Token header.');
    const headers: Record<string, string | string[]> = {};
    for (const name of FORWARDED_REQUEST) {
      const value = req.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    if (headers['x-consul-token'] === undefined && options.token !== undefined) headers['x-consul-token'] = options.token;
    const upstream = (secure ? https : http).request(
      { protocol: agent.protocol, hostname: agent.hostname, port: agent.port, path: req.url, method: req.method, headers, agent: pool },
      (reply) => {
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(reply.headers)) if (value !== undefined && FORWARDED_RESPONSE.test(name)) out[name] = value;
        res.writeHead(reply.statusCode ?? 502, out);
        reply.pipe(res);
      },
    );
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!res.headersSent) refuse(res, 502, `Cannot reach Consul at ${agent.origin}: ${err.code ?? err.message}`);
      else res.destroy();
    });
    // The browser left (a page change aborts its blocking queries): stop waiting on the agent too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };

  const server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 5_000 }, (req, res) => {
    // A server holding a token answers only to its own loopback names (DNS rebinding) …
    if (!names.has((req.headers.host ?? '').toLowerCase())) return refuse(res, 421, 'Unknown host name.');
    // … and only to pages it served itself (another site must not use the token).
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    if ((site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && !names.has(origin.replace(/^https?:\/\//, '')))) {
      return refuse(res, 403, 'Cross-site requests are refused.');
    }
    if (ui(req, res)) return;
    if ((req.url ?? '').startsWith('/v1/')) return forward(req, res);
    refuse(res, 404, 'Not found.');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  names = loopbackNames(options.host, port);
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/ui/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      pool.destroy();
    },
  };
}

export async function runUi(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand('ui', UI_USAGE, argv, io, async () => {
    const { values } = parse(
      argv,
      { ...CONNECTION_OPTIONS, consul: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
      { min: 0, max: 0, names: 'no arguments' },
    );
    if (values.consul !== undefined && values.address !== undefined) throw new UsageError('give --consul or --address, not both');
    if (values.datacenter !== undefined) throw new UsageError('--datacenter is not used here: the page names the datacenter in its URL');
    let env;
    let agent;
    try {
      env = optionsFromEnv();
      agent = normalizeAddress(values.consul ?? values.address ?? env.address ?? '127.0.0.1:8500');
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    }
    let ca = env.ca;
    if (values['ca-file'] !== undefined) {
      try {
        ca = readFileSync(values['ca-file']);
      } catch (err) {
        throw new UsageError(`--ca-file: cannot read ${JSON.stringify(values['ca-file'])}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    const tls: https.AgentOptions = {};
    if (ca !== undefined) tls.ca = ca;
    if (env.cert !== undefined) tls.cert = env.cert;
    if (env.key !== undefined) tls.key = env.key;
    if (env.tlsServerName !== undefined) tls.servername = env.tlsServerName;
    if (env.tlsSkipVerify) tls.rejectUnauthorized = false;
    const port = integerOption('port', values.port, 0) ?? 8501;
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const token = values.token ?? env.token;
    const server = await startUiServer({ agent, port, host: values.host ?? '127.0.0.1', token, tls });
    const stopped = untilStopSignal(io, 'ui');
    // Never print the token itself.
    const how = token !== undefined ? 'ACL token kept by this server' : 'no ACL token: the page asks for one if the agent needs it';
    io.out(`consul-recipes ui: serving ${server.url} for Consul at ${agent} (${how})`);
    await stopped;
    await server.close();
    return EXIT.OK;
  });
}
