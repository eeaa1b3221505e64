/**
 * Where the heap of an idle config watcher / a held lock goes: creates `count` of them in this
 * process against a dev server in another process (BenchServer), takes a V8 heap snapshot before
 * and after (full GC first), and groups the objects that are new in the second snapshot (by node
 * id, stable within one process) by kind and constructor. Closures are named by their function
 * name, or by the variables their context captures when anonymous.
 *
 *   node --expose-gc --import tsx benchmarks/heap-attribution.ts [watchers|locks] [count] [top]
 *   FROM=dist …   measure dist/ (npm run build) instead of src/ through tsx
 *   DETAIL=<owner> …   list one owner's objects by parent and edge
 *   TTL=10s SETTLE_MS=6000 …   locks: measure after every session renewed once
 *   KEEP=1 …   keep both snapshots (DevTools → Memory → Load, Comparison view)
 *
 * Prints bytes per item for the top groups; nothing is asserted. A diagnostic, not part of
 * `npm run bench`.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import type { Coordinator as CoordinatorType } from '../src/index.js';
import { BenchServer } from './lib/server.js';

// FROM=dist measures the built library (npm run build): what users run. Through tsx (the default,
// as the benchmark suite runs), esbuild's keepNames gives every named closure its own hidden class
// and property dictionary (about 450 bytes each), which the built library does not have.
const { Coordinator } = (await import(process.env.FROM === 'dist' ? '../dist/index.js' : '../src/index.js')) as {
  Coordinator: typeof CoordinatorType;
};

const kind = (process.argv[2] ?? 'watchers') as 'watchers' | 'locks';
const count = Number(process.argv[3] ?? 2000);
const top = Number(process.argv[4] ?? 40);
/** DETAIL=<owner prefix> lists that owner's nodes by parent and edge. */
const DETAIL = process.env.DETAIL;
const detail = new Map<string, Group>();

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  g();
  g();
};

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Group {
  count: number;
  size: number;
}

