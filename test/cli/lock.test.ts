/**
 * `consul-recipes lock` through the real binary against a live Consul: the key layout of
 * `consul lock`, mutual exclusion between two processes, exit codes, loss of the lock, signals,
 * timeouts. The wrapped command is fixtures/child.cjs, which records what it saw in marker files
 * and finishes when told to, so ordering is proven from its log, never from timing.
 */
import { describe, expect, it } from 'vitest';
import { isRunning, useCliFixture } from './support.js';

const LOCK_FLAGS = '3304740253564472344'; // 0x2ddccbc058a50c18, api.LockFlagValue

const fx = useCliFixture();

interface KvEntry {
  Key: string;
  Flags: number;
  Session?: string;
  Value: string | null;
}

/** Reads one key with its flags kept as digits (they exceed 2^53). */
async function readKey(key: string): Promise<{ entry: KvEntry; flags: string } | null> {
  const res = await fx.consul<KvEntry[]>('GET', `/v1/kv/${key}`);
  if (res.status === 404) return null;
  const flags = /"Flags":\s*(\d+)/.exec(res.text)?.[1] ?? '';
  return { entry: (res.json() as KvEntry[])[0] as KvEntry, flags };
}

async function invalidate(sessionId: string): Promise<void> {
  if (fx.target.dev) expect(fx.target.dev.invalidateSession(sessionId)).toBe(true);
  else await fx.consul('PUT', `/v1/session/destroy/${sessionId}`);
}

