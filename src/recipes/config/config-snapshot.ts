/**
 * Pure helpers of the ConfigWatcher: decoding values, building a snapshot from one recursive KV
 * read, and diffing two snapshots. No I/O, tested without a server.
 *
 * A snapshot is all-or-nothing: it is built from exactly one response and only if every value in
 * it decodes. When one value fails, the whole response is rejected (the caller keeps its previous
 * snapshot), so every snapshot ever published is one the server actually held at some index —
 * never a mix of a new response and an old value kept for the key that failed.
 */
import { TextDecoder, type inspect as utilInspect, type InspectOptionsStylized } from 'node:util';
import { ConfigError, DecodeError } from '../../errors.js';
import { describe } from '../../internal/duration.js';
import type { KVPair } from '../../transport/kv.js';

/** A custom decoder: raw bytes (empty Buffer for an empty value) and the key relative to the prefix. */
export type Decoder<T> = (value: Buffer, key: string) => T;

/** How values are decoded: JSON, UTF-8 text, raw bytes, or a function. */
export type DecodeOption<T> = 'json' | 'string' | 'buffer' | Decoder<T>;

/** What changed between two snapshots (keys relative to the prefix, sorted). */
export interface ConfigChanges {
  added: string[];
  /** Keys whose raw bytes changed. A rewrite with identical bytes is not a change. */
  modified: string[];
  deleted: string[];
}

interface SnapshotEntry<T> {
  value: T;
  /** Raw bytes as stored (empty Buffer for an empty value): what change detection compares. */
  raw: Buffer;
  modifyIndex: number;
}

/** The maps of every empty snapshot (never written: the snapshot's maps are private and read-only). */
const EMPTY_MAP: ReadonlyMap<string, never> = new Map<string, never>();

/**
 * One consistent, fully decoded view of a prefix, built from a single response. Immutable. Keys
 * are relative to the watched prefix.
 *
 * It is a read-only `Map` of key → decoded value (`get`, `has`, `size`, `keys`, `values`,
 * `entries`, `forEach`, `for…of`), iterated in sorted key order, so it can be passed wherever a
 * `ReadonlyMap<string, T>` is expected. `JSON.stringify(snapshot)` gives
 * `{ index, entries: { key: value } }`.
 *
 * Indexes are `number`s, as everywhere in the recipes' API (fencing tokens, `modifyIndex`):
 * a Raft index counts writes, and 2^53 writes at a million a second take 285 years.
 */
export class ConfigSnapshot<T = unknown> implements ReadonlyMap<string, T> {
  /** The response's `X-Consul-Index` (0 for the empty snapshot before any read). */
  readonly index: number;
  /** Entries by key, in sorted key order. */
  readonly #entries: ReadonlyMap<string, SnapshotEntry<T>>;
  /** Decoded values by key, in sorted key order: what the Map interface iterates. */
  readonly #values: ReadonlyMap<string, T>;

  /** @internal Built by {@link buildSnapshot}; the empty one by {@link ConfigSnapshot.empty}. */
  constructor(index: bigint | number, entries: ReadonlyMap<string, SnapshotEntry<T>>) {
    this.index = Number(index);
    if (entries.size === 0) {
      // Neither map is ever written after construction, so every empty snapshot shares one (an
      // idle watcher of an empty prefix keeps no maps of its own).
      this.#entries = EMPTY_MAP as ReadonlyMap<string, SnapshotEntry<T>>;
      this.#values = EMPTY_MAP as ReadonlyMap<string, T>;
    } else {
      const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.#entries = new Map(sorted);
      this.#values = new Map(sorted.map(([key, entry]) => [key, entry.value]));
    }
    Object.freeze(this);
  }

  static empty<T>(): ConfigSnapshot<T> {
    return new ConfigSnapshot<T>(0, new Map());
  }

  /** Number of keys. */
  get size(): number {
    return this.#values.size;
  }

  /** The decoded value of `key` (relative to the prefix), or undefined. */
  get(key: string): T | undefined {
    return this.#values.get(key);
  }

  has(key: string): boolean {
    return this.#values.has(key);
  }

  /** Keys in sorted order. */
  keys(): MapIterator<string> {
    return this.#values.keys();
  }

  /** Decoded values, in sorted key order. */
  values(): MapIterator<T> {
    return this.#values.values();
  }

  /** `[key, value]` pairs in sorted key order. */
  entries(): MapIterator<[string, T]> {
    return this.#values.entries();
  }

