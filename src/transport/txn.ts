/** `/v1/txn` for KV operations: all-or-nothing batches. */
import { ConsulError } from '../errors.js';
import { parseJsonWithUint64, stringifyJsonWithUint64 } from '../internal/uint64.js';
import type { ConsulTransport } from './client.js';
import { decodeDirEntry, type KVPair } from './kv.js';

export type KVVerb =
  | 'set' | 'cas' | 'lock' | 'unlock' | 'get' | 'get-or-empty' | 'get-tree' | 'check-index'
  | 'check-session' | 'check-not-exists' | 'delete' | 'delete-tree' | 'delete-cas';

export interface TxnKVOp {
  verb: KVVerb;
  key: string;
  value?: Buffer | string | null;
  flags?: bigint;
  index?: number;
  session?: string;
}

export interface TxnResult {
  ok: boolean;
  results: KVPair[];
  errors: Array<{ opIndex: number; what: string }>;
}

const WRITE_VERBS = new Set<KVVerb>(['set', 'cas', 'lock', 'unlock', 'delete', 'delete-tree', 'delete-cas']);

export async function txn(t: ConsulTransport, ops: readonly TxnKVOp[], signal?: AbortSignal, dc?: string): Promise<TxnResult> {
  const body = stringifyJsonWithUint64(
    ops.map((op) => ({
      KV: {
        Verb: op.verb,
        Key: op.key,
        ...(op.value !== undefined && op.value !== null ? { Value: Buffer.from(op.value).toString('base64') } : {}),
        ...(op.flags !== undefined ? { Flags: op.flags } : {}),
        ...(op.index !== undefined ? { Index: op.index } : {}),
        ...(op.session !== undefined ? { Session: op.session } : {}),
      },
    })),
  );
  const res = await t.request({
    method: 'PUT',
    path: '/v1/txn',
    query: { dc },
    body,
    signal,
    // A read-only batch can be repeated; a write batch may have committed before a lost reply.
    retry: ops.every((op) => !WRITE_VERBS.has(op.verb)) ? 'transient' : 'if-not-applied',
    okStatuses: [409],
  });
  type Raw = {
    Results: Array<{ KV?: Parameters<typeof decodeDirEntry>[0] }> | null;
    Errors: Array<{ OpIndex: number; What: string }> | null;
  };
  let parsed: Raw | undefined;
  try {
    parsed = parseJsonWithUint64<Raw>(res.body.toString('utf8'), ['Flags']);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (res.status === 409 && !parsed.Errors)) {
    throw new ConsulError(res.status, 'PUT /v1/txn', res.body.toString('utf8').trim());
  }
  return {
    ok: res.status === 200,
    results: (parsed.Results ?? []).flatMap((r) => (r.KV ? [decodeDirEntry(r.KV)] : [])),
    errors: (parsed.Errors ?? []).map((e) => ({ opIndex: e.OpIndex, what: e.What })),
  };
}