describe('lock <prefix> -- <command>', () => {
  it('holds <prefix>/.lock with the lock flag while the command runs, tells the command, then releases and removes the key', async () => {
    const cli = fx.start(['lock', fx.prefix, '--', ...fx.child('a')]);
    const a = await fx.started('a');
    expect(a.held).toBe('true');
    expect(Number(a.token)).toBeGreaterThan(0);

    const held = await readKey(`${fx.prefix}/.lock`);
    expect(held?.flags).toBe(LOCK_FLAGS);
    expect(held?.entry.Session).toBe(a.session);
    const value = JSON.parse(Buffer.from(held?.entry.Value ?? '', 'base64').toString('utf8'));
    expect(value).toMatchObject({ pid: cli.child.pid, since: expect.any(String) });
    const session = (await fx.consul<Array<{ Name: string; TTL: string; Behavior: string }>>('GET', `/v1/session/info/${a.session}`)).json()[0];
    expect(session).toMatchObject({ TTL: '15s', Behavior: 'release' });
    expect(session?.Name).toMatch(/^consul-recipes lock for '.*child\.cjs.*' at 'cli-test\//);

    fx.release('a');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    // As Consul's Destroy(): the unused lock key is removed.
    expect(await readKey(`${fx.prefix}/.lock`)).toBeNull();
  });

  it('makes a second lock on the same prefix wait until the first command has exited', async () => {
    const first = fx.start(['lock', '--verbose', fx.prefix, '--', ...fx.child('first')]);
    await fx.started('first');
    const second = fx.start(['lock', '--verbose', fx.prefix, '--', ...fx.child('second')]);
    // The second process is provably waiting on the held key before the first is let go.
    await second.waitForOutput(/waiting: .*\/\.lock is held by another session/);
    expect(fx.log()).toEqual(['start first']);

    fx.release('first');
    expect((await first.exited).code).toBe(0);
    await fx.started('second');
    fx.release('second');
    expect((await second.exited).code).toBe(0);
    expect(fx.log()).toEqual(['start first', 'end first', 'start second', 'end second']);
  });

  it('gives successive holders increasing fencing tokens', async () => {
    const one = fx.start(['lock', fx.prefix, '--', ...fx.child('one')]);
    const t1 = Number((await fx.started('one')).token);
    fx.release('one');
    await one.exited;
    const two = fx.start(['lock', fx.prefix, '--', ...fx.child('two')]);
    const t2 = Number((await fx.started('two')).token);
    fx.release('two');
    await two.exited;
    expect(t2).toBeGreaterThan(t1);
  });
});

describe('exit codes', () => {
  it('passes the command exit code through', async () => {
    const cli = fx.start(['lock', fx.prefix, '--', ...fx.child('a', 7)]);
    await fx.started('a');
    fx.release('a');
    expect((await cli.exited).code).toBe(7);
    expect(await readKey(`${fx.prefix}/.lock`)).toBeNull();
  });

  it('reports a command killed by a signal as 128+N', async () => {
    const r = await fx.run(['lock', fx.prefix, '--', process.execPath, '-e', "process.kill(process.pid, 'SIGKILL')"]);
    expect(r.code).toBe(137);
  });

  it('exits 127 for a command that does not exist, and releases the lock', async () => {
    const r = await fx.run(['lock', fx.prefix, '--', '/nonexistent/command']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/\/nonexistent\/command: command not found/);
    expect(await readKey(`${fx.prefix}/.lock`)).toBeNull();
  });

  it('runs the words through $SHELL -c with --shell, as consul lock does', async () => {
    const r = await fx.run(['lock', '--shell', fx.prefix, '--', 'exit', '$((2+3))'], { env: fx.env({ SHELL: '/bin/sh' }) });
    expect(r.code).toBe(5);
  });

  it('exits 124 without starting the command when --timeout passes first', async () => {
    const holder = fx.start(['lock', fx.prefix, '--', ...fx.child('holder')]);
    await fx.started('holder');
    const r = await fx.run(['lock', '--timeout', '300ms', fx.prefix, '--', ...fx.child('late')]);
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/timed out after 300ms waiting for .*the command was not started/);
    expect(fx.log()).toEqual(['start holder']);
    fx.release('holder');
    expect((await holder.exited).code).toBe(0);
  });

  it('exits 1 with a conflict when the key holds something that is not a lock', async () => {
    await fx.consul('PUT', `/v1/kv/${fx.prefix}/.lock?flags=7`, 'plain data');
    const r = await fx.run(['lock', fx.prefix, '--', ...fx.child('a')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/conflict on ".*\/\.lock": the key has flags 0x7/);
    expect(fx.log()).toEqual([]);
    expect((await readKey(`${fx.prefix}/.lock`))?.flags).toBe('7');
  });
});

describe('when the lock is lost', () => {
  it('sends the command SIGTERM, exits 125 and lets the next holder in', async () => {
    const cli = fx.start(['lock', fx.prefix, '--', ...fx.child('a', 0, 'exit')]);
    const a = await fx.started('a');
    await invalidate(a.session as string);
    const result = await cli.exited;
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/was lost: .*stopping the command \(SIGTERM, then SIGKILL after 5000ms\)/);
    expect(fx.log()).toEqual(['start a', 'SIGTERM a']);
    expect(isRunning(a.pid)).toBe(false);
  });

  it('SIGKILLs a command that ignores SIGTERM once --grace has passed', async () => {
    const cli = fx.start(['lock', '--grace', '300ms', fx.prefix, '--', ...fx.child('stubborn', 0, 'ignore')]);
    const s = await fx.started('stubborn');
    await invalidate(s.session as string);
    const result = await cli.exited;
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/the command killed by SIGKILL; exiting with 125 \(lost\)/);
    expect(fx.log()).toEqual(['start stubborn', 'SIGTERM stubborn']);
    expect(isRunning(s.pid)).toBe(false);
  });

  it('also stops the command when an operator deletes the lock key', async () => {
    const cli = fx.start(['lock', fx.prefix, '--', ...fx.child('a')]);
    await fx.started('a');
    await fx.consul('DELETE', `/v1/kv/${fx.prefix}/.lock`);
    const result = await cli.exited;
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/the lock key was deleted/);
  });
});

describe('signals', () => {
  it('forwards SIGTERM to the command, exits with its code and releases', async () => {
    const cli = fx.start(['lock', fx.prefix, '--', ...fx.child('a', 0, 'exit42')]);
    await fx.started('a');
    cli.kill('SIGTERM');
    expect((await cli.exited).code).toBe(42);
    expect(fx.log()).toEqual(['start a', 'SIGTERM a']);
    expect(await readKey(`${fx.prefix}/.lock`)).toBeNull();
  });

  it('stops waiting on SIGINT with 130, starting nothing and leaving no session', async () => {
    const holder = fx.start(['lock', fx.prefix, '--', ...fx.child('holder')]);
    await fx.started('holder');
    const waiter = fx.start(['lock', '--verbose', fx.prefix, '--', ...fx.child('waiter')]);
    await waiter.waitForOutput(/waiting:/);
    waiter.kill('SIGINT');
    const result = await waiter.exited;
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/SIGINT received while waiting for lock .*nothing was started/);
    fx.release('holder');
    expect((await holder.exited).code).toBe(0);
    expect(fx.log()).toEqual(['start holder', 'end holder']);
  });
});
