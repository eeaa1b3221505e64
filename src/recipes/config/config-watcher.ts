/**
 * ConfigWatcher: a live, decoded view of every key under a KV prefix.
 *
 * Algorithm. One blocking recursive read of the prefix (`GET /v1/kv/<prefix>?recurse&index=…`),
 * driven by the shared blocking-query loop — never one request per key, so N watchers cost N
 * requests however many keys there are. Each response becomes a snapshot only if every value in it
 * decodes (src/recipes/config/config-snapshot.ts). The new snapshot is compared with the previous one
 * byte for byte; `change` fires with the added, modified and deleted keys, and not at all when
 * nothing changed (a rewrite with the same bytes, a write elsewhere that woke the query).
 *
 * Guarantee. Every snapshot published was the complete state of the prefix at one index on the
 * server: it is built from one response, and a response with a value that fails to decode is
 * rejected whole — `error` carries a {@link DecodeError} per bad key and the previous snapshot
 * stays — rather than patched with an old value for the bad key, which would publish a state the
 * server never held. The price: while a bad value sits under the prefix, later changes to other
 * keys are not published either; they arrive together once the value is fixed.
 *
 * Hazards. Snapshots can lag the server: by one round trip normally, and for as long as Consul is
 * unreachable or leaderless (reads fail, the loop backs off, the last snapshot stays, `error`
 * reports each failure; the first successful read afterwards publishes whatever changed in
 * between as one `change`). Intermediate states that came and went between two reads are never
 * seen: this is state watching, not a change log.
 */
import type { RecipeHost } from '../context.js';
import { ConfigError } from '../../errors.js';
import { validateKey } from '../../internal/keys.js';
import { DEFAULT_WAIT_MS, type BlockingReadArgs, type BlockingResult } from '../../loop/blocking-query.js';
import type { QueryMeta } from '../../transport/client.js';
import type { KVPair } from '../../transport/kv.js';
import {
  ConfigSnapshot,
  buildSnapshot,
  diffSnapshots,
  isEmptyChange,
  resolveDecoder,
  type ConfigChanges,
  type DecodeOption,
  type Decoder,
} from './config-snapshot.js';
import { resolveWaitMs, Watcher, type WatcherEvents, type WatcherOptions } from '../watch/watcher.js';
import { checkOptions, resolveDatacenter } from '../../internal/options.js';

export { ConfigSnapshot, type ConfigChanges, type DecodeOption, type Decoder } from './config-snapshot.js';

/** Defaults, each with its reason. */
export const CONFIG_WATCHER_DEFAULTS = Object.freeze({
  /** Text never fails on well-formed UTF-8, so a watcher works before anyone picks a format. */
  decode: 'string' as const,
  /** Consul's default blocking wait; close() cancels at once, so nothing waits on it. */
  waitMs: DEFAULT_WAIT_MS,
});

export interface ConfigWatcherOptions<T = unknown> extends WatcherOptions {
  /**
   * How values are decoded: `'json'` (empty value → null), `'string'` (strict UTF-8), `'buffer'`,
   * or a function `(bytes, key) => value` that throws to reject a value.
   * @default 'string'
   */
  decode?: DecodeOption<T>;
  /** Blocking wait per request (duration string or ms). @default '5m' */
  wait?: string | number;
  /**
   * Watch the KV store of another datacenter (`?dc=`): each datacenter has its own, and Consul
   * does not replicate it. @default the Coordinator's datacenter
   */
  dc?: string;
  /** Closes the watcher when aborted. @default none */
  signal?: AbortSignal;
}

export interface ResolvedConfigWatcherOptions<T> {
  prefix: string;
  dc: string | undefined;
  decode: Decoder<T>;
  waitMs: number;
  signal: AbortSignal | undefined;
}

/** ConfigWatcher events. */
export interface ConfigWatcherEvents<T> extends WatcherEvents {
  /** The first snapshot is available (`ready()` resolves with it). Fires once. */
  ready: [snapshot: ConfigSnapshot<T>];
  /**
   * A new snapshot differs from the previous one (the first is compared with the empty snapshot,
   * so a non-empty prefix reports all its keys as added; an empty one reports nothing).
   */
  change: [snapshot: ConfigSnapshot<T>, changes: ConfigChanges];
  /**
   * A read failed (`ConsulError`), or a response was rejected because a value did not decode
   * (`DecodeError`, one per bad key). The last good snapshot stays.
   */
  error: [error: unknown];
}