  /** Calls `callback(value, key, snapshot)` for each key, in sorted order. */
  forEach(callback: (value: T, key: string, snapshot: ReadonlyMap<string, T>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.#values) callback.call(thisArg, value, key, this);
  }

  /** `[key, value]` pairs in sorted key order. */
  [Symbol.iterator](): MapIterator<[string, T]> {
    return this.#values.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'ConfigSnapshot';
  }

  /** The key's `ModifyIndex`, for callers that track versions. */
  modifyIndex(key: string): number | undefined {
    return this.#entries.get(key)?.modifyIndex;
  }

  /** The raw bytes of `key` as stored (empty Buffer for an empty value). */
  raw(key: string): Buffer | undefined {
    const entry = this.#entries.get(key);
    return entry ? Buffer.from(entry.raw) : undefined;
  }

  /** A plain object `{ key: value }` (prototype-free, so keys like `__proto__` are safe). */
  toObject(): Record<string, T> {
    const out = Object.create(null) as Record<string, T>;
    for (const [key, value] of this.#values) out[key] = value;
    return out;
  }

  /** What `JSON.stringify` writes: `{ index, entries: { key: value } }`, keys sorted. */
  toJSON(): { index: number; entries: Record<string, T> } {
    return { index: this.index, entries: this.toObject() };
  }

  /** `console.log(snapshot)`: the index and the entries, as Node shows a Map. */
  [Symbol.for('nodejs.util.inspect.custom')](depth: number, options: InspectOptionsStylized, inspect: typeof utilInspect): string {
    if (depth < 0) return `ConfigSnapshot(${this.size}) [index ${this.index}]`;
    return `ConfigSnapshot [index ${this.index}] ${inspect(new Map(this.#values), { ...options, depth: options.depth === null ? null : depth })}`;
  }

  /** @internal */
  entry(key: string): SnapshotEntry<T> | undefined {
    return this.#entries.get(key);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Turns the `decode` option into a function, throwing {@link ConfigError} for anything else.
 * - `'string'`: strict UTF-8 (invalid bytes fail rather than turn into U+FFFD); empty → `''`.
 * - `'json'`: `JSON.parse` of the UTF-8 text; an empty value → `null`; results are deep-frozen,
 *   because successive snapshots share unchanged values.
 * - `'buffer'`: a copy of the bytes.
 */
export function resolveDecoder<T>(decode: DecodeOption<T> | undefined): Decoder<T> {
  if (typeof decode === 'function') return decode;
  const name: unknown = decode ?? 'string';
  const builtin = typeof name === 'string' && Object.hasOwn(BUILTIN_DECODERS, name) ? BUILTIN_DECODERS[name] : undefined;
  if (!builtin) {
    throw new ConfigError(
      `option "decode" must be 'json', 'string', 'buffer' or a function, got ${describe(decode)}`,
      'decode',
    );
  }
  // The type parameter is the caller's statement of what the named format yields.
  return builtin as Decoder<T>;
}

const BUILTIN_DECODERS: Readonly<Record<string, Decoder<unknown>>> = Object.freeze({
  string: (raw: Buffer) => utf8.decode(raw),
  buffer: (raw: Buffer) => Buffer.from(raw),
  json: (raw: Buffer) => (raw.length === 0 ? null : deepFreeze(JSON.parse(utf8.decode(raw)) as unknown)),
});

function deepFreeze<V>(value: V): V {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

/**
 * Keys that are not configuration values: the prefix itself and "folder" keys ending in `/` (the
 * UI creates them), as consul-template's `tree` skips them.
 */
export function relativeKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rel = key.slice(prefix.length);
  if (rel === '' || rel.endsWith('/')) return undefined;
  return rel;
}

export type BuildResult<T> =
  | { ok: true; snapshot: ConfigSnapshot<T> }
  | { ok: false; errors: DecodeError[] };

/**
 * Builds a snapshot from one recursive read. Values whose bytes equal those of `previous` are
 * reused rather than decoded again. Any decode failure rejects the whole response.
 */
export function buildSnapshot<T>(input: {
  prefix: string;
  pairs: readonly KVPair[];
  /** The response's `X-Consul-Index`; the snapshot keeps it as a number. */
  index: bigint | number;
  decode: Decoder<T>;
  previous?: ConfigSnapshot<T> | undefined;
}): BuildResult<T> {
  const entries = new Map<string, SnapshotEntry<T>>();
  const errors: DecodeError[] = [];
  for (const pair of input.pairs) {
    const key = relativeKey(input.prefix, pair.key);
    if (key === undefined) continue;
    const raw = pair.value ?? Buffer.alloc(0);
    const before = input.previous?.entry(key);
    if (before && before.modifyIndex === pair.modifyIndex && before.raw.equals(raw)) {
      entries.set(key, before);
      continue;
    }
    try {
      entries.set(key, { value: input.decode(Buffer.from(raw), key), raw, modifyIndex: pair.modifyIndex });
    } catch (err) {
      errors.push(new DecodeError(pair.key, err instanceof Error ? err.message : String(err), { cause: err }));
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, snapshot: new ConfigSnapshot<T>(input.index, entries) };
}

/** Keys added, modified (raw bytes differ) and deleted from `before` to `after`. */
export function diffSnapshots<T>(before: ConfigSnapshot<T>, after: ConfigSnapshot<T>): ConfigChanges {
  const added: string[] = [];
  const modified: string[] = [];
  const deleted: string[] = [];
  for (const key of after.keys()) {
    const old = before.entry(key);
    if (!old) added.push(key);
    else if (!old.raw.equals((after.entry(key) as SnapshotEntry<T>).raw)) modified.push(key);
  }
  for (const key of before.keys()) if (!after.has(key)) deleted.push(key);
  return { added, modified, deleted };
}

/** True when a diff found nothing. */
export function isEmptyChange(changes: ConfigChanges): boolean {
  return changes.added.length === 0 && changes.modified.length === 0 && changes.deleted.length === 0;
}
