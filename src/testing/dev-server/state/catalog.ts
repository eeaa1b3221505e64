/**
 * Catalog nodes and health checks, after agent/consul/state/catalog.go. Only what sessions and
 * the agent need today; services slot in beside them later.
 */
import { sessionDestroy, sessionsForCheck } from './sessions.js';
import type { ReadTx, WriteTx } from './store.js';
import { type CheckRow, type NodeRow, checkKey } from './types.js';

/** ensureNodeTxn (simplified: the dev server registers only its own node). */
export function ensureNode(tx: WriteTx, node: Omit<NodeRow, 'CreateIndex' | 'ModifyIndex'>): NodeRow {
  const existing = tx.get('nodes', node.Node);
  const row: NodeRow = { ...node, CreateIndex: existing?.CreateIndex ?? tx.index, ModifyIndex: tx.index };
  tx.put('nodes', row.Node, row);
  return row;
}

function sameCheck(a: CheckRow, b: Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'>): boolean {
  return (
    a.Name === b.Name &&
    a.Status === b.Status &&
    a.Notes === b.Notes &&
    a.Output === b.Output &&
    a.ServiceID === b.ServiceID &&
    a.ServiceName === b.ServiceName &&
    a.Type === b.Type &&
    a.Interval === b.Interval &&
    a.Timeout === b.Timeout &&
    a.ServiceTags.join('\u0000') === b.ServiceTags.join('\u0000')
  );
}

/**
 * ensureCheckTxn: an unchanged check is not rewritten; a changed one keeps its CreateIndex, and
 * when it is written as critical every session linked to it is invalidated in the same write
 * (checkSessionsTxn → deleteSessionTxn). `warning` does not invalidate.
 */
export function ensureCheck(tx: WriteTx, check: Omit<CheckRow, 'CreateIndex' | 'ModifyIndex'>, tombstoneTtlMs: number): void {
  const key = checkKey(check.Node, check.CheckID);
  const existing = tx.get('checks', key);
  if (existing && sameCheck(existing, check)) return;
  tx.put('checks', key, { ...check, CreateIndex: existing?.CreateIndex ?? tx.index, ModifyIndex: tx.index });
  if (check.Status === 'critical') {
    for (const s of sessionsForCheck(tx, check.Node, check.CheckID)) sessionDestroy(tx, s.ID, tombstoneTtlMs);
  }
}

/** deleteCheckTxn: removes the check and invalidates the sessions linked to it. */
export function deleteCheck(tx: WriteTx, node: string, checkId: string, tombstoneTtlMs: number): void {
  const key = checkKey(node, checkId);
  if (!tx.get('checks', key)) return;
  tx.delete('checks', key);
  for (const s of sessionsForCheck(tx, node, checkId)) sessionDestroy(tx, s.ID, tombstoneTtlMs);
}

export function nodeChecks(tx: ReadTx, node: string): CheckRow[] {
  return tx.all('checks').filter((c) => c.Node === node);
}

export function checksInState(tx: ReadTx, state: string): CheckRow[] {
  return tx.all('checks').filter((c) => state === 'any' || c.Status === state);
}

/** The index health reads report: the checks table index (catalog.go `maxIndexTxn(tableChecks)`). */
export function checksIndex(tx: ReadTx): number {
  return tx.tableIndex('checks');
}
