/** `consul-recipes dev --datacenters dc1=2,dc2=1`: a dev cluster across datacenters from the CLI. */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDatacenters } from '../../../src/cli/commands/dev.js';

let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

function run(args: string[]): { proc: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer): void => {
    out += d.toString();
    for (const w of [...waiters]) w();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

/** Resolves once the output matches (awaiting output events, no polling). */
function untilOutput(output: () => string, proc: ChildProcess, pattern: RegExp, timeout = 20_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = output().match(pattern);
      if (!m) return;
      cleanup();
      resolve(m);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no match for ${pattern} in: ${output()}`));
    }, timeout);
    const cleanup = (): void => {
      clearTimeout(timer);
      proc.stdout?.off('data', check);
      proc.stderr?.off('data', check);
    };
    proc.stdout?.on('data', check);
    proc.stderr?.on('data', check);
    check();
  });
}

describe('consul-recipes dev --datacenters', () => {
  it('parses dc=nodes lists and refuses malformed ones', () => {
    expect(parseDatacenters('dc1=3,dc2=1')).toEqual({ dc1: 3, dc2: 1 });
    expect(parseDatacenters('dc1=0')).toBeUndefined();
    expect(parseDatacenters('dc1=1,dc1=2')).toBeUndefined();
    expect(parseDatacenters('dc1')).toBeUndefined();
  });

  it('prints every agent with its datacenter; each datacenter answers from its own state', async () => {
    const { proc, output, exited } = run(['dev', '--port', '0', '--dns-port=-1', '--datacenters', 'dc1=2,dc2=1']);
    await untilOutput(output, proc, /\(node dc2-node-1, dc2\)/);
    const urls = Object.fromEntries([...output().matchAll(/listening on (http:\/\/127\.0\.0\.1:\d+) \(node ([\w-]+), (dc\d)\)/g)].map((m) => [m[2], m[1]]));
    expect(Object.keys(urls)).toEqual(['dc1-node-1', 'dc1-node-2', 'dc2-node-1']);
    expect(await (await fetch(`${urls['dc1-node-1']}/v1/catalog/datacenters`)).json()).toEqual(['dc1', 'dc2']);
    expect(await (await fetch(`${urls['dc1-node-2']}/v1/kv/k?dc=dc2`, { method: 'PUT', body: 'v' })).text()).toBe('true');
    expect((await fetch(`${urls['dc2-node-1']}/v1/kv/k`)).status).toBe(200);
    expect((await fetch(`${urls['dc1-node-1']}/v1/kv/k`)).status).toBe(404);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses --datacenters with --nodes (exit 2)', async () => {
    const { exited, output } = run(['dev', '--port', '0', '--datacenters', 'dc1=1', '--nodes', '2']);
    expect(await exited).toBe(2);
    expect(output()).toMatch(/cannot be combined/);
  });
});
