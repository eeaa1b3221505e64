/**
 * A process whose main module only awaits an acquire must not exit while the acquire waits out
 * lock-delay: during that wait no request is in flight, so the wait's own timer is what keeps
 * the event loop alive.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/index.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';

let server: DevServer | undefined;
afterEach(async () => {
  await server?.close();
});

describe('a process awaiting an acquire during lock-delay', () => {
  it('stays alive until it holds the lock, then exits 0', async () => {
    server = await startDevServer({ port: 0, sessionTtlMin: '100ms' });
    const coord = new Coordinator({ address: server.url });
    const key = 'locks/awaited';
    const holder = await coord.lock(key, { ttl: '2s', lockDelay: '1500ms' }).acquire();
    // Invalidate the holder: the key is free but refused for 1.5 s (lock-delay).
    server.invalidateSession(holder.session.id);
    expect(server.state.lockDelayMs(key)).toBeGreaterThan(0);

    const script = fileURLToPath(new URL('./fixtures/acquire-once.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, server.url, key], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toMatch(/^acquired \d+\n$/);
    await coord.close();
  });
});
