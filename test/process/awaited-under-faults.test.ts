/**
 * Issue 16, item 1: a process whose main module only awaits one operation must not exit while
 * that operation retries through a network fault. Each child below reaches its operation with
 * nothing else alive (stdin closed, no timer of its own), the fault proxy then resets every
 * connection (`partition('drop')`), and the operation has to wait between attempts. Before the
 * fix those waits were unref()ed timers and Node exited with code 13 ("unsettled top-level
 * await") after the first reset, printing nothing. Here every child must survive at least two
 * more resets, see the network heal, finish its operation and exit 0 by itself.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/index.js';
import { startDevServer, startFaultProxy, type DevServer, type FaultProxy } from '../../src/testing/index.js';
import { waitFor } from '../support/wait.js';
import { AWAITED_OPS, WAITING_OPS, type AwaitedOp } from './fixtures/awaited-ops.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/awaited-op.ts', import.meta.url));

let server: DevServer;
let proxy: FaultProxy;
let direct: Coordinator;
let counter = 0;

beforeEach(async () => {
  server = await startDevServer({ port: 0, host: '127.0.0.1' });
  proxy = await startFaultProxy({ target: server.url });
  direct = new Coordinator({ address: server.url });
});

afterEach(async () => {
  await direct.close();
  await proxy.close();
  await server.close();
});

interface Child {
  readonly proc: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly lines: string[];
  stderr: string;
  readonly exited: Promise<number | null>;
}

function spawnChild(op: AwaitedOp, key: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', SCRIPT, proxy.url, op, key], { stdio: ['pipe', 'pipe', 'pipe'] });
  const child: Child = {
    proc,
    lines: [],
    stderr: '',
    exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))),
  };
  let buffered = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    child.lines.push(...parts);
  });
  proc.stderr.on('data', (chunk: Buffer) => (child.stderr += chunk.toString('utf8')));
  return child;
}

/** What the parent holds so that a waiting operation has something to wait behind. */
async function holdFirst(op: AwaitedOp, key: string): Promise<() => Promise<void>> {
  const hold = { ttl: '10s', lockDelay: 0 } as const;
  if (op === 'lock-acquire') {
    const handle = await direct.lock(key, hold).acquire();
    return () => handle.release();
  }
  if (op === 'campaign') {
    const election = direct.election(key, hold);
    await election.campaign();
    return () => election.resign();
  }
  const permit = await direct.semaphore(key, { ...hold, limit: 1 }).acquire();
  return () => permit.release();
}

describe('a process whose main module awaits one operation while every connection is reset', () => {
  it.each(AWAITED_OPS)('%s: stays alive through the retries, completes after heal and exits 0', async (op) => {
    counter += 1;
    const key = `awaited/${op}-${counter}`;
    const waiting = WAITING_OPS.has(op);
    let releaseHolder: (() => Promise<void>) | undefined;
    let parkedBefore = 0;
    if (waiting) {
      releaseHolder = await holdFirst(op, key);
      // The holder's own monitor is parked on the same key.
      parkedBefore = await server.waitForParked({ endpoint: `/v1/kv/${key}` });
    }

    const child = spawnChild(op, key);
    if (waiting) {
      // The child's acquire is parked behind our holder: the request in flight is what keeps
      // it alive until the partition resets it.
      await server.waitForParked({ endpoint: `/v1/kv/${key}`, count: parkedBefore + 1, timeout: 20_000 });
    } else {
      await waitFor(() => child.lines.includes('ready'), { timeout: 20_000, message: `${op} child ready` });
    }

    proxy.partition('drop');
    const resetAtPartition = proxy.dropped;
    if (!waiting) child.proc.stdin.end('go\n');
    // Two more resets: the operation waited between attempts and came back, alive.
    await Promise.race([
      waitFor(() => proxy.dropped >= resetAtPartition + 2, { timeout: 20_000, message: `${op}: two retries through the partition` }),
      child.exited,
    ]);
    const retriesSeen = proxy.dropped - resetAtPartition;
    await releaseHolder?.();
    proxy.heal();

    const code = await child.exited;
    expect({ code, stderr: child.stderr, retriesSeen: retriesSeen >= 2 }).toEqual({ code: 0, stderr: '', retriesSeen: true });
    expect(child.lines.at(-1)).toMatch(/^done /);
  });
});
