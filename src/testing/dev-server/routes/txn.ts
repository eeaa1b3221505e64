/**
 * `PUT /v1/txn`: agent/txn_endpoint.go (`convertOps`, `Txn`) over agent/consul/txn_endpoint.go
 * (`preCheck`, `Apply`, `Read`) and state/txn.ts.
 */
import type { Authorizer } from '../http/acl.js';
import { anonymousDenied } from '../http/acl.js';
import type { Reply, RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import { DecodeError, type StructSpec, decodeStruct, parseJsonBody } from '../http/json.js';
import type { Router } from '../http/router.js';
import { WriteTx } from '../state/store.js';
import { type TxnError, type TxnKvOp, type TxnOutcome, WRITE_VERBS, txnDispatch } from '../state/txn.js';
import { goQuote } from '../state/types.js';
import { dirEntryJson } from './shapes.js';

export function registerTxnRoutes(router: Router): void {
  router.add('/v1/txn', ['PUT'], txn);
}

/** api.TxnOp, decoded strictly (lib/json.go DecodeJSON). */
const TXN_OP_SPEC: StructSpec = {
  name: 'api.TxnOp',
  strict: true,
  fields: { KV: 'any', Node: 'any', Service: 'any', Check: 'any' },
};

/** api.KVTxnOp. */
const KV_OP_SPEC: StructSpec = {
  name: 'api.KVTxnOp',
  strict: true,
  fields: {
    Verb: 'string',
    Key: 'string',
    Value: 'bytes',
    Flags: 'uint64',
    Index: 'uint64',
    Session: 'string',
    Namespace: 'string',
    Partition: 'string',
  },
};

interface ParsedOps {
  /** null marks an op kind the dev server does not model (Node, Service, Check). */
  ops: (TxnKvOp | null)[];
  writes: number;
}

/** convertOps: size limits, decoding, op count, per-value size; counts the write ops. */
async function convertOps(ctx: RequestContext): Promise<ParsedOps> {
  const { txnMaxReqLen, kvMaxValueSize, txnMaxOps } = ctx.core.options;
  // KVMaxValueSize is the request limit too when it is the larger of the two.
  const maxLen = Math.max(txnMaxReqLen, kvMaxValueSize);
  const tooLarge = `Request body too large, max size: ${maxLen} bytes`;
  if (ctx.contentLength() > maxLen) throw new HttpError(413, tooLarge);
  const body = await ctx.readBody(maxLen, tooLarge);
  let rawOps: unknown[];
  const decoded: { kv: Record<string, unknown> | undefined; other: string | undefined }[] = [];
  try {
    const raw = parseJsonBody(body.toString('utf8'), ['Flags', 'flags', 'Index', 'index']);
    if (raw === null) rawOps = [];
    else if (!Array.isArray(raw)) throw new DecodeError(`json: cannot unmarshal ${typeof raw === 'object' ? 'object' : typeof raw} into Go value of type api.TxnOps`);
    else rawOps = raw;
    for (const item of rawOps) {
      if (item === null) {
        decoded.push({ kv: undefined, other: undefined });
        continue;
      }
      const op = decodeStruct(item, TXN_OP_SPEC);
      const kv = op.KV === undefined || op.KV === null ? undefined : decodeStruct(op.KV, KV_OP_SPEC, 'TxnOp.KV');
      const other = ['Node', 'Service', 'Check'].find((k) => op[k] !== undefined && op[k] !== null);
      decoded.push({ kv, other });
    }
  } catch (err) {
    if (err instanceof DecodeError) throw new HttpError(400, `Failed to parse body: ${err.message}`);
    throw err;
  }
  if (rawOps.length > txnMaxOps) {
    throw new HttpError(413, `Transaction contains too many operations (${rawOps.length} > ${txnMaxOps})`);
  }
  const ops: (TxnKvOp | null)[] = [];
  let writes = 0;
  for (const { kv, other } of decoded) {
    if (kv !== undefined) {
      const value = (kv.Value as Buffer | undefined) ?? null;
      const key = (kv.Key as string | undefined) ?? '';
      if (value !== null && value.length > kvMaxValueSize) {
        throw new HttpError(413, `Value for key ${goQuote(key)} is too large (${value.length} > ${kvMaxValueSize} bytes)`);
      }
      const verb = (kv.Verb as string | undefined) ?? '';
      if (WRITE_VERBS.has(verb)) writes++;
      ops.push({
        Verb: verb,
        Key: key,
        Value: value,
        Flags: (kv.Flags as bigint | undefined) ?? 0n,
        Index: Number((kv.Index as bigint | undefined) ?? 0n),
        Session: (kv.Session as string | undefined) ?? '',
      });
    } else if (other !== undefined) {
      writes++;
      ops.push(null);
    }
    // An op with no KV/Node/Service/Check is dropped, as convertOps does.
  }
  return { ops, writes };
}

/** kvsPreApply's ACL rules per verb (gets are filtered on output instead). */
function aclError(authz: Authorizer, op: TxnKvOp): string | undefined {
  if (!authz.enforcing) return undefined;
  const access = op.Verb === 'check-session' || op.Verb === 'check-index' ? 'read' : 'write';
  if (op.Verb === 'get' || op.Verb === 'get-tree') return undefined;
  return authz.allowed('key', access, op.Key) ? undefined : anonymousDenied('key', access, op.Key).message;
}

/** Txn.preCheck → kvsPreApply for each KV op: empty keys, ACLs and lock-delays, before Raft. */
function preCheck(ctx: RequestContext, authz: Authorizer, ops: readonly (TxnKvOp | null)[]): TxnError[] {
  const errors: TxnError[] = [];
  ops.forEach((op, i) => {
    if (op === null) return;
    if (op.Key === '' && op.Verb !== 'delete-tree') {
      errors.push({ OpIndex: i, What: 'Must provide key' });
      return;
    }
    const denied = aclError(authz, op);
    if (denied !== undefined) {
      errors.push({ OpIndex: i, What: denied });
      return;
    }
    if (op.Verb === 'lock' && ctx.core.store.lockDelayRemaining(op.Key) > 0) {
      errors.push({ OpIndex: i, What: `failed to lock key ${goQuote(op.Key)} due to lock delay` });
    }
  });
  return errors;
}

function outcomeJson(outcome: TxnOutcome): Record<string, unknown> {
  return {
    Results: outcome.results === null ? null : outcome.results.map((r) => ({ KV: dirEntryJson(r.KV) })),
    Errors: outcome.errors,
  };
}

async function txn(ctx: RequestContext): Promise<Reply> {
  const { ops, writes } = await convertOps(ctx);
  const ttl = ctx.core.options.tombstoneTtlMs;
  if (writes === 0) {
    // Read-only: served by Txn.Read, which honours consistency modes and bypasses Raft.
    const opts = ctx.queryOptions();
    const authz = await ctx.rpcRead(opts);
    const errors = preCheck(ctx, authz, ops);
    let outcome: TxnOutcome;
    if (errors.length > 0) {
      outcome = { results: null, errors };
    } else {
      // A transaction object that is never committed: reads only.
      outcome = txnDispatch(new WriteTx(ctx.core.store, ctx.core.store.index, Date.now()), ops, ttl);
      if (outcome.results !== null && authz.enforcing) {
        outcome = { ...outcome, results: outcome.results.filter((r) => authz.allowed('key', 'read', r.KV.Key)) };
      }
    }
    ctx.setLeaderMeta();
    // TxnReadResponse embeds QueryMeta without JSON tags, so its fields appear at top level.
    const body = {
      ...outcomeJson(outcome),
      Index: 0,
      LastContact: 0,
      KnownLeader: ctx.core.isLeader,
      ConsistencyLevel: '',
      NotModified: false,
      Backend: 0,
      ResultsFilteredByACLs: false,
    };
    return ctx.json(body, outcome.errors === null ? 200 : 409);
  }
  const authz = await ctx.rpcWrite();
  const errors = preCheck(ctx, authz, ops);
  if (errors.length > 0) return ctx.json(outcomeJson({ results: null, errors }), 409);
  // Every write in the transaction shares one index; any error discards them all.
  const outcome = ctx.core.write((tx) => txnDispatch(tx, ops, ttl), (o) => o.errors === null).result;
  return ctx.json(outcomeJson(outcome), outcome.errors === null ? 200 : 409);
}
