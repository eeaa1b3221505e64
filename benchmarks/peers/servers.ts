/**
 * The peers' servers on loopback, started and stopped by the peer benchmark: etcd (Debian
 * `etcd-server`, binary `etcd`) and Redis (Debian `redis-server`). Each gets a temporary data
 * directory and free ports, and is killed at the end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PeerServer {
  readonly name: string;
  readonly version: string;
  readonly address: string;
  /** Requests (gRPC messages received by etcd, commands processed by Redis) so far. */
  requests(): Promise<number>;
  stop(): Promise<void>;
}

/** Where the binary is, or undefined (with how to install it printed). */
export function findBinary(binary: string, aptPackage: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status === 0 && path) return path;
  process.stdout.write(`  ${binary} not found: install it with \`sudo apt-get install -y ${aptPackage}\` (Debian/Ubuntu); skipping.\n`);
  return undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function version(binary: string, args: string[]): string {
  const out = spawnSync(binary, args, { encoding: 'utf8' });
  return (out.stdout || out.stderr).split('\n')[0]?.trim() ?? 'unknown';
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what} did not start within ${timeoutMs} ms`);
}

export async function startEtcd(binary: string): Promise<PeerServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const address = `http://127.0.0.1:${client}`;
  const proc = spawn(
    binary,
    [
      '--name', 'bench',
      '--data-dir', dir,
      '--listen-client-urls', address,
      '--advertise-client-urls', address,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `bench=http://127.0.0.1:${peer}`,
      '--log-level', 'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  try {
    await waitFor('etcd', async () => (await fetch(`${address}/health`)).ok);
  } catch (err) {
    await stopProcess(proc);
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  return {
    name: 'etcd',
    version: version(binary, ['--version']),
    address,
    async requests() {
      // Every gRPC message etcd received: unary calls, lease keep-alives and watch requests.
      const text = await (await fetch(`${address}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) if (line.startsWith('grpc_server_msg_received_total{')) total += Number(line.split(' ').at(-1));
      return total;
    },
    async stop() {
      await stopProcess(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startRedis(binary: string, cli: (port: number) => { command(args: string[]): Promise<string>; close(): Promise<void> }): Promise<PeerServer> {
  const port = await freePort();
  const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const admin = cli(port);
  await waitFor('redis-server', async () => (await admin.command(['PING'])) === 'PONG');
  let reads = 1; // the PING that found it up
  return {
    name: 'redis',
    version: version(binary, ['--version']),
    address: `redis://127.0.0.1:${port}`,
    async requests() {
      // Each read is itself an INFO command, counted by the next read: leave those out.
      const info = await admin.command(['INFO', 'stats']);
      const m = /total_commands_processed:(\d+)/.exec(info);
      return Number(m?.[1] ?? NaN) - reads++;
    },
    async stop() {
      await admin.close();
      await stopProcess(proc);
    },
  };
}
