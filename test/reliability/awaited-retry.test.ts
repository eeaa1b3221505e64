/**
 * Found by the nemesis suite: every worker process exited with code 13 ("unsettled top-level
 * await") in the middle of `release()` after the server lost its leader. Between two attempts of
 * a retried request only the backoff timer is pending; an unref'd timer lets Node exit with the
 * caller's promise never settled. A call somebody awaits must keep the process alive.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../src/testing/index.js';

let server: DevServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('a process awaiting a request the transport retries', () => {
  it('stays alive through the backoff and sees the request fail with a typed error', async () => {
    server = await startDevServer({ port: 0 });
    server.leaderless();
    const script = fileURLToPath(new URL('./fixtures/await-retried-read.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', () => undefined);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, out }).toEqual({ code: 0, out: 'failed ERR_CONSUL\n' });
  });
});
