/**
 * Sessions table, after agent/consul/state/session.go.
 */
import { kvsDelete, kvsSet } from './kv.js';
import type { ReadTx, WriteTx } from './store.js';
import { type SessionRow, StateError, checkKey } from './types.js';

/** structs.MaxLockDelay: a lock-delay is capped at 60 s when applied (not when stored). */
export const MAX_LOCK_DELAY_MS = 60_000;

/** Session.CheckIDs: legacy Checks, then NodeChecks, then ServiceChecks IDs. */
export function sessionCheckIds(s: Pick<SessionRow, 'Checks' | 'NodeChecks' | 'ServiceChecks'>): string[] {
  return [...(s.Checks ?? []), ...(s.NodeChecks ?? []), ...(s.ServiceChecks ?? []).map((c) => c.ID)];
}

/** sessionMaxIndex (CE): the sessions table index. */
export function sessionsIndex(tx: ReadTx): number {
  return tx.tableIndex('sessions');
}

export function sessionGet(tx: ReadTx, id: string): SessionRow | undefined {
  return tx.get('sessions', id);
}

/** All sessions in ID order (memdb "id" index). */
export function sessionList(tx: ReadTx): SessionRow[] {
  return tx.all('sessions');
}

export function nodeSessions(tx: ReadTx, node: string): SessionRow[] {
  return tx.all('sessions').filter((s) => s.Node === node);
}

/**
 * sessionCreateTxn: the node must exist (`Missing node registration`, st/catalog ErrMissingNode)
 * and every linked check must exist on it and not be critical (validateSessionChecksTxn).
 */
export function sessionCreate(tx: WriteTx, session: Omit<SessionRow, 'CreateIndex' | 'ModifyIndex'>): SessionRow {
  if (!tx.get('nodes', session.Node)) throw new StateError('Missing node registration');
  for (const id of sessionCheckIds(session)) {
    const check = tx.get('checks', checkKey(session.Node, id));
    if (!check) throw new StateError(`Missing check '${id}' registration`);
    if (check.Status === 'critical') throw new StateError(`Check '${id}' is in critical state`);
  }
  const row: SessionRow = { ...session, CreateIndex: tx.index, ModifyIndex: tx.index };
  tx.put('sessions', row.ID, row);
  return row;
}

/**
 * deleteSessionTxn: removes the session and, in the same write, releases (Session cleared,
 * ModifyIndex bumped, Value/Flags/LockIndex kept) or deletes (tombstone) every key it holds,
 * setting each key's lock-delay to min(LockDelay, 60 s) from one shared `now`.
 * Returns false when the session did not exist.
 */
export function sessionDestroy(tx: WriteTx, id: string, tombstoneTtlMs: number): boolean {
  const session = tx.get('sessions', id);
  if (!session) return false;
  tx.delete('sessions', id);
  const delayMs = Math.min(session.LockDelay / 1e6, MAX_LOCK_DELAY_MS);
  for (const entry of tx.all('kvs')) {
    if (entry.Session !== id) continue;
    if (session.Behavior === 'release') {
      kvsSet(tx, { ...entry, Session: '' }, true);
    } else {
      kvsDelete(tx, entry.Key, tombstoneTtlMs);
    }
    if (delayMs > 0) tx.setLockDelay(entry.Key, delayMs);
  }
  // "Delete any prepared queries" bound to the session, in the same write.
  for (const query of tx.all('queries')) if (query.Session === id) tx.delete('queries', query.ID);
  return true;
}

/** Sessions linked to a check on a node (the "session_checks" table in Consul). */
export function sessionsForCheck(tx: ReadTx, node: string, checkId: string): SessionRow[] {
  return tx.all('sessions').filter((s) => s.Node === node && sessionCheckIds(s).includes(checkId));
}
