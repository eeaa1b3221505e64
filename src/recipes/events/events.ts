/**
 * Events: fire Consul user events and watch them.
 *
 * Algorithm. `fire` is one `PUT /v1/event/fire/<name>` through the local agent, which gossips the
 * event to the cluster. `watch` runs one blocking `GET /v1/event/list?name=<name>` through the
 * shared blocking-query loop. The list's index is not a Raft index (it is derived from the newest
 * event's UUID, can exceed 2^53, and blocks only while exactly equal), so it is kept as an exact
 * bigint, and delivery never trusts it: each reply is the agent's whole buffer, and the watcher
 * delivers only the events after the last one it handled (src/recipes/watch/event-cursor.ts).
 *
 * Guarantee. Per watcher, each event the agent buffered is delivered once, in the agent's order,
 * with none lost between blocking rounds — as long as fewer than 256 events (of any name) reach
 * the agent between two reads of the watcher and the agent does not restart. When either happens
 * the watcher cannot know what it missed: it emits `truncated` and carries on with what is there.
 * Events already buffered when the watch starts are history, skipped unless `history: true`; every
 * event the agent receives after `ready()` resolves is delivered.
 *
 * Hazards. Delivery is at most once across watcher restarts: a new watcher does not know where an
 * old one stopped. Events travel by gossip: best effort, small (a payload of a few hundred bytes at
 * most), kept only by agents whose node/service/tag filters match, and never persisted. Use them
 * to nudge ("config changed, re-read"), not to carry state.
 */
import { contextOf, type RecipeContext, type RecipeHost } from '../context.js';
import { ConfigError, IllegalStateError } from '../../errors.js';
import { describe } from '../../internal/duration.js';
import { DEFAULT_WAIT_MS, type BlockingReadArgs, type BlockingResult } from '../../loop/blocking-query.js';
import type { QueryMeta } from '../../transport/client.js';
import type { UserEventRecord } from '../../transport/events.js';
import { advanceEventCursor, INITIAL_EVENT_CURSOR, sameLastEvent, type EventCursor } from '../watch/event-cursor.js';
import { resolveWaitMs, Watcher, type WatcherEvents, type WatcherOptions } from '../watch/watcher.js';
import { checkOptions, resolveDatacenter, checkLocalOptions } from '../../internal/options.js';

/**
 * Why `events.watch()` takes no `dc`: the event list is the local agent's own buffer of what gossip
 * brought it (agent/event_endpoint.go EventList never forwards, whatever `?dc=` says), and events
 * fired into another datacenter are gossiped only there.
 */
export const EVENT_LIST_DATACENTER_REASON =
  "Consul's event list is the local agent's own buffer and is never forwarded; events fired into another datacenter reach only its agents, so watch them through a Coordinator on an agent there";

/** A user event as delivered: `payload` is the raw bytes (null when none). */
export type UserEvent = UserEventRecord;

/** Defaults and limits, each with its reason. */
export const EVENTS_DEFAULTS = Object.freeze({
  /** A watch is a notification stream: what happened before it started is not news. */
  history: false,
  /** Consul's default blocking wait; close() cancels at once, so nothing waits on it. */
  waitMs: DEFAULT_WAIT_MS,
  /**
   * Serf's user event limit: name plus encoded event must fit in 512 bytes
   * (`serf/serf.go:UserEvent`). A larger payload can never be sent, so it is refused up front;
   * smaller ones near the limit may still be refused by the agent (encoding overhead).
   */
  maxPayloadBytes: 512,
});

export type EventPayload = string | Uint8Array | null | undefined;

export interface FireEventOptions {
  /** Regexp on node names: only matching agents keep the event. @default all nodes */
  node?: string;
  /**
   * Regexp on the IDs of each agent's local services (Consul matches service IDs, which default
   * to the name): only agents running a matching service keep the event. @default all
   */
  service?: string;
  /** Regexp on that service's tags; needs `service`. @default all */
  tag?: string;
  /**
   * Fire in another datacenter (`?dc=`): a server there gossips the event to that datacenter's
   * agents only (agents here never see it). @default the Coordinator's datacenter
   */
  dc?: string;
  signal?: AbortSignal;
}

export interface EventWatchOptions extends WatcherOptions {
  /** Also deliver the events already in the agent's buffer when the watch starts. @default false */
  history?: boolean;
  /** Blocking wait per request (duration string or ms). @default '5m' */
  wait?: string | number;
  /** Closes the watcher when aborted; a running `for await` then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** EventWatcher events. */
export interface EventWatcherEvents extends WatcherEvents {
  /** The first list was read: every event the agent receives from now on will be delivered. */
  ready: [];
  /** A new event, in the agent's order, once per watcher. */
  event: [event: UserEvent];
  /**
   * The last event handled left the agent's buffer before the next read (more than 256 events in
   * between, or an agent restart): events may have been missed. Delivery resumes with the buffer.
   */
  truncated: [info: { lastId: string | undefined }];
  /** A read failed; the watcher retries with backoff and loses nothing still in the buffer. */
  error: [error: unknown];
}

function validateEventName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError(`event name must be a non-empty string, got ${describe(name)}`, 'name');
  }
  return name;
}

