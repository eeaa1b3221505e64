/**
 * What `consul-recipes inspect` shows, as pure functions over one KV listing and one session
 * listing (tested without a server).
 *
 * Recognised layouts:
 * - lock: any key with `api.LockFlagValue` (ours, Go's `api.Lock`, `consul lock`'s `<prefix>/.lock`);
 * - semaphore: `<dir>/.lock` with `api.SemaphoreFlagValue` (the `{"Limit","Holders"}` record) plus
 *   the `<dir>/<session>` contender keys with the same flag. Holders are the record's sessions that
 *   still lock a key in `<dir>` (Go's pruning rule; the others are listed as `stale`), waiters the
 *   contender keys of sessions that are not holders;
 * - election: a key without either flag that a session locks (LeaderElection's leader key; its
 *   CreateIndex is the term's fencing token). Without a leader there is no key, so there is
 *   nothing to show.
 * Anything else (plain data) is only counted.
 *
 * Age: Consul records no time for sessions or acquisitions (indexes are Raft positions, not
 * clocks), so the age shown is what the holder wrote into its value (see holder-info.ts): the time
 * it created its session, on its own clock. Holders that do not write one (Go, `consul lock`,
 * library users with another value) have an unknown age, shown as `?` / `null`.
 */
import type { KVPair, SessionEntry } from '../transport/index.js';
import { LOCK_FLAG_VALUE, SEMAPHORE_FLAG_VALUE, SEMAPHORE_RECORD_NAME } from '../recipes/hold/keys.js';
import { decodeSemaphoreRecord, pruneDeadHolders } from '../recipes/semaphore/record.js';
import { readHolderInfo, type HolderInfo } from './holder-info.js';
import { showValue } from './format.js';

/** A session as shown: what Consul reports about it. */
export interface SessionView {
  readonly id: string;
  readonly name: string;
  readonly node: string;
  /** As Consul reports it ("15s"); empty for a session without TTL. */
  readonly ttl: string;
  readonly lockDelayMs: number;
  readonly behavior: string;
}

/** One holder (or waiter) of something. */
export interface HolderView {
  readonly sessionId: string;
  /** Undefined when the session is gone (invalidated between our two reads). */
  readonly session: SessionView | undefined;
  /** What the holder wrote about itself, when it uses our format. */
  readonly holder: HolderInfo | undefined;
  /** ms since `holder.since` (null when unknown). */
  readonly ageMs: number | null;
}

export interface LockView {
  readonly key: string;
  /** The key's ModifyIndex: the current holder's fencing token (while held). */
  readonly modifyIndex: number;
  readonly holder: HolderView | null;
}

export interface SemaphoreView {
  /** The semaphore prefix (the folder holding `.lock`). */
  readonly prefix: string;
  /** From the record; null when the record is missing or does not decode. */
  readonly limit: number | null;
  readonly holders: readonly HolderView[];
  readonly waiting: readonly HolderView[];
  /** Sessions the record still lists but that hold nothing here: pruned by the next acquire. */
  readonly stale: readonly string[];
  /** Why the record could not be read, if it could not. */
  readonly problem?: string;
}

export interface ElectionView {
  readonly key: string;
  /** The key's CreateIndex: the term's fencing token. */
  readonly fencingToken: number;
  readonly leader: HolderView;
  /** The advertised value: text, or base64 when it is not UTF-8. */
  readonly value: string;
}

export interface Inspection {
  readonly prefix: string;
  readonly locks: readonly LockView[];
  readonly semaphores: readonly SemaphoreView[];
  readonly elections: readonly ElectionView[];
  /** Keys under the prefix that are none of the above. */
  readonly otherKeys: number;
}

function toSessionView(s: SessionEntry): SessionView {
  return { id: s.ID, name: s.Name, node: s.Node, ttl: s.TTL, lockDelayMs: Math.round(s.LockDelay / 1e6), behavior: s.Behavior };
}

function holderView(sessionId: string, value: Buffer | null | undefined, sessions: ReadonlyMap<string, SessionEntry>, nowMs: number): HolderView {
  const entry = sessions.get(sessionId);
  const holder = readHolderInfo(value);
  const since = holder ? Date.parse(holder.since) : NaN;
  return {
    sessionId,
    session: entry ? toSessionView(entry) : undefined,
    holder,
    ageMs: Number.isNaN(since) ? null : Math.max(0, nowMs - since),
  };
}

function dirname(key: string): string {
  const at = key.lastIndexOf('/');
  return at === -1 ? '' : key.slice(0, at);
}

