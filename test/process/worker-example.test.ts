/**
 * `examples/worker.ts` as users would run it: two copies against a dev server, a SIGTERM hands
 * the job over, both exit 0 and leave nothing behind (no session, no check, no leader key).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'eventemitter3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../src/testing/index.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/worker.ts', import.meta.url));
const KEY = 'elections/example-test';

interface LogLine {
  worker: string;
  event: string;
  token?: number;
  count?: number;
  reason?: string;
}

let dev: DevServer;
let children: ChildProcess[] = [];
const lines = new EventEmitter<{ line: [LogLine] }>();
let seen: LogLine[] = [];

function start(id: string): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', EXAMPLE], {
    env: { ...process.env, CONSUL_HTTP_ADDR: dev.url, ELECTION_KEY: KEY, WORKER_ID: id, JOB_INTERVAL_MS: '50' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    seen.push(line);
    lines.emit('line', line);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited };
}

function line(match: (l: LogLine) => boolean, what: string, timeout = 15_000): Promise<LogLine> {
  const found = seen.find(match);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const on = (l: LogLine): void => {
      if (!match(l)) return;
      clearTimeout(timer);
      lines.off('line', on);
      resolve(l);
    };
    const timer = setTimeout(() => {
      lines.off('line', on);
      reject(new Error(`no log line "${what}" within ${timeout} ms:\n${seen.map((s) => JSON.stringify(s)).join('\n')}`));
    }, timeout);
    lines.on('line', on);
  });
}

beforeEach(async () => {
  dev = await startDevServer({ port: 0, host: '127.0.0.1', sessionTtlMin: '100ms' });
});

afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  children = [];
  seen = [];
  await dev.close();
});

describe('examples/worker.ts', () => {
  it('runs the job on one worker, hands it over on SIGTERM, and exits cleanly', async () => {
    const a = start('a');
    const electedA = await line((l) => l.worker === 'a' && l.event === 'elected', 'a elected');
    await line((l) => l.worker === 'a' && l.event === 'job', 'a did the job');
    const b = start('b');
    await line((l) => l.worker === 'b' && l.event === 'campaigning', 'b campaigning');

    a.child.kill('SIGTERM');
    const electedB = await line((l) => l.worker === 'b' && l.event === 'elected', 'b elected');
    expect(electedB.token).toBeGreaterThan(electedA.token as number);
    expect(await a.exited).toBe(0);
    expect(seen.find((l) => l.worker === 'a' && l.event === 'deposed')?.reason).toBe('resigned');
    await line((l) => l.worker === 'b' && l.event === 'job' && l.token === electedB.token, 'b did the job');
    // The old leader never wrote after the new term began.
    const jobs = seen.filter((l) => l.event === 'job');
    const firstOfB = jobs.findIndex((l) => l.worker === 'b');
    expect(jobs.slice(firstOfB).every((l) => l.worker === 'b')).toBe(true);

    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(dev.state.listSessions()).toEqual([]);
    expect(dev.state.listChecks().map((c) => c.checkId)).toEqual(['serfHealth']);
    expect(dev.state.getKey(KEY)).toBeUndefined();
    expect(JSON.parse(dev.state.getKey(`${KEY}.output`)?.value?.toString() ?? '{}')).toMatchObject({ token: electedB.token, by: 'b' });
  });
});
