/**
 * User events (agent/user_event.go, agent/event_endpoint.go, hashicorp/serf serf/serf.go):
 * validation, the gossip size limit, delivery filtering, the 256-event ring buffer and the
 * event-list index derived from the newest event's UUID.
 */
import { randomUUID } from 'node:crypto';
import { compileGoRegexp } from './regexp.js';

/** user_event.go userEventMaxVersion. */
export const USER_EVENT_VERSION = 1;

/** remoteExecName: remote exec events are handled internally and never listed. */
export const REMOTE_EXEC_EVENT = '_rexec';

/** agent.go New: `eventBuf: make([]*UserEvent, 256)`. */
export const EVENT_BUFFER_SIZE = 256;

/** serf.DefaultConfig UserEventSizeLimit. */
export const USER_EVENT_SIZE_LIMIT = 512;

/** The gossip name Consul gives a user event (consul/internal_endpoint.go `userEventName`). */
const USER_EVENT_PREFIX = 'consul:event:';

export interface UserEvent {
  readonly ID: string;
  readonly Name: string;
  readonly Payload: Buffer | null;
  readonly NodeFilter: string;
  readonly ServiceFilter: string;
  readonly TagFilter: string;
  readonly Version: number;
  /** Lamport time: 0 in the fire reply, set when the event is received. */
  readonly LTime: number;
}

export class UserEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserEventError';
  }
}

/** validateUserEventParams. */
export function validateUserEvent(e: Pick<UserEvent, 'Name' | 'NodeFilter' | 'ServiceFilter' | 'TagFilter'>): void {
  if (e.Name === '') throw new UserEventError('User event missing name');
  if (e.TagFilter !== '' && e.ServiceFilter === '') throw new UserEventError('Cannot provide tag filter without service filter');
  const check = (pattern: string, what: string): void => {
    if (pattern === '') return;
    const compiled = compileGoRegexp(pattern);
    if (typeof compiled === 'string') throw new UserEventError(`Invalid ${what} filter: ${compiled}`);
  };
  check(e.NodeFilter, 'node');
  check(e.ServiceFilter, 'service');
  check(e.TagFilter, 'tag');
}

// ---- msgpack sizes (go-msgpack codec) ----------------------------------------------------------

/** A string: fixstr below 32 bytes, str8 below 256 only with WriteExt, then str16 / str32. */
function strSize(len: number, writeExt: boolean): number {
  if (len < 32) return 1 + len;
  if (len < 256 && writeExt) return 2 + len;
  if (len < 65536) return 3 + len;
  return 5 + len;
}

/** []byte: bin8/16/32 with WriteExt; without it a raw string. */
function bytesSize(len: number, writeExt: boolean): number {
  if (!writeExt) return strSize(len, false);
  if (len < 256) return 2 + len;
  if (len < 65536) return 3 + len;
  return 5 + len;
}

/** A non-negative integer. */
function uintSize(n: number): number {
  if (n < 128) return 1;
  if (n < 256) return 2;
  if (n < 65536) return 3;
  if (n < 2 ** 32) return 5;
  return 9;
}

/**
 * Length of `encodeMsgPack(&UserEvent)` with Consul's handle (WriteExt): a map of ID, `n`,
 * optional `p`, `nf`, `sf`, `tf` (omitempty), and `v`; LTime is not encoded.
 */
export function encodedUserEventSize(e: Pick<UserEvent, 'Name' | 'Payload' | 'NodeFilter' | 'ServiceFilter' | 'TagFilter'>): number {
  const b = (s: string): number => Buffer.byteLength(s, 'utf8');
  let size = 1; // fixmap (at most 7 entries)
  size += strSize(2, true) + strSize(36, true); // "ID"
  size += strSize(1, true) + strSize(b(e.Name), true); // "n"
  if (e.Payload !== null && e.Payload.length > 0) size += strSize(1, true) + bytesSize(e.Payload.length, true); // "p"
  if (e.NodeFilter !== '') size += strSize(2, true) + strSize(b(e.NodeFilter), true);
  if (e.ServiceFilter !== '') size += strSize(2, true) + strSize(b(e.ServiceFilter), true);
  if (e.TagFilter !== '') size += strSize(2, true) + strSize(b(e.TagFilter), true);
  size += strSize(1, true) + uintSize(USER_EVENT_VERSION); // "v"
  return size;
}