function basename(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

export function inspect(prefix: string, pairs: readonly KVPair[], sessionList: readonly SessionEntry[], nowMs: number): Inspection {
  const sessions = new Map(sessionList.map((s) => [s.ID, s]));
  const locks: LockView[] = [];
  const elections: ElectionView[] = [];
  const semaphoreDirs = new Map<string, KVPair[]>();
  let otherKeys = 0;

  for (const pair of pairs) {
    if (pair.flags === SEMAPHORE_FLAG_VALUE) {
      const dir = dirname(pair.key);
      semaphoreDirs.set(dir, [...(semaphoreDirs.get(dir) ?? []), pair]);
    }
  }
  for (const pair of pairs) {
    if (pair.flags === SEMAPHORE_FLAG_VALUE) continue;
    if (pair.flags === LOCK_FLAG_VALUE) {
      locks.push({
        key: pair.key,
        modifyIndex: pair.modifyIndex,
        holder: pair.session === undefined ? null : holderView(pair.session, pair.value, sessions, nowMs),
      });
    } else if (pair.session !== undefined && pair.flags === 0n) {
      const shown = showValue(pair.value);
      elections.push({
        key: pair.key,
        fencingToken: pair.createIndex,
        leader: holderView(pair.session, pair.value, sessions, nowMs),
        value: 'text' in shown ? shown.text : `base64:${shown.base64}`,
      });
    } else {
      otherKeys += 1;
    }
  }

  const semaphores: SemaphoreView[] = [];
  for (const [dir, dirPairs] of semaphoreDirs) {
    const record = dirPairs.find((p) => basename(p.key) === SEMAPHORE_RECORD_NAME);
    // Contender keys are named after the session that locks them.
    const contenders = dirPairs.filter((p) => p !== record && p.session !== undefined && basename(p.key) === p.session);
    otherKeys += dirPairs.length - contenders.length - (record ? 1 : 0);
    const valueOf = new Map(contenders.map((p) => [p.session as string, p.value]));
    let limit: number | null = null;
    let holderIds: string[] = [];
    let stale: string[] = [];
    let problem: string | undefined;
    if (!record) {
      problem = 'no .lock record yet';
    } else {
      const decoded = decodeSemaphoreRecord(record.value, 0);
      if (!decoded.ok) {
        problem = decoded.error;
      } else {
        limit = decoded.record.limit;
        const live = pruneDeadHolders(decoded.record, dirPairs);
        holderIds = [...live.holders].sort();
        stale = [...decoded.record.holders].filter((id) => !live.holders.has(id)).sort();
      }
    }
    const holders = holderIds.map((id) => holderView(id, valueOf.get(id), sessions, nowMs));
    const waiting = contenders
      .filter((p) => !holderIds.includes(p.session as string))
      .sort((a, b) => a.createIndex - b.createIndex)
      .map((p) => holderView(p.session as string, p.value, sessions, nowMs));
    semaphores.push({ prefix: dir, limit, holders, waiting, stale, ...(problem !== undefined ? { problem } : {}) });
  }

  const byKey = <T extends { key: string }>(a: T, b: T): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return {
    prefix,
    locks: locks.sort(byKey),
    semaphores: semaphores.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)),
    elections: elections.sort(byKey),
    otherKeys,
  };
}

/** `1.2s`, `42s`, `3m12s`, `2h05m`, `?` for unknown. */
export function formatAge(ms: number | null): string {
  if (ms === null) return '?';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function who(h: HolderView): string {
  if (h.holder) return h.holder.name ?? `${h.holder.host}:${h.holder.pid}`;
  if (h.session) return h.session.name;
  return '(session gone)';
}

function shortValue(text: string): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > 40 ? `${one.slice(0, 37)}...` : one;
}

/** The rows of the table: KIND, KEY, STATE, SESSION, NODE, TTL, AGE, HOLDER. */
export function inspectionRows(i: Inspection): string[][] {
  const rows: string[][] = [];
  const sessionCells = (h: HolderView | null): string[] =>
    h === null
      ? ['-', '-', '-', '-']
      : [h.sessionId.slice(0, 8), h.session?.node ?? '-', h.session ? h.session.ttl || 'none' : 'gone', formatAge(h.ageMs)];
  for (const l of i.locks) {
    rows.push(['lock', l.key, l.holder ? `held (token ${l.modifyIndex})` : 'free', ...sessionCells(l.holder), l.holder ? who(l.holder) : '']);
  }
  for (const s of i.semaphores) {
    const limit = s.limit ?? '?';
    const usage = `${s.holders.length}/${limit}`;
    s.holders.forEach((h) => rows.push(['semaphore', s.prefix, `holder ${usage}`, ...sessionCells(h), who(h)]));
    s.waiting.forEach((h, n) => rows.push(['semaphore', s.prefix, `waiting #${n + 1}`, ...sessionCells(h), who(h)]));
    if (s.holders.length === 0 && s.waiting.length === 0) rows.push(['semaphore', s.prefix, `free ${usage}`, '-', '-', '-', '-', '']);
    if (s.stale.length > 0) rows.push(['semaphore', s.prefix, `stale ${s.stale.length}`, s.stale.map((id) => id.slice(0, 8)).join(','), '-', '-', '-', 'dead holders, pruned by the next acquire']);
    if (s.problem !== undefined) rows.push(['semaphore', s.prefix, 'unreadable', '-', '-', '-', '-', s.problem]);
  }
  for (const e of i.elections) {
    const label = e.leader.holder ? who(e.leader) : e.value ? shortValue(e.value) : who(e.leader);
    rows.push(['election', e.key, `leader (term ${e.fencingToken})`, ...sessionCells(e.leader), label]);
  }
  return rows;
}

/** Left-aligned columns separated by two spaces. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export const INSPECT_HEADER = ['KIND', 'KEY', 'STATE', 'SESSION', 'NODE', 'TTL', 'AGE', 'HOLDER'] as const;
