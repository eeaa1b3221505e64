/**
 * The dev server's state store: a tiny stand-in for Consul's memdb + Raft FSM.
 *
 * - One global Raft-like index. Every write request takes the next index (Consul appends one
 *   Raft log entry per write RPC, even when the write turns out to be a no-op), and only the
 *   rows and tables the write actually changed record it (st/kvs_ce.go `insertKVTxn`).
 * - A per-table index (memdb's "index" table): the highest index that modified the table.
 * - Writes run in a {@link WriteTx}: an overlay on top of the committed tables, so a failed
 *   transaction (`/v1/txn` with an error) is simply dropped, as `TxnRW` aborts the memdb txn.
 * - After a commit, listeners get the list of changed rows; blocking queries wait on them
 *   (the role memdb watch channels play in Consul).
 * - Lock-delays live beside the tables, in memory only, as st/delay.go keeps them.
 */
import { type Change, type TableName, type TableRows, TABLES } from './types.js';

export type ChangeListener = (changes: readonly Change[]) => void;

/**
 * Orders keys as memdb's radix tree does: by UTF-8 bytes, which is code point order. UTF-16 code
 * units already sort in code point order except that a surrogate (a code point ≥ U+10000) must
 * sort after every BMP character, including U+E000–U+FFFF; handle that at the first difference
 * instead of encoding both strings (this runs inside every sort).
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa === sb) return ca - cb;
    return sa ? 1 : -1;
  }
  return a.length - b.length;
}

type TableMaps = { [K in TableName]: Map<string, TableRows[K]> };

function emptyTables(): TableMaps {
  return { kvs: new Map(), tombstones: new Map(), sessions: new Map(), nodes: new Map(), services: new Map(), checks: new Map(), queries: new Map() };
}

/** Read access shared by committed snapshots and write transactions. */
export class ReadTx {
  constructor(protected readonly store: Store) {}

  get<K extends TableName>(table: K, key: string): TableRows[K] | undefined {
    return this.store.tables[table].get(key);
  }

  /** Every row of a table, in key order. */
  all<K extends TableName>(table: K): TableRows[K][] {
    return this.prefix(table, '');
  }

  /** Rows whose key starts with `prefix` (plain string prefix, not path-aware), in key order. */
  prefix<K extends TableName>(table: K, prefix: string): TableRows[K][] {
    const keys: string[] = [];
    for (const key of this.keys(table)) if (key.startsWith(prefix)) keys.push(key);
    keys.sort(compareKeys);
    const out: TableRows[K][] = [];
    for (const key of keys) {
      const row = this.get(table, key);
      if (row !== undefined) out.push(row);
    }
    return out;
  }

  protected keys(table: TableName): Iterable<string> {
    return this.store.tables[table].keys();
  }

  tableIndex(table: TableName): number {
    return this.store.tableIndex[table];
  }

  /**
   * A named entry of memdb's "index" table beyond the per-table ones (`service.<name>`,
   * `service_last_extinction`); undefined when it does not exist.
   */
  namedIndex(name: string): number | undefined {
    return this.store.namedIndexes.get(name);
  }
}

/**
 * A write transaction at one Raft index. Reads see the transaction's own writes first (later
 * ops in a `/v1/txn` see the effects of earlier ones). Nothing is visible to others until
 * {@link Store.write} commits it.
 */
export class WriteTx extends ReadTx {
  private readonly overlay = emptyTables() as { [K in TableName]: Map<string, TableRows[K] | null> };
  private readonly changed: Change[] = [];
  private readonly delays = new Map<string, number>();
  private readonly named = new Map<string, number | null>();

  constructor(
    store: Store,
    readonly index: number,
    /** Wall-clock ms of this write, shared by every lock-delay it sets (st/session.go `now`). */
    readonly now: number,
  ) {
    super(store);
  }

  override get<K extends TableName>(table: K, key: string): TableRows[K] | undefined {
    const pending = this.overlay[table].get(key);
    if (pending === null) return undefined;
    return pending ?? super.get(table, key);
  }

