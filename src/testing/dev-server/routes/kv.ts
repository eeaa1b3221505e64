/**
 * `/v1/kv/<key>`: agent/kvs_endpoint.go (HTTP rules) over agent/consul/kvs_endpoint.go
 * (pre-apply, lock-delay, read index rules) and the KV state functions.
 */
import type { Authorizer } from '../http/acl.js';
import { blockingQuery } from '../http/blocking.js';
import type { QueryOptions, Reply, RequestContext } from '../http/context.js';
import { HttpError } from '../http/errors.js';
import type { Router } from '../http/router.js';
import { kvsDelete, kvsDeleteCAS, kvsDeleteTree, kvsGet, kvsList, kvsLock, kvsSet, kvsSetCAS, kvsUnlock } from '../state/kv.js';
import type { DirEntry, DirEntryInput } from '../state/types.js';
import { dirEntryJson } from './shapes.js';

const PREFIX = '/v1/kv/';

export function registerKvRoutes(router: Router): void {
  router.add(PREFIX, ['GET', 'PUT', 'DELETE'], kvEndpoint);
}

/** validateKVKey (newest Consul), used when `strictKeys` is on. */
const SUSPICIOUS_EXTENSIONS = [
  '.js', '.css', '.html', '.htm', '.xml', '.json', '.txt', '.log', '.php', '.asp', '.jsp', '.cgi', '.pl', '.py', '.rb',
  '.sh', '.exe', '.dll', '.bat', '.cmd', '.com', '.scr', '.vbs', '.pdf', '.doc', '.docx', '.xls', '.xlsx', '.ppt',
  '.pptx', '.zip', '.rar', '.tar', '.gz', '.7z', '.bz2', '.jpg', '.jpeg', '.png', '.gif', '.svg', '.ico', '.bmp',
  '.mp3', '.mp4', '.avi', '.mov', '.wmv', '.flv', '.swf', '.woff', '.woff2', '.ttf', '.eot', '.otf',
];

function strictKeyError(key: string): string | undefined {
  let i = 0;
  for (const ch of key) {
    if (!/[A-Za-z0-9,\-_./]/.test(ch)) {
      return `key contains invalid character '${ch}' at position ${i}. Only alphanumeric characters and ,-_./ are allowed`;
    }
    i += Buffer.byteLength(ch);
  }
  const lower = key.toLowerCase();
  for (const ext of SUSPICIOUS_EXTENSIONS) {
    if (lower.endsWith(ext)) return `key contains suspicious file extension '${ext}' that may be cached by proxies`;
  }
  return undefined;
}

/** KVSEndpoint: parse runs for every method, then the traversal and key checks. */
async function kvEndpoint(ctx: RequestContext): Promise<Reply> {
  const opts = ctx.queryOptions();
  const key = ctx.path.slice(PREFIX.length);
  if (key.includes('../') || key.includes('..\\') || key.split('/').includes('..')) {
    throw new HttpError(400, 'URL path contains invalid traversal sequence');
  }
  const raw = ctx.rawPath.toLowerCase();
  if (['%2e%2e%2f', '%2e%2e/', '..%2f', '%2e%2e%5c', '%252e%252e%252f'].some((s) => raw.includes(s))) {
    throw new HttpError(400, 'URL path contains encoded traversal sequence');
  }
  if (key !== '') {
    // The Go client refuses a leading '/' and the newest server rejects it too.
    if (key.startsWith('/')) throw new HttpError(400, "key must not begin with a '/'");
    const strict = ctx.core.options.strictKeys ? strictKeyError(key) : undefined;
    if (strict !== undefined) throw new HttpError(400, strict);
  }
  switch (ctx.method) {
    case 'GET':
      return ctx.query.has('keys') ? getKeys(ctx, key, opts) : get(ctx, key, opts);
    case 'PUT':
      return put(ctx, key);
    default:
      return del(ctx, key);
  }
}

function readableEntries(authz: Authorizer, entries: DirEntry[]): DirEntry[] {
  return authz.enforcing ? entries.filter((e) => authz.allowed('key', 'read', e.Key)) : entries;
}

/** KVSGet → KVS.Get / KVS.List. */
async function get(ctx: RequestContext, key: string, opts: QueryOptions): Promise<Reply> {
  const recurse = ctx.query.has('recurse');
  if (!recurse && key === '') throw new HttpError(400, 'Missing key name');
  const authz = await ctx.rpcRead(opts);
  let entries: DirEntry[];
  if (recurse) {
    const snap = await blockingQuery(ctx, opts, () => {
      const { index, entries: all } = kvsList(ctx.core.store.read(), key);
      return {
        index,
        value: readableEntries(authz, all),
        watch: (c) => (c.table === 'kvs' || c.table === 'tombstones') && c.key.startsWith(key),
      };
    });
    ctx.setMeta(snap.index);
    entries = snap.value;
  } else {
    // KVS.Get checks key:read whether or not the key exists.
    authz.require('key', 'read', key);
    const snap = await blockingQuery(ctx, opts, () => {
      const { index, entry } = kvsGet(ctx.core.store.read(), key);
      return { index: entry ? entry.ModifyIndex : index, value: entry, watch: (c) => c.table === 'kvs' && c.key === key };
    });
    ctx.setMeta(snap.index);
    entries = snap.value ? [snap.value] : [];
  }
  if (entries.length === 0) return ctx.empty(404);
  const first = entries[0];
  if (!recurse && ctx.query.has('raw') && first) {
    // Raw values are served inert: no sniffing, sandboxed (KVSGet).
    return ctx.reply(200, first.Value ?? Buffer.alloc(0), 'text/plain', {
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': 'sandbox',
    });
  }
  return ctx.json(entries.map(dirEntryJson));
}

