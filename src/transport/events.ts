/**
 * User event endpoints: `/v1/event/fire/:name` and `/v1/event/list`.
 *
 * The list's `X-Consul-Index` is NOT a Raft index: it is derived from the newest listed event's
 * UUID (`agent/event_endpoint.go:uuidToUint64`), may exceed 2^53, is not monotonic, and a blocking
 * list waits only while it is exactly equal to the index sent (consul-api §11.3). It is therefore
 * kept as an exact bigint end to end.
 */
import { parseJsonWithUint64 } from '../internal/uint64.js';
import type { ConsulTransport, QueryMeta } from './client.js';
import { blockingTimeoutMs, readRetry, type ReadOptions } from './kv.js';

/** A user event as the agent stores it, decoded. */
export interface UserEventRecord {
  /** UUID assigned by the agent that fired it. */
  id: string;
  name: string;
  /** Raw payload bytes; null when the event carried none. */
  payload: Buffer | null;
  /** Regexp filters the event was fired with ('' when unset). */
  nodeFilter: string;
  serviceFilter: string;
  tagFilter: string;
  version: number;
  /**
   * Serf Lamport time at which the agent received it; 0 in a fire reply. A number, like every
   * index and counter in the recipes' API: it counts events, far below 2^53.
   */
  ltime: number;
}

export interface FireOptions {
  /** Regexp on node names: only matching agents keep the event. */
  node?: string | undefined;
  /** Regexp on service names: only agents with a matching local service keep it. */
  service?: string | undefined;
  /** Regexp on the matching service's tags (needs `service`). */
  tag?: string | undefined;
  /** Fire in this datacenter (`?dc=`): a server there gossips it to that datacenter's agents. */
  dc?: string | undefined;
  signal?: AbortSignal | undefined;
}

interface RawUserEvent {
  ID: string;
  Name: string;
  Payload: string | null;
  NodeFilter?: string;
  ServiceFilter?: string;
  TagFilter?: string;
  Version?: number;
  LTime?: bigint | number;
}

export function decodeUserEvent(raw: RawUserEvent): UserEventRecord {
  return {
    id: raw.ID,
    name: raw.Name,
    payload: raw.Payload ? Buffer.from(raw.Payload, 'base64') : null,
    nodeFilter: raw.NodeFilter ?? '',
    serviceFilter: raw.ServiceFilter ?? '',
    tagFilter: raw.TagFilter ?? '',
    version: raw.Version ?? 1,
    ltime: Number(raw.LTime ?? 0),
  };
}

/**
 * The list index Consul derives from an event ID: the UUID's 32 hex digits split into two 64-bit
 * halves, XORed (`uuidToUint64`; `api/event.go:IDToIndex` mirrors it). Undefined for a malformed ID.
 */
export function eventIdToIndex(id: string): bigint | undefined {
  const hex = id.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  return BigInt(`0x${hex.slice(0, 16)}`) ^ BigInt(`0x${hex.slice(16)}`);
}

export class UserEvents {
  constructor(
    private readonly t: ConsulTransport,
    private readonly baseTimeoutMs: number,
  ) {}

  /**
   * Fires an event through the local agent. Not retried after failures that may have landed: a
   * repeated fire is a second event with a new ID.
   */
  async fire(name: string, payload: Buffer | null, opts: FireOptions = {}): Promise<UserEventRecord> {
    const res = await this.t.request({
      method: 'PUT',
      path: `/v1/event/fire/${encodeURIComponent(name)}`,
      query: { node: opts.node || undefined, service: opts.service || undefined, tag: opts.tag || undefined, dc: opts.dc },
      // The agent reads the body only when Content-Length > 0; send none for an empty payload.
      body: payload && payload.length > 0 ? payload : undefined,
      signal: opts.signal,
      retry: 'if-not-applied',
    });
    return decodeUserEvent(parseJsonWithUint64<RawUserEvent>(res.body.toString('utf8'), ['LTime']));
  }

  /**
   * The agent's event buffer (oldest first, at most 256), optionally narrowed to one name. With
   * `index` and `waitMs` it blocks while the list's index still equals `index`.
   */
  async list(opts: ReadOptions & { name?: string | undefined } = {}): Promise<{ events: UserEventRecord[]; meta: QueryMeta }> {
    const blocking = opts.index !== undefined && opts.index > 0n;
    const res = await this.t.request({
      method: 'GET',
      path: '/v1/event/list',
      query: {
        name: opts.name || undefined,
        index: blocking ? (opts.index as bigint).toString() : undefined,
        wait: blocking && opts.waitMs !== undefined ? `${Math.max(1, Math.round(opts.waitMs))}ms` : undefined,
      },
      signal: opts.signal,
      timeoutMs: blockingTimeoutMs(blocking ? opts.waitMs : undefined, this.baseTimeoutMs),
      retry: readRetry(opts),
    });
    const raw = parseJsonWithUint64<RawUserEvent[] | null>(res.body.toString('utf8'), ['LTime']) ?? [];
    return { events: raw.map(decodeUserEvent), meta: res.meta };
  }
}
