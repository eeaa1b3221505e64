/**
 * Talking to Consul from the browser: every request goes to this page's own origin under `/v1/`
 * (the dev server itself, or `consul-recipes ui`, which forwards to the agent). The ACL token, when
 * the user types one, lives in sessionStorage and travels only in the `X-Consul-Token` header,
 * never in a URL. Live views are blocking queries (`?index=`), one loop per view, aborted when the
 * view goes away.
 */
import { useEffect, useState } from 'preact/hooks';
import type { KVPair } from '../../transport/kv.js';
import type { SessionEntry } from '../../transport/session.js';

const TOKEN_KEY = 'consul-recipes-ui-token';
/** How long one blocking query may wait; the server caps it anyway. */
const WAIT = '55s';
const RETRY_MS = 1000;

export function getToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

const tokenListeners = new Set<() => void>();

export function setToken(token: string): void {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  for (const listener of tokenListeners) listener();
}

/** Re-renders (and restarts every live query) when the token changes. */
export function useTokenVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const bump = (): void => setVersion((v) => v + 1);
    tokenListeners.add(bump);
    return () => void tokenListeners.delete(bump);
  }, []);
  return version;
}

/** An error reply from Consul, with its status and body text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  /** An ACL refusal: the page offers the token box. */
  get isAcl(): boolean {
    return this.status === 403 || /ACL not found|Permission denied/i.test(this.message);
  }
}

let datacenter = '';
/** Every request names the datacenter of the URL (`/ui/<dc>/…`). */
export function setDatacenter(dc: string): void {
  datacenter = dc;
}

export function apiUrl(path: string, params: Record<string, string | number | undefined> = {}): string {
  const query = new URLSearchParams();
  if (datacenter !== '') query.set('dc', datacenter);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, String(value));
  const text = query.toString().replace(/=(&|$)/g, '$1');
  return text === '' ? path : `${path}?${text}`;
}

function headers(): Record<string, string> {
  const token = getToken();
  return token === '' ? {} : { 'X-Consul-Token': token };
}

export async function request(method: string, url: string, body?: BodyInit, signal?: AbortSignal): Promise<Response> {
  const init: RequestInit = { method, headers: headers(), cache: 'no-store' };
  if (body !== undefined) init.body = body;
  if (signal !== undefined) init.signal = signal;
  const res = await fetch(url, init);
  if (!res.ok && res.status !== 404) throw new ApiError(res.status, (await res.text()).trim() || `HTTP ${res.status}`);
  return res;
}

/** A PUT/DELETE whose reply is `true` or `false` (KV writes). */
export async function write(method: 'PUT' | 'DELETE', url: string, body?: BodyInit): Promise<boolean> {
  const res = await request(method, url, body);
  if (res.status === 404) throw new ApiError(404, (await res.text()).trim() || 'not found');
  return (await res.text()).trim() === 'true';
}

export async function getJson<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const res = await request('GET', apiUrl(path, params));
  if (res.status === 404) throw new ApiError(404, 'not found');
  return (await res.json()) as T;
}

export interface Live<T> {
  /** Undefined until the first answer. */
  readonly data: T | undefined;
  readonly error: ApiError | Error | undefined;
  /** The X-Consul-Index of the data shown. */
  readonly index: number;
}

/**
 * Keeps `data` equal to the answer of a GET on `path`, re-asking as a blocking query with the
 * last `X-Consul-Index` so a change shows within moments. `parse` gets the body (null on 404,
 * e.g. a KV key that does not exist). A smaller index than before resets to 0, as Consul's
 * clients must; errors are shown and retried every second.
 */
export function useLive<T>(path: string | null, params: Record<string, string | number | undefined>, parse: (body: string | null) => T): Live<T> {
  const [state, setState] = useState<Live<T>>({ data: undefined, error: undefined, index: 0 });
  const tokenVersion = useTokenVersion();
  const paramsKey = JSON.stringify(params);
  useEffect(() => {
    setState({ data: undefined, error: undefined, index: 0 });
    if (path === null) return undefined;
    const controller = new AbortController();
    const { signal } = controller;
    void (async () => {
      let index = 0;
      while (!signal.aborted) {
        try {
          const url = apiUrl(path, index > 0 ? { ...params, index, wait: WAIT } : params);
          const res = await request('GET', url, undefined, signal);
          const text = res.status === 404 ? null : await res.text();
          const next = Number(res.headers.get('X-Consul-Index') ?? '0');
          const changed = next !== index || index === 0;
          index = next < index || !Number.isFinite(next) ? 0 : next;
          if (changed && !signal.aborted) setState({ data: parse(text), error: undefined, index });
        } catch (err) {
          if (signal.aborted) return;
          setState((s) => ({ ...s, error: err as Error }));
          index = 0;
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    })();
    return () => controller.abort();
  }, [path, paramsKey, tokenVersion]);
  return state;
}

/** Consul's JSON KV entry; Flags is read as text first because uint64 does not fit a double. */
interface RawKv {
  Key: string;
  Value: string | null;
  Flags: string | number;
  Session?: string;
  LockIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** Parses a KV reply keeping every Flags value exact (a lock's flag is above 2^53). */
export function parseKvList(body: string | null): KVPair[] {
  if (body === null) return [];
  // A Flags field is always a bare number; inside a key the quotes would be escaped (\").
  const raw = JSON.parse(body.replace(/"Flags":(\d+)/g, '"Flags":"$1"')) as RawKv[] | null;
  return (raw ?? []).map((r) => ({
    key: r.Key,
    value: r.Value === null || r.Value === '' ? null : Buffer.from(r.Value, 'base64'),
    flags: BigInt(r.Flags),
    session: r.Session === undefined || r.Session === '' ? undefined : r.Session,
    lockIndex: r.LockIndex,
    createIndex: r.CreateIndex,
    modifyIndex: r.ModifyIndex,
  }));
}

export function parseJson<T>(fallback: T): (body: string | null) => T {
  return (body) => (body === null ? fallback : ((JSON.parse(body) as T | null) ?? fallback));
}

export type { KVPair, SessionEntry };

/** Encodes a KV key for the URL path, keeping '/' separators. */
export function keyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
