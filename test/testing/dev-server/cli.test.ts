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
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

async function untilOutput(output: () => string, pattern: RegExp, timeout = 20_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const m = output().match(pattern);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no match for ${pattern} in: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('consul-recipes dev', () => {
  it('prints its address, serves the API and exits cleanly on SIGTERM', async () => {
    const { proc, output, exited } = run(['dev', '--port', '0', '--node-name', 'cli-node', '--acl-token', 'secret-xyz']);
    const [, url] = await untilOutput(output, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const self = await fetch(`${url}/v1/agent/self`, { headers: { 'X-Consul-Token': 'secret-xyz' } });
    expect(((await self.json()) as { Config: { NodeName: string } }).Config.NodeName).toBe('cli-node');
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).not.toContain('secret-xyz');
  });

  it('--nodes 3 prints each agent’s address and DNS port; the agents share one datacenter', async () => {
    const { proc, output, exited } = run(['dev', '--port', '0', '--nodes', '3']);
    await untilOutput(output, /node node-3\)\n[^]*DNS interface on 127\.0\.0\.1:\d+ \(UDP and TCP\) \(node node-3\)/);
    const urls = [...output().matchAll(/listening on (http:\/\/127\.0\.0\.1:\d+) \(node (node-\d)\)/g)].map((m) => [m[2], m[1]]);
    expect(urls.map(([node]) => node)).toEqual(['node-1', 'node-2', 'node-3']);
    const members = (await (await fetch(`${urls[2]![1]}/v1/agent/members`)).json()) as Array<{ Name: string; Status: number }>;
    expect(members.map((m) => [m.Name, m.Status])).toEqual([
      ['node-1', 1],
      ['node-2', 1],
      ['node-3', 1],
    ]);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('--node-meta sets the node metadata that ?node-meta and filters match; a pair without = or : is refused', async () => {
    const { proc, output, exited } = run(['dev', '--port', '0', '--node-meta', 'rack=r1', '--node-meta', 'zone:z1']);
    const [, url] = await untilOutput(output, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const nodes = (await (await fetch(`${url}/v1/catalog/nodes?node-meta=rack:r1&node-meta=zone:z1`)).json()) as Array<{ Meta: Record<string, string> }>;
    expect(nodes).toHaveLength(1);
    expect(nodes[0]!.Meta).toMatchObject({ rack: 'r1', zone: 'z1' });
    const filtered = await fetch(`${url}/v1/catalog/nodes?filter=${encodeURIComponent('Meta.rack == r2')}`);
    expect(await filtered.json()).toEqual([]);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    const bad = run(['dev', '--port', '0', '--node-meta', 'rack']);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain('--node-meta must be key=value');
  });

  it('shows help and rejects unknown commands and options', async () => {
    const help = run(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.output()).toContain('dev');
    const bad = run(['nope']);
    expect(await bad.exited).toBe(2);
    const badOpt = run(['dev', '--bogus']);
    expect(await badOpt.exited).toBe(2);
  });
});

describe('consul-recipes dev --datacenters', () => {
  it('parses dc=nodes lists and refuses malformed ones', () => {
    expect(parseDatacenters('dc1=3,dc2=1')).toEqual({ dc1: 3, dc2: 1 });
    expect(parseDatacenters('dc1=0')).toBeUndefined();
    expect(parseDatacenters('dc1=1,dc1=2')).toBeUndefined();
    expect(parseDatacenters('dc1')).toBeUndefined();
  });

  it('prints every agent with its datacenter; each datacenter answers from its own state', async () => {
    const { proc, output, exited } = run(['dev', '--port', '0', '--dns-port=-1', '--datacenters', 'dc1=2,dc2=1']);
    await untilOutput(output, /\(node dc2-node-1, dc2\)/);
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
