/**
 * The CLI and the library apply one rule to keys and durations, with one message: what the
 * binary prints for a bad argument is what the library throws for the same value, only the name
 * of the option differs (`--timeout` / `option "timeout"`, `<prefix>` / `key`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { ensureBuilt } from './build.js';
import { startCli } from './support.js';

const coord = new Coordinator({ address: 'http://127.0.0.1:1' });

beforeAll(async () => {
  await ensureBuilt();
}, 180_000);

afterAll(async () => {
  await coord.close();
});

/** The library's message for a call, thrown or rejected. */
async function libraryMessage(call: () => unknown): Promise<string> {
  try {
    await call();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the library accepted the value');
}

/** The CLI's message: stderr's first line, without the `consul-recipes <command>: ` prefix. */
async function cliMessage(args: string[]): Promise<string> {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('CONSUL_')) delete env[name];
  const r = await startCli(args, env).exited;
  expect(r.code, r.stderr).toBe(2);
  return (r.stderr.split('\n')[0] ?? '').replace(/^consul-recipes [a-z ]+: /, '');
}

/** The message without the option's name. */
const body = (message: string): string => message.replace(/^(option "[^"]+"|\S+) /, '');

describe('one rule, one message', () => {
  it('a key with a leading /: lock /jobs/x as coord.lock("/jobs/x")', async () => {
    const cli = await cliMessage(['lock', '/jobs/x', '--', 'true']);
    const lib = await libraryMessage(() => coord.lock('/jobs/x'));
    expect(body(cli)).toBe(body(lib));
    expect(cli).toMatch(/write "jobs\/x"/);
  });

  it('a duration without a unit: --timeout 5 as acquire({ timeout: "5" })', async () => {
    const cli = await cliMessage(['lock', '--timeout', '5', 'jobs/x', '--', 'true']);
    const lib = await libraryMessage(() => coord.lock('jobs/x').acquire({ timeout: '5' }));
    expect(body(cli)).toBe(body(lib));
    expect(cli).toMatch(/^--timeout must be a duration with a unit/);
  });

  it('a negative duration: --timeout -1s as acquire({ timeout: "-1s" }), not "argument is ambiguous"', async () => {
    const cli = await cliMessage(['lock', '--timeout', '-1s', 'jobs/x', '--', 'true']);
    const lib = await libraryMessage(() => coord.lock('jobs/x').acquire({ timeout: '-1s' }));
    expect(body(cli)).toBe(body(lib));
    expect(cli).not.toMatch(/ambiguous/);
  });

  it('a ttl: --ttl soon as lock(k, { ttl: "soon" })', async () => {
    const cli = await cliMessage(['lock', '--ttl', 'soon', 'jobs/x', '--', 'true']);
    const lib = await libraryMessage(() => coord.lock('jobs/x', { ttl: 'soon' }));
    expect(body(cli)).toBe(body(lib));
  });
});