  override namedIndex(name: string): number | undefined {
    const pending = this.named.get(name);
    if (pending === null) return undefined;
    return pending ?? super.namedIndex(name);
  }

  /** indexUpdateMaxTxn: raises a named index to this write's index. */
  bumpNamedIndex(name: string): void {
    this.named.set(name, Math.max(this.namedIndex(name) ?? 0, this.index));
  }

  /** Deletes a named index entry (the `service.<name>` entry of an extinct service). */
  deleteNamedIndex(name: string): void {
    this.named.set(name, null);
  }

  protected override keys(table: TableName): Iterable<string> {
    const keys = new Set(super.keys(table));
    for (const key of this.overlay[table].keys()) keys.add(key);
    return keys;
  }

  put<K extends TableName>(table: K, key: string, row: TableRows[K]): void {
    this.overlay[table].set(key, row);
    this.changed.push({ table, key });
  }

  delete(table: TableName, key: string): void {
    if (this.get(table, key) === undefined) return;
    this.overlay[table].set(key, null);
    this.changed.push({ table, key });
  }

  /** Records a lock-delay expiry for `key` (st/delay.go `SetExpiration`), applied on commit. */
  setLockDelay(key: string, delayMs: number): void {
    this.delays.set(key, this.now + delayMs);
  }

  /** @internal */
  commitInto(store: Store): Change[] {
    const touched = new Set<TableName>();
    for (const table of TABLES) {
      const target = store.tables[table] as Map<string, unknown>;
      for (const [key, row] of this.overlay[table]) {
        touched.add(table);
        if (row === null) target.delete(key);
        else target.set(key, row);
      }
    }
    // memdb's "index" table: every table the write modified records the write's index.
    for (const table of touched) store.tableIndex[table] = Math.max(store.tableIndex[table], this.index);
    for (const [key, expires] of this.delays) store.lockDelay.set(key, expires);
    for (const [name, value] of this.named) {
      if (value === null) store.namedIndexes.delete(name);
      else store.namedIndexes.set(name, value);
    }
    return this.changed;
  }
}

export interface WriteResult<T> {
  readonly index: number;
  readonly result: T;
}

export class Store {
  /** The last Raft index handed out. */
  index = 0;
  readonly tables: TableMaps = emptyTables();
  readonly tableIndex: Record<TableName, number> = { kvs: 0, tombstones: 0, sessions: 0, nodes: 0, services: 0, checks: 0, queries: 0 };
  /** Named entries of memdb's "index" table (see {@link ReadTx.namedIndex}). */
  readonly namedIndexes = new Map<string, number>();
  /** key → wall-clock ms until which `?acquire` / txn `lock` on the key is refused. */
  readonly lockDelay = new Map<string, number>();
  private readonly listeners = new Set<ChangeListener>();

  read(): ReadTx {
    return new ReadTx(this);
  }

  /**
   * Runs `fn` as one Raft write at a fresh index. The changes are committed unless `fn` throws
   * or `keep(result)` returns false (a `/v1/txn` with errors is rolled back but, like a Raft log
   * entry whose FSM apply failed, still consumed its index).
   */
  write<T>(fn: (tx: WriteTx) => T, keep: (result: T) => boolean = () => true): WriteResult<T> {
    this.index += 1;
    const tx = new WriteTx(this, this.index, Date.now());
    const result = fn(tx);
    if (keep(result)) {
      const changes = tx.commitInto(this);
      if (changes.length > 0) this.notify(changes);
    }
    return { index: tx.index, result };
  }

  /** Remaining lock-delay for a key in ms (0 when none). Expired entries are dropped lazily. */
  lockDelayRemaining(key: string, now = Date.now()): number {
    const expires = this.lockDelay.get(key);
    if (expires === undefined) return 0;
    if (expires <= now) {
      this.lockDelay.delete(key);
      return 0;
    }
    return expires - now;
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(changes: readonly Change[]): void {
    for (const listener of [...this.listeners]) listener(changes);
  }
}
