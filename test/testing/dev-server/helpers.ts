/**
 * Test helpers for the dev server's own tests: a raw HTTP client (node:http, so paths are sent
 * byte for byte and bodies come back as text) and a condition poller.
 */
import http from 'node:http';
import type { DevServer } from '../../../src/testing/index.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  json<T = unknown>(): T;
}

export interface RawOptions {
  body?: string | Buffer | object;
  headers?: Record<string, string>;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
  signal?: AbortSignal;
}

export function raw(server: DevServer, method: string, path: string, options: RawOptions = {}): Promise<RawResponse> {
  const { body, chunked = false } = options;
  const payload =
    body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: server.host,
        port: server.port,
        method,
        path,
        headers: {
          ...(payload !== undefined && !chunked ? { 'Content-Length': String(payload.length) } : {}),
          ...options.headers,
        },
        agent: false,
        signal: options.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export function index(res: RawResponse): number {
  return Number(res.headers['x-consul-index']);
}

/** Polls `check` until it returns true (or throws after `timeout` ms). */
export async function until(check: () => boolean | Promise<boolean>, timeout = 5_000, interval = 20): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, interval));
  }
}

export async function createSession(server: DevServer, body: object = {}): Promise<string> {
  const res = await raw(server, 'PUT', '/v1/session/create', { body });
  if (res.status !== 200) throw new Error(`session create failed: ${res.status} ${res.text}`);
  return res.json<{ ID: string }>().ID;
}