/** KVSGetKeys → KVS.ListKeys with the (mis)spelt separator parameter. */
async function getKeys(ctx: RequestContext, prefix: string, opts: QueryOptions): Promise<Reply> {
  let sep = '';
  if (ctx.query.has('seperator')) sep = ctx.query.get('seperator');
  if (ctx.query.has('separator')) sep = ctx.query.get('separator');
  const authz = await ctx.rpcRead(opts);
  const snap = await blockingQuery(ctx, opts, () => {
    const { index, entries } = kvsList(ctx.core.store.read(), prefix);
    const keys: string[] = [];
    const seen = new Set<string>();
    for (const e of readableEntries(authz, entries)) {
      if (sep === '') {
        keys.push(e.Key);
        continue;
      }
      const at = e.Key.slice(prefix.length).indexOf(sep);
      if (at < 0) {
        keys.push(e.Key);
        continue;
      }
      const cut = e.Key.slice(0, prefix.length + at + sep.length);
      if (!seen.has(cut)) {
        seen.add(cut);
        keys.push(cut);
      }
    }
    return { index, value: keys, watch: (c) => (c.table === 'kvs' || c.table === 'tombstones') && c.key.startsWith(prefix) };
  });
  ctx.setMeta(snap.index);
  // No 404 for the root: an empty store lists as [].
  if (snap.value.length === 0 && prefix !== '') return ctx.empty(404);
  return ctx.json(snap.value);
}

/** conflictingFlags: any two of the flags → 400 with the re-encoded query. */
function conflictingFlags(ctx: RequestContext, ...flags: string[]): void {
  if (flags.filter((f) => ctx.query.has(f)).length > 1) {
    throw new HttpError(400, `Conflicting flags: ${ctx.query.encode()}\n`);
  }
}

/** strconv.ParseUint(s, 10, 64); its error is returned raw, so the client sees a 500. */
export function parseUintParam(text: string): bigint {
  if (!/^\d+$/.test(text)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(text)}: invalid syntax`);
  const v = BigInt(text);
  if (v > 0xffff_ffff_ffff_ffffn) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(text)}: value out of range`);
  return v;
}

type PutOp = 'set' | 'cas' | 'lock' | 'unlock';

/** KVSPut → KVS.Apply. */
async function put(ctx: RequestContext, key: string): Promise<Reply> {
  if (key === '') throw new HttpError(400, 'Missing key name');
  conflictingFlags(ctx, 'cas', 'acquire', 'release');
  const flags = ctx.query.has('flags') ? parseUintParam(ctx.query.get('flags')) : 0n;
  let op: PutOp = 'set';
  let cas = 0;
  let session = '';
  if (ctx.query.has('cas')) {
    cas = Number(parseUintParam(ctx.query.get('cas')));
    op = 'cas';
  }
  if (ctx.query.has('acquire')) {
    session = ctx.query.get('acquire');
    op = 'lock';
  }
  if (ctx.query.has('release')) {
    session = ctx.query.get('release');
    op = 'unlock';
  }
  const max = ctx.core.options.kvMaxValueSize;
  const declared = ctx.contentLength();
  const tooLarge = (n: number | string): string =>
    `Request body(${n} bytes) too large, max size: ${max} bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.`;
  if (declared > max) throw new HttpError(413, tooLarge(declared));
  // Real Consul size-checks only a declared Content-Length; a chunked body is still capped here
  // so the dev server never buffers an unbounded body.
  const value = await ctx.readBody(max, tooLarge(`>${max}`));

  const authz = await ctx.rpcWrite();
  authz.require('key', 'write', key);
  // kvsPreApply: the lock-delay is enforced on the leader before Raft, before the session is
  // even looked at; a refused acquire is a plain `false`, not an error.
  if (op === 'lock' && ctx.core.store.lockDelayRemaining(key) > 0) {
    ctx.core.log('warn', 'Rejecting lock of key due to lock-delay', { key });
    return ctx.json(false);
  }
  const entry: DirEntryInput = { Key: key, Flags: flags, Value: value, Session: session, ModifyIndex: cas };
  const { result } = ctx.core.write((tx) => {
    switch (op) {
      case 'set':
        kvsSet(tx, entry, false);
        return true;
      case 'cas':
        return kvsSetCAS(tx, entry) !== undefined;
      case 'lock':
        return kvsLock(tx, entry) !== undefined;
      case 'unlock':
        return kvsUnlock(tx, entry) !== undefined;
    }
  });
  return ctx.json(result);
}

/** KVSDelete → KVS.Apply. */
async function del(ctx: RequestContext, key: string): Promise<Reply> {
  conflictingFlags(ctx, 'recurse', 'cas');
  const recurse = ctx.query.has('recurse');
  if (!recurse && key === '') throw new HttpError(400, 'Missing key name');
  const cas = ctx.query.has('cas') ? Number(parseUintParam(ctx.query.get('cas'))) : undefined;
  const authz = await ctx.rpcWrite();
  // KeyWritePrefix for a tree delete, KeyWrite otherwise: the same check for one management token.
  authz.require('key', 'write', key);
  const ttl = ctx.core.options.tombstoneTtlMs;
  const { result } = ctx.core.write((tx) => {
    if (recurse) {
      kvsDeleteTree(tx, key, ttl);
      return true;
    }
    if (cas !== undefined) return kvsDeleteCAS(tx, key, cas, ttl);
    kvsDelete(tx, key, ttl);
    return true;
  });
  return ctx.json(result);
}
