/**
 * What a `/v1/txn` answer says, for the recipes that take keys with transactions (Lock,
 * Semaphore, LeaderElection). A write transaction's answer carries, for each `lock`, `cas`,
 * `unlock`, `set` and `check-*` op, the entry as the transaction left it (agent/consul/state/txn.go
 * `txnKVS`: a clone with the value blanked, ModifyIndex = the transaction's Raft index, LockIndex
 * and Session as written). So a transaction that takes a key also tells its fencing index: no read
 * needs to follow it. A refused transaction answers 409 with one error per failed op (no results).
 */
import type { KVPair, TxnResult } from '../../transport/index.js';

/** What a refused transaction says. */
export type Refusal =
  /** Consul refuses locks on a key for a while after a holder's session was invalidated. */
  | 'lock-delay'
  /** The session named in the transaction no longer exists. */
  | 'session-gone'
  /** The key changed under us (taken, created, rewritten, index stale): read again. */
  | 'conflict';

/**
 * Consul's texts: `failed to lock key "k" due to lock delay` (txn_endpoint.go preCheck),
 * `invalid session "…"` / `missing session` (kvsLockTxn); anything else is a changed key.
 */
export function classifyRefusal(result: Pick<TxnResult, 'errors'>): Refusal {
  const texts = result.errors.map((e) => e.what);
  if (texts.some((t) => /lock delay/i.test(t))) return 'lock-delay';
  if (texts.some((t) => /invalid session|missing session/i.test(t))) return 'session-gone';
  return 'conflict';
}

/** The entry a successful transaction left at `key` (its last op on that key). */
export function lockedEntry(result: Pick<TxnResult, 'results'>, key: string): KVPair | undefined {
  return result.results.filter((r) => r.key === key).at(-1);
}

/**
 * The index at which a refused acquiring transaction (`check-index` + `lock`) found `key` held by
 * another session, or undefined when the answer does not prove that. Consul evaluates every op of
 * a transaction and reports each failure (state/txn.go `txnDispatch`): `check-index` says
 * `failed index check for key "k", current modify index Y != X` (state/kvs.go
 * `kvsCheckIndexTxn`), and `lock` says `failed to lock key "k", lock is already held`. Both
 * together mean the key is held now, at ModifyIndex Y: a waiter can block from Y at once instead
 * of reading the key again (a thundering herd's losers each save that read).
 */
export function heldAtIndex(result: Pick<TxnResult, 'errors'>, key: string): bigint | undefined {
  const quoted = JSON.stringify(key);
  let index: bigint | undefined;
  let held = false;
  for (const { what } of result.errors) {
    if (what.includes(`key ${quoted}`)) {
      const m = /current modify index (\d+) != \d+/.exec(what);
      if (m) index = BigInt(m[1] as string);
      if (/lock is already held/.test(what)) held = true;
    }
  }
  return held ? index : undefined;
}