/** Converts a payload to bytes, refusing what Consul would refuse; throws {@link ConfigError}. */
export function encodePayload(payload: unknown): Buffer | null {
  let bytes: Buffer | null;
  if (payload === undefined || payload === null) bytes = null;
  else if (typeof payload === 'string') bytes = Buffer.from(payload, 'utf8');
  else if (payload instanceof Uint8Array) bytes = Buffer.from(payload);
  else throw new ConfigError(`event payload must be a string, a Buffer/Uint8Array or null, got ${describe(payload)}`, 'payload');
  if (bytes && bytes.length > EVENTS_DEFAULTS.maxPayloadBytes) {
    throw new ConfigError(
      `event payload must be at most ${EVENTS_DEFAULTS.maxPayloadBytes} bytes (Consul's user event limit), got ${bytes.length}`,
      'payload',
    );
  }
  return bytes;
}

function optionalRegexp(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigError(`option "${option}" must be a non-empty regular expression string, got ${describe(value)}`, option);
  }
  return value;
}

/** Fire and watch user events; `coord.events`. */
export class Events {
  private readonly ctx: RecipeContext;

  constructor(host: RecipeHost) {
    this.ctx = contextOf(host);
  }

  /**
   * Fires an event through the local agent and resolves with its ID. Bad input throws
   * {@link ConfigError} synchronously. A failed fire is not repeated unless the failure proves it
   * never reached the agent: a repeat would be a second event.
   */
  fire(name: string, payload?: EventPayload, options: FireEventOptions = {}): Promise<string> {
    validateEventName(name);
    checkOptions(options, ['node', 'service', 'tag', 'dc', 'signal'], 'events.fire()');
    const dc = resolveDatacenter(options.dc);
    const bytes = encodePayload(payload);
    const node = optionalRegexp('node', options.node);
    const service = optionalRegexp('service', options.service);
    const tag = optionalRegexp('tag', options.tag);
    if (tag !== undefined && service === undefined) {
      throw new ConfigError('option "tag" needs option "service" (Consul filters tags of the matching service)', 'tag');
    }
    this.ctx.lifetime.assertOpen();
    return this.ctx.api.events
      .fire(name, bytes, { node, service, tag, dc, signal: options.signal })
      .then((event) => event.id);
  }

  /**
   * Watches events named `name`. Starts at once. Iterate it (`for await`) or listen to `event`;
   * `ready()` resolves once the baseline is read.
   */
  watch(name: string, options: EventWatchOptions = {}): EventWatcher {
    return new EventWatcher(this.ctx, name, options);
  }
}

/**
 * A stream of user events of one name. It can be iterated once; leaving the `for await` loop
 * closes the watcher, so `for await (const ev of coord.events.watch('deploy'))` leaks nothing.
 * Events delivered before the iteration began are not replayed to it.
 */
export class EventWatcher extends Watcher<UserEvent[], void, EventWatcherEvents> {
  readonly name: string;
  private readonly history: boolean;
  private cursor: EventCursor = INITIAL_EVENT_CURSOR;
  private iterated = false;

  constructor(host: RecipeHost, name: string, options: EventWatchOptions = {}) {
    validateEventName(name);
    if (options === null || typeof options !== 'object') throw new ConfigError('event watch options must be an object', 'options');
    checkLocalOptions(options, ['history', 'wait', 'signal'], 'events.watch()', EVENT_LIST_DATACENTER_REASON);
    const history = options.history ?? EVENTS_DEFAULTS.history;
    if (typeof history !== 'boolean') throw new ConfigError(`option "history" must be a boolean, got ${describe(history)}`, 'history');
    const waitMs = resolveWaitMs(options.wait, EVENTS_DEFAULTS.waitMs);
    super(host, `events "${name}"`, { waitMs, signal: options.signal, equals: sameLastEvent });
    this.name = name;
    this.history = history;
    this.start();
  }

  /** Events in order, from the moment the iteration starts until the watcher closes. */
  [Symbol.asyncIterator](): AsyncIterableIterator<UserEvent> {
    if (this.iterated) throw new IllegalStateError('an EventWatcher can be iterated only once; create another watcher', this.state);
    this.iterated = true;
    return this.openQueue<UserEvent>('all', () => void this.close());
  }

  protected async read({ index, waitMs, signal }: BlockingReadArgs): Promise<{ value: UserEvent[]; meta: QueryMeta }> {
    const { events, meta } = await this.ctx.api.events.list({ name: this.name, index, waitMs, signal });
    return { value: events, meta };
  }

  protected handle({ value: events }: BlockingResult<UserEvent[]>): void {
    const step = advanceEventCursor(this.cursor, events, { history: this.history });
    const lastId = this.cursor.lastId;
    this.cursor = step.cursor;
    this.publish(undefined);
    if (step.truncated) {
      this.ctx.logger.warn({ event: this.name, lastId }, 'event buffer moved past the last event handled; some may be missed');
      this.emit('truncated', { lastId });
    }
    for (const event of step.deliver) {
      this.pushToQueues(event);
      this.emit('event', event);
    }
  }
}