/** Validates and converts options synchronously; throws {@link ConfigError}. */
export function resolveConfigWatcherOptions<T>(prefix: unknown, options: ConfigWatcherOptions<T> = {}): ResolvedConfigWatcherOptions<T> {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('config watcher options must be an object', 'options');
  }
  checkOptions(options, ['decode', 'wait', 'dc', 'signal'], 'configWatcher()');
  return {
    prefix: validateKey('prefix', prefix),
    dc: resolveDatacenter(options.dc),
    decode: resolveDecoder<T>(options.decode ?? CONFIG_WATCHER_DEFAULTS.decode),
    waitMs: resolveWaitMs(options.wait, CONFIG_WATCHER_DEFAULTS.waitMs),
    signal: options.signal,
  };
}

/** A recursive KV read's answer as the blocking-query loop wants it. */
function pairsValue({ pairs, meta }: { pairs: KVPair[]; meta: QueryMeta }): { value: KVPair[]; meta: QueryMeta } {
  return { value: pairs, meta };
}

/**
 * Watches every key under `prefix` (a plain string prefix, as Consul matches it: end it with `/`
 * to watch a folder). Starts at once; call `ready()` to wait for the first snapshot.
 */
export class ConfigWatcher<T = unknown> extends Watcher<KVPair[], ConfigSnapshot<T>, ConfigWatcherEvents<T>> {
  /** The watched prefix; keys in snapshots are relative to it. */
  readonly prefix: string;
  private readonly decode: Decoder<T>;
  private readonly dc: string | undefined;

  constructor(host: RecipeHost, prefix: string, options: ConfigWatcherOptions<T> = {}) {
    const o = resolveConfigWatcherOptions<T>(prefix, options);
    super(host, `config "${o.prefix}"`, { waitMs: o.waitMs, signal: o.signal });
    this.prefix = o.prefix;
    this.decode = o.decode;
    this.dc = o.dc;
    this.start();
  }

  /** The decoded value of `key` (relative to the prefix) in the current snapshot, or undefined. */
  get(key: string): T | undefined {
    return this.current?.get(key);
  }

  /** The last consistent, fully decoded snapshot (the empty snapshot before the first read). */
  snapshot(): ConfigSnapshot<T> {
    return this.current ?? ConfigSnapshot.empty<T>();
  }

  /**
   * Iterates snapshots: the current one first (once ready), then each new one. A slow consumer
   * skips intermediate snapshots and gets the newest; every snapshot it sees was a real server
   * state. Leaving the loop does not close the watcher; `close()` ends the iteration.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<ConfigSnapshot<T>> {
    const queue = this.openQueue<ConfigSnapshot<T>>('latest');
    const current = this.current;
    if (current) queue.push(current);
    return queue;
  }

  /** Not an async function: an idle watcher's parked read keeps no suspended frame of its own. */
  protected read({ index, waitMs, signal }: BlockingReadArgs): Promise<{ value: KVPair[]; meta: QueryMeta }> {
    return this.ctx.api.kv.list(this.prefix, { index, waitMs, signal, dc: this.dc }).then(pairsValue);
  }

  protected handle({ value: pairs, index }: BlockingResult<KVPair[]>): void {
    const previous = this.current;
    const built = buildSnapshot<T>({ prefix: this.prefix, pairs, index, decode: this.decode, previous });
    if (!built.ok) {
      this.ctx.logger.debug({ prefix: this.prefix, index: index.toString(), bad: built.errors.map((e) => e.key) }, 'config response rejected');
      for (const err of built.errors) this.reportError(err);
      return;
    }
    const changes = diffSnapshots(previous ?? ConfigSnapshot.empty<T>(), built.snapshot);
    const changed = !isEmptyChange(changes);
    // Nothing changed: keep the snapshot object callers already hold.
    if (previous && !changed) return;
    this.publish(built.snapshot);
    // The first snapshot reaches iterations even when empty: they yield the current one first.
    this.pushToQueues(built.snapshot);
    if (changed) this.emit('change', built.snapshot, changes);
  }
}
