/**
 * `/v1/txn` KV operations, after agent/consul/state/txn.go `txnKVS` / `txnDispatch`.
 * Every op runs, in order, even after one fails; each failure is recorded with its op index;
 * any failure discards the whole transaction.
 */
import {
  kvsCheckIndex,
  kvsCheckSession,
  kvsDelete,
  kvsDeleteCAS,
  kvsDeleteTree,
  kvsList,
  kvsLock,
  kvsSet,
  kvsSetCAS,
  kvsUnlock,
} from './kv.js';
import type { WriteTx } from './store.js';
import { type DirEntry, StateError, goQuote } from './types.js';

export interface TxnKvOp {
  readonly Verb: string;
  readonly Key: string;
  readonly Value: Buffer | null;
  readonly Flags: bigint;
  readonly Index: number;
  readonly Session: string;
}

export interface TxnResult {
  readonly KV: DirEntry;
}

export interface TxnError {
  readonly OpIndex: number;
  readonly What: string;
}

/** txn_endpoint.go isWrite: any of these routes the transaction through Raft. */
export const WRITE_VERBS: ReadonlySet<string> = new Set(['set', 'cas', 'lock', 'unlock', 'delete', 'delete-tree', 'delete-cas']);

function withoutValue(entry: DirEntry): DirEntry {
  return { ...entry, Value: null };
}

/** txnKVS: one op → its results (possibly none) or a StateError. */
function txnKv(tx: WriteTx, op: TxnKvOp, tombstoneTtlMs: number): TxnResult[] {
  const input = { Key: op.Key, Flags: op.Flags, Value: op.Value, Session: op.Session, ModifyIndex: op.Index };
  const q = goQuote(op.Key);
  switch (op.Verb) {
    case 'set':
      return [{ KV: withoutValue(kvsSet(tx, input, false)) }];
    case 'cas': {
      const e = kvsSetCAS(tx, input);
      if (!e) throw new StateError(`failed to set key ${q}, index is stale`);
      return [{ KV: withoutValue(e) }];
    }
    case 'lock': {
      const e = kvsLock(tx, input);
      if (!e) throw new StateError(`failed to lock key ${q}, lock is already held`);
      return [{ KV: withoutValue(e) }];
    }
    case 'unlock': {
      const e = kvsUnlock(tx, input);
      if (!e) throw new StateError(`failed to unlock key ${q}, lock isn't held, or is held by another session`);
      return [{ KV: withoutValue(e) }];
    }
    case 'get': {
      const e = tx.get('kvs', op.Key);
      if (!e) throw new StateError(`key ${q} doesn't exist`);
      return [{ KV: e }];
    }
    case 'get-or-empty': {
      const e = tx.get('kvs', op.Key);
      // A missing key echoes the op's own entry with a nil value.
      return [{ KV: e ?? { LockIndex: 0, Key: op.Key, Flags: op.Flags, Value: null, Session: op.Session, CreateIndex: 0, ModifyIndex: op.Index } }];
    }
    case 'get-tree':
      return kvsList(tx, op.Key).entries.map((KV) => ({ KV }));
    case 'check-index':
      return [{ KV: withoutValue(kvsCheckIndex(tx, op.Key, op.Index)) }];
    case 'check-session':
      return [{ KV: withoutValue(kvsCheckSession(tx, op.Key, op.Session)) }];
    case 'check-not-exists':
      if (tx.get('kvs', op.Key)) throw new StateError(`key ${q} exists`);
      return [];
    case 'delete':
      kvsDelete(tx, op.Key, tombstoneTtlMs);
      return [];
    case 'delete-tree':
      kvsDeleteTree(tx, op.Key, tombstoneTtlMs);
      return [];
    case 'delete-cas':
      if (!kvsDeleteCAS(tx, op.Key, op.Index, tombstoneTtlMs)) throw new StateError(`failed to delete key ${q}, index is stale`);
      return [];
    default:
      throw new StateError(`unknown KV verb ${goQuote(op.Verb)}`);
  }
}

export interface TxnOutcome {
  readonly results: TxnResult[] | null;
  readonly errors: TxnError[] | null;
}

/**
 * txnDispatch. `ops[i] === null` stands for an op of a kind this server does not model
 * (Node/Service/Check/Session), reported as an error at its index.
 */
export function txnDispatch(tx: WriteTx, ops: readonly (TxnKvOp | null)[], tombstoneTtlMs: number): TxnOutcome {
  const results: TxnResult[] = [];
  const errors: TxnError[] = [];
  ops.forEach((op, i) => {
    try {
      if (op === null) throw new StateError('dev server: only KV operations are supported in /v1/txn');
      results.push(...txnKv(tx, op, tombstoneTtlMs));
    } catch (err) {
      if (!(err instanceof StateError)) throw err;
      errors.push({ OpIndex: i, What: err.message });
    }
  });
  return errors.length > 0 ? { results: null, errors } : { results, errors: null };
}