/**
 * serf.UserEvent's two size checks against UserEventSizeLimit: the gossip name plus the encoded
 * event, then the whole serf message (type byte + msgpack of LTime, Name, Payload, CC with a
 * plain handle).
 */
export function checkUserEventSize(e: Parameters<typeof encodedUserEventSize>[0], ltime: number, limit = USER_EVENT_SIZE_LIMIT): void {
  const gossipName = Buffer.byteLength(`${USER_EVENT_PREFIX}${e.Name}`, 'utf8');
  const payload = encodedUserEventSize(e);
  if (gossipName + payload > limit) {
    throw new UserEventError(`user event exceeds configured limit of ${limit} bytes before encoding`);
  }
  const message =
    1 + // message type
    1 + // fixmap of 4
    strSize(5, false) + uintSize(ltime) + // LTime
    strSize(4, false) + strSize(gossipName, false) + // Name
    strSize(7, false) + bytesSize(payload, false) + // Payload
    strSize(2, false) + 1; // CC
  if (message > limit) {
    throw new UserEventError(`encoded user event exceeds configured limit of ${limit} bytes after encoding`);
  }
}

/**
 * uuidToUint64: the first 16 hex digits of the UUID (dashes removed) XOR the last 16, as an exact
 * uint64.
 */
export function uuidToUint64(id: string): bigint {
  const hex = id.replace(/-/g, '');
  return BigInt(`0x${hex.slice(0, 16)}`) ^ BigInt(`0x${hex.slice(16, 32)}`);
}

/** The agent's view of itself that delivery filtering needs. */
export interface EventTarget {
  readonly nodeName: string;
  /** Local services: ID and tags (the agent's service map is keyed by ID). */
  localServices(): ReadonlyArray<{ readonly id: string; readonly tags: readonly string[] }>;
}

export class UserEvents {
  private buffer: UserEvent[] = [];
  /** serf's event clock; starts at 1 ("so that the default join LTime of 0 does not cause issues"). */
  private clock = 1;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly target: EventTarget) {}

  /**
   * Agent.UserEvent + serf.UserEvent + handleEvents: validates, gives the event an ID, checks the
   * gossip size, then delivers it to this agent (kept only when its filters match). Returns the
   * event as the fire endpoint answers it (LTime 0).
   */
  fire(input: Pick<UserEvent, 'Name' | 'Payload' | 'NodeFilter' | 'ServiceFilter' | 'TagFilter'>): UserEvent {
    validateUserEvent(input);
    const event: UserEvent = { ID: randomUUID(), ...input, Version: USER_EVENT_VERSION, LTime: 0 };
    const ltime = this.clock;
    checkUserEventSize(event, ltime);
    this.clock += 1;
    if (this.shouldProcess(event)) this.ingest({ ...event, LTime: ltime });
    return event;
  }

  /**
   * Delivery of an event fired on another agent (serf gossip → handleUserEvent): the Lamport
   * clock witnesses it, and the event is kept only when this agent's filters match.
   */
  deliver(event: UserEvent): void {
    const ltime = this.clock;
    this.clock += 1;
    if (this.shouldProcess(event)) this.ingest({ ...event, LTime: ltime });
  }

  /** UserEvents(): the buffer, oldest first. */
  list(): UserEvent[] {
    return [...this.buffer];
  }

  /** eventNotify: called after each ingested event. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** shouldProcessUserEvent. */
  private shouldProcess(e: UserEvent): boolean {
    if (e.NodeFilter !== '') {
      const re = compileGoRegexp(e.NodeFilter);
      if (typeof re === 'string' || !re.test(this.target.nodeName)) return false;
    }
    if (e.ServiceFilter !== '') {
      const re = compileGoRegexp(e.ServiceFilter);
      if (typeof re === 'string') return false;
      let tagRe: RegExp | undefined;
      if (e.TagFilter !== '') {
        const t = compileGoRegexp(e.TagFilter);
        if (typeof t === 'string') return false;
        tagRe = t;
      }
      const found = this.target.localServices().some((s) => re.test(s.id) && (tagRe === undefined || s.tags.some((tag) => tagRe.test(tag))));
      if (!found) return false;
    }
    return true;
  }

  /** ingestUserEvent: `_rexec` is handled internally; others enter the ring buffer. */
  private ingest(e: UserEvent): void {
    if (e.Name === REMOTE_EXEC_EVENT) return;
    this.buffer.push(e);
    if (this.buffer.length > EVENT_BUFFER_SIZE) this.buffer.shift();
    for (const listener of [...this.listeners]) listener();
  }
}