function load(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

function ids(s: Snapshot): Set<number> {
  const nf = s.snapshot.meta.node_fields.length;
  const idAt = s.snapshot.meta.node_fields.indexOf('id');
  const out = new Set<number>();
  for (let i = 0; i < s.nodes.length; i += nf) out.add(s.nodes[i + idAt] as number);
  return out;
}

/** Groups the nodes of `s` whose id is not in `before`. */
function newObjects(s: Snapshot, before: Set<number>): Map<string, Group> {
  const meta = s.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [tAt, nAt, idAt, sizeAt, ecAt] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as [number, number, number, number, number];
  const [etAt, enAt, etoAt] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [number, number, number];
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  // First edge index of each node.
  const firstEdge: number[] = [];
  let e = 0;
  for (let i = 0; i < s.nodes.length; i += nf) {
    firstEdge.push(e);
    e += (s.nodes[i + ecAt] as number) * ef;
  }
  const edgeName = (k: number): string => {
    const t = edgeTypes[s.edges[k + etAt] as number];
    const v = s.edges[k + enAt] as number;
    return t === 'element' || t === 'hidden' ? String(v) : (s.strings[v] as string);
  };
  /** Names of the variables a closure's context holds (what an anonymous closure captures). */
  const captured = (nodeOrdinal: number): string => {
    const start = firstEdge[nodeOrdinal] as number;
    const n = s.nodes[nodeOrdinal * nf + ecAt] as number;
    for (let k = start; k < start + n * ef; k += ef) {
      if (edgeName(k) !== 'context') continue;
      const ctx = (s.edges[k + etoAt] as number) / nf;
      const cs = firstEdge[ctx] as number;
      const cn = s.nodes[ctx * nf + ecAt] as number;
      const vars: string[] = [];
      for (let j = cs; j < cs + cn * ef; j += ef) {
        if (edgeTypes[s.edges[j + etAt] as number] === 'context') vars.push(edgeName(j));
      }
      return vars.slice(0, 6).join(',');
    }
    return '';
  };
  const groups = new Map<string, Group>();
  for (let i = 0, ord = 0; i < s.nodes.length; i += nf, ord++) {
    if (before.has(s.nodes[i + idAt] as number)) continue;
    const type = nodeTypes[s.nodes[i + tAt] as number] as string;
    let name = s.strings[s.nodes[i + nAt] as number] as string;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '';
    if (type === 'closure' && name === '') name = `(anon: ${captured(ord)})`;
    if (type === 'object' && name.length > 60) name = `${name.slice(0, 60)}…`;
    if (type === 'code' || type === 'hidden' || type === 'array' || type === 'number') name = name.replace(/\d+/g, '#').slice(0, 60);
    const key = `${type}: ${name}`;
    const g = groups.get(key) ?? { count: 0, size: 0 };
    g.count += 1;
    g.size += s.nodes[i + sizeAt] as number;
    groups.set(key, g);
  }
  return groups;
}

/** Constructors that only hold data for someone else: their bytes are charged to the owner above them. */
const GENERIC = /^(Object|Array|Map|Set|WeakMap|Promise|Generator|AsyncGenerator|Listener|EventTarget|system \/ .*|\(.*\)|)$/;

/**
 * Charges every new node to its owner: the nearest node above it in the dominator tree that is an
 * object of a class (not a plain Object, Array, Map, Promise, closure or V8 internal). Returns
 * owner class → { bytes, breakdown by node kind }.
 */
function owners(s: Snapshot, before: Set<number>): Map<string, { size: number; count: number; parts: Map<string, number> }> {
  const meta = s.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [tAt, nAt, idAt, sizeAt, ecAt] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as [number, number, number, number, number];
  const [etAt, etoAt] = ['type', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [number, number];
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const n = s.nodes.length / nf;
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += (s.nodes[i * nf + ecAt] as number) * ef;
    firstEdge[i + 1] = e;
  }
  const succ = (i: number, fn: (j: number) => void): void => {
    for (let k = firstEdge[i] as number; k < (firstEdge[i + 1] as number); k += ef) {
      const t = s.edges[k + etAt];
      if (t === weak || t === shortcut) continue;
      fn((s.edges[k + etoAt] as number) / nf);
    }
  };
  // Post-order DFS from the root (node 0), iterative.
  const order = new Int32Array(n).fill(-1);
  const post: number[] = [];
  const stack: Array<[number, number]> = [[0, firstEdge[0] as number]];
  order[0] = -2;
  while (stack.length) {
    const top = stack[stack.length - 1] as [number, number];
    const [i, k] = top;
    if (k >= (firstEdge[i + 1] as number)) {
      stack.pop();
      order[i] = post.length;
      post.push(i);
      continue;
    }
    top[1] = k + ef;
    const t = s.edges[k + etAt];
    if (t === weak || t === shortcut) continue;
    const j = (s.edges[k + etoAt] as number) / nf;
    if (order[j] === -1) {
      order[j] = -2;
      stack.push([j, firstEdge[j] as number]);
    }
  }
  // Predecessors (reachable nodes only).
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (const i of post) succ(i, (j) => void (order[j]! >= 0 && preds[j]!.push(i)));
  // Cooper–Harvey–Kennedy iterative dominators.
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (order[a]! < order[b]!) a = idom[a]!;
      while (order[b]! < order[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let p = post.length - 1; p >= 0; p--) {
      const b = post[p]!;
      if (b === 0) continue;
      let d = -1;
      for (const q of preds[b]!) {
        if (idom[q] === -1) continue;
        d = d === -1 ? q : intersect(q, d);
      }
      if (d !== -1 && idom[b] !== d) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  // Where the dominator tree says "root" (retained along several paths), charge the node along
  // its shortest path from the root instead: a BFS tree over the same edges.
  const bfsParent = new Int32Array(n).fill(-1);
  bfsParent[0] = 0;
  for (let queue = [0], h = 0; h < queue.length; h++) {
    const i = queue[h]!;
    succ(i, (j) => {
      if (bfsParent[j] !== -1) return;
      bfsParent[j] = i;
      queue.push(j);
    });
  }
  const nameOf = (i: number): string => s.strings[s.nodes[i * nf + nAt] as number] as string;
  const typeOf = (i: number): string => nodeTypes[s.nodes[i * nf + tAt] as number] as string;
  const isOwner = (i: number): boolean => typeOf(i) === 'object' && !GENERIC.test(nameOf(i));
  const out = new Map<string, { size: number; count: number; parts: Map<string, number> }>();
  for (let i = 0; i < n; i++) {
    if (order[i] === -1 || before.has(s.nodes[i * nf + idAt] as number)) continue;
    let o = i;
    let hops = 0;
    while (!isOwner(o) && o !== 0 && hops++ < 10_000) o = idom[o]!;
    let via = '';
    if (o === 0) {
      via = ' (shortest path)';
      o = i;
      hops = 0;
      while (!isOwner(o) && o !== 0 && hops++ < 10_000) o = bfsParent[o]!;
    }
    const ownerName = (o === 0 ? '(root)' : nameOf(o)) + via;
    if (DETAIL && ownerName.startsWith(DETAIL)) {
      const parent = via ? bfsParent[i]! : idom[i]!;
      let edge = '?';
      for (let k = firstEdge[parent] as number; k < (firstEdge[parent + 1] as number); k += ef) {
        if ((s.edges[k + etoAt] as number) / nf === i) {
          const et = edgeTypes[s.edges[k + etAt] as number];
          const v = s.edges[k + 1] as number;
          edge = et === 'element' || et === 'hidden' ? `[${v}]` : (s.strings[v] as string);
          break;
        }
      }
      const label = `${typeOf(parent)} ${nameOf(parent).slice(0, 40)} .${edge.slice(0, 30)} -> ${typeOf(i)} ${nameOf(i).slice(0, 40)}`;
      const d = detail.get(label) ?? { count: 0, size: 0 };
      d.count += 1;
      d.size += s.nodes[i * nf + sizeAt] as number;
      detail.set(label, d);
    }
    const entry = out.get(ownerName) ?? { size: 0, count: 0, parts: new Map<string, number>() };
    const size = s.nodes[i * nf + sizeAt] as number;
    entry.size += size;
    if (o === i) entry.count += 1;
    const t = typeOf(i);
    let part = t === 'object' || t === 'closure' ? `${t} ${nameOf(i) || '(anon)'}` : t;
    if (part.length > 50) part = part.slice(0, 50);
    entry.parts.set(part, (entry.parts.get(part) ?? 0) + size);
    out.set(ownerName, entry);
  }
  return out;
}

const server = await BenchServer.start();
const coord = new Coordinator({ address: server.url });
const held: unknown[] = [];
const create = async (i: number): Promise<void> => {
  if (kind === 'watchers') {
    const w = coord.configWatcher(`bench/heap/config/${i}/`);
    await w.ready();
    held.push(w);
  } else {
    held.push(await coord.lock(`bench/heap/lock/${i}`, { ttl: process.env.TTL ?? '30s', lockDelay: 0 }).acquire());
  }
};
try {
  // Warm the code paths (and the socket pool's first sockets) so compiled code stays out of the delta.
  for (let i = -20; i < 0; i++) await create(i);
  gc();
  const dir = tmpdir();
  const beforeFile = writeHeapSnapshot(join(dir, `heap-before-${process.pid}.heapsnapshot`));
  const mem0 = process.memoryUsage();
  for (let i = 0; i < count; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => create(i + j)));
  }
  // Let every monitor send its first read (it waits one event-loop turn); SETTLE_MS=6000 with
  // TTL=10s also lets every session renew once (steady state).
  await new Promise((r) => setTimeout(r, Number(process.env.SETTLE_MS ?? 200)));
  gc();
  const mem1 = process.memoryUsage();
  const afterFile = writeHeapSnapshot(join(dir, `heap-after-${process.pid}.heapsnapshot`));
  const before = ids(load(beforeFile));
  const after = load(afterFile);
  const groups = newObjects(after, before);
  const byOwner = owners(after, before);
  // KEEP=1 leaves both snapshots for DevTools (Memory tab → Load → Comparison).
  if (process.env.KEEP) console.log(`snapshots: ${beforeFile} ${afterFile}`);
  else {
    rmSync(beforeFile);
    rmSync(afterFile);
  }
  const total = [...groups.values()].reduce((a, g) => a + g.size, 0);
  const rows = [...groups.entries()].sort((a, b) => b[1].size - a[1].size).slice(0, top);
  console.log(`${count} ${kind}: heapUsed +${((mem1.heapUsed - mem0.heapUsed) / count / 1024).toFixed(2)} KB/item, rss +${((mem1.rss - mem0.rss) / count / 1024).toFixed(1)} KB/item`);
  console.log(`new objects in the snapshot: ${(total / count / 1024).toFixed(2)} KB/item`);
  console.log('bytes/item  objs/item  group');
  for (const [key, g] of rows) {
    console.log(`${(g.size / count).toFixed(0).padStart(10)}  ${(g.count / count).toFixed(2).padStart(9)}  ${key}`);
  }
  console.log('\nby owner (nearest class instance above it in the dominator tree):');
  console.log('bytes/item  owners/item  owner: biggest parts');
  for (const [name, o] of [...byOwner.entries()].sort((a, b) => b[1].size - a[1].size).slice(0, top)) {
    const parts = [...o.parts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([p, v]) => `${p} ${(v / count).toFixed(0)}`).join(', ');
    console.log(`${(o.size / count).toFixed(0).padStart(10)}  ${(o.count / count).toFixed(2).padStart(11)}  ${name}: ${parts}`);
  }
  if (DETAIL) {
    console.log(`\ndetail of ${DETAIL}* (parent .edge -> node):`);
    for (const [label, d] of [...detail.entries()].sort((a, b) => b[1].size - a[1].size).slice(0, 80)) {
      console.log(`${(d.size / count).toFixed(0).padStart(8)} ${(d.count / count).toFixed(2).padStart(6)}  ${label}`);
    }
  }
} finally {
  await coord.close();
  await server.close();
}
