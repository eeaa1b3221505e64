/**
 * Counts the HTTP requests one in-process dev server receives, by route, as they arrive (Node's
 * `http.server.request.start` diagnostics channel, so no library code changes to be counted).
 * Request counts on an uncontended dev server are deterministic; tests may assert them (never
 * timings).
 *
 * A route reads `METHOD /v1/<endpoint>` with the flags that tell requests apart: `?index` marks
 * a blocking read (a waiter's or a monitor's parked query), `?recurse` a prefix listing,
 * `?acquire` / `?release` / `?cas` a lock write. Session IDs and key names are not part of it.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const CHANNEL = 'http.server.request.start';
const FLAGS = ['index', 'recurse', 'consistent', 'acquire', 'release', 'cas'] as const;

export interface CountedRequest {
  /** e.g. `GET /v1/kv?index&consistent`, `PUT /v1/txn`, `PUT /v1/session/create`. */
  readonly route: string;
  /** The raw request path with its query. */
  readonly url: string;
  /** True for a blocking read (`?index=` > 0): it parks until something changes. */
  readonly blocking: boolean;
}

export interface RequestCounter {
  /** Every request since the last `take()` (or since the counter started). */
  readonly requests: readonly CountedRequest[];
  /** How many since the last `take()`. */
  readonly total: number;
  /** Blocking reads since the last `take()`. */
  readonly blocking: number;
  /** Blocking reads parked right now (arrived, not yet answered or dropped), whenever they arrived. */
  readonly parked: number;
  /** Returns the requests counted so far and starts a new count. */
  take(): CountedRequest[];
  /** The routes counted so far, sorted (handy for `toEqual`), and starts a new count. */
  takeRoutes(): string[];
  stop(): void;
}

/** Starts counting requests that reach the server listening on `port` (in this process). */
export function countRequests(port: number): RequestCounter {
  let requests: CountedRequest[] = [];
  let parked = 0;
  const onStart = (message: unknown): void => {
    const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server: Server };
    const address = server.address() as AddressInfo | null;
    if (address?.port !== port) return;
    const counted = describe(request);
    requests.push(counted);
    if (counted.blocking) {
      parked += 1;
      response.once('close', () => {
        parked -= 1;
      });
    }
  };
  subscribe(CHANNEL, onStart);
  return {
    get requests() {
      return requests;
    },
    get total() {
      return requests.length;
    },
    get blocking() {
      return requests.filter((r) => r.blocking).length;
    },
    get parked() {
      return parked;
    },
    take() {
      const taken = requests;
      requests = [];
      return taken;
    },
    takeRoutes() {
      return this.take()
        .map((r) => r.route)
        .sort();
    },
    stop() {
      unsubscribe(CHANNEL, onStart);
    },
  };
}

function describe(req: IncomingMessage): CountedRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const segments = path.split('/').filter(Boolean);
  // /v1/kv/<key…> → /v1/kv; /v1/session/destroy/<id> → /v1/session/destroy.
  const keep = segments[1] === 'kv' || segments[1] === 'txn' ? 2 : segments[1] === 'agent' ? 4 : 3;
  const name = `/${segments.slice(0, keep).join('/')}`;
  const index = query.get('index');
  const blocking = index !== null && index !== '0';
  const flags = FLAGS.filter((f) => (f === 'index' ? blocking : query.has(f)));
  return { route: `${req.method} ${name}${flags.length > 0 ? `?${flags.join('&')}` : ''}`, url, blocking };
}
