/**
 * Help and bad usage, through the real binary: every command answers --help with its usage and
 * exit codes (exit 0); bad usage exits 2 with a message naming the problem; a token given on the
 * command line never appears in any output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './build.js';
import { startCli, type CliResult } from './support.js';

/** The environment without any Consul settings: usage errors must not need an agent. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('CONSUL_')) delete env[name];
  return env;
}

const run = (...args: string[]): Promise<CliResult> => startCli(args, cleanEnv()).exited;

beforeAll(async () => {
  await ensureBuilt();
}, 180_000);

describe('--help', () => {
  it('lists every public command and the exit codes, and exits 0', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    for (const name of ['dev', 'lock', 'semaphore', 'elect', 'watch', 'queue', 'inspect', 'demo']) expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(r.stdout).not.toMatch(/demo-worker/);
    expect(r.stdout).toMatch(/Exit codes: 0 ok, 1 error, 2 bad usage/);
  });

  it.each([
    [['dev'], 'dev'],
    [['lock'], 'lock'],
    [['semaphore'], 'semaphore'],
    [['elect'], 'elect'],
    [['watch'], 'watch config'],
    [['watch', 'config'], 'watch config'],
    [['watch', 'service'], 'watch service'],
    [['queue'], 'queue put'],
    [['inspect'], 'inspect'],
    [['demo'], 'demo'],
  ])('%j --help prints its usage with exit codes and exits 0', async (command, usage) => {
    for (const flag of ['--help', '-h']) {
      const r = await run(...command, flag);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Usage: consul-recipes ${usage}`);
      expect(r.stdout).toContain('Exit codes:');
      expect(r.stderr).toBe('');
    }
  });

  it('documents the wrapped-command exit codes on lock, semaphore and elect', async () => {
    for (const command of ['lock', 'semaphore', 'elect']) {
      const r = await run(command, '--help');
      expect(r.stdout).toMatch(/124 +--timeout passed/);
      expect(r.stdout).toMatch(/125 +the lock\/permit\/leadership was lost/);
      expect(r.stdout).toMatch(/128\+N/);
    }
  });

  it('is honoured before the command words (lock --help -- anything)', async () => {
    const r = await run('lock', '--help', 'k', '--', 'false');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: consul-recipes lock');
  });
});

describe('bad usage exits 2 with a clear message', () => {
  it.each([
    [[], /Usage: consul-recipes <command>/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['lock', 'jobs/a'], /missing '--' before the command to run/],
    [['lock', 'jobs/a', '--'], /missing command after '--'/],
    [['lock', '--', 'true'], /missing argument: expected <prefix>/],
    [['lock', 'a', 'b', '--', 'true'], /unexpected argument "b"/],
    [['lock', '--ttl', 'soon', 'jobs/a', '--', 'true'], /--ttl must be a duration with a unit, such as '500ms', '15s' or '1m30s', got "soon"/],
    [['lock', '--timeout=-1s', 'jobs/a', '--', 'true'], /--timeout must be at least 0ms, got "-1s"/],
    [['lock', '--timeout', '-1s', 'jobs/a', '--', 'true'], /--timeout must be at least 0ms, got "-1s"/],
    [['lock', '--timeout', '5', 'jobs/a', '--', 'true'], /--timeout must be a duration with a unit.*got "5" \(a number needs a unit: '5s' is 5 seconds/],
    [['semaphore', '-n', '-1', 'sem/a', '--', 'true'], /--limit must be an integer ≥ 1, got "-1"/],
    [['lock', '/jobs/x', '--', 'true'], /<prefix> must not start with '\/', got "\/jobs\/x" \(Consul keys have no leading '\/': write "jobs\/x"\)/],
    [['elect', '/el/x', '--', 'true'], /<key> must not start with '\/', got "\/el\/x"/],
    [['watch', 'config', '/app/'], /<prefix> must not start with '\/'/],
    [['watch', 'config', '--timeout', '3', 'app/'], /--timeout must be a duration with a unit/],
    [['inspect', '/'], /<prefix> must not start with '\/', got "\/" \(Consul keys have no leading '\/': the empty prefix "" names every key\)/],
    [['lock', '--monitor-retry', 'x', 'jobs/a', '--', 'true'], /--monitor-retry must be an integer/],
    [['lock', '--bogus', 'jobs/a', '--', 'true'], /unknown option '--bogus'/],
    [['lock', '/', '--', 'true'], /<prefix> must not start with '\/'/],
    [['semaphore', 'sem/a', '--', 'true'], /--limit <n> is required/],
    [['semaphore', '--limit', '0', 'sem/a', '--', 'true'], /--limit must be an integer ≥ 1, got "0"/],
    [['elect', 'el/'], /<key> must name a key \(not a folder\)/],
    [['watch'], /missing what to watch: config or service/],
    [['watch', 'kv', 'x'], /cannot watch "kv": expected config or service/],
    [['watch', 'config'], /missing argument: expected <prefix>/],
    [['watch', 'service', 'a/b'], /service name without '\/'/],
    [['inspect', 'a', 'b'], /unexpected argument "b"/],
    [['dev', '--port', 'x'], /--port must be an integer/],
    [['demo', 'extra'], /unexpected argument "extra"/],
    [['lock', '--address', 'ftp://x', 'jobs/a', '--', 'true'], /address.*http or https/],
    [['lock', '--address', '127.0.0.1:1', 'jobs/../etc', '--', 'true'], /<prefix> must not contain a '\.\.' segment/],
  ])('%j', async (args, message) => {
    const r = await run(...args);
    expect(r.code, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('points to the command help', async () => {
    const r = await run('inspect', '/');
    expect(r.stderr).toContain("Run 'consul-recipes inspect --help' for usage.");
  });
});

describe('connection failures', () => {
  it('exit 1 naming the address, and never print the token', async () => {
    const token = 's3cr3t-token-value-0123456789';
    for (const args of [
      ['lock', '--address', '127.0.0.1:1', '--token', token, 'jobs/a', '--', 'true'],
      ['inspect', '--address', '127.0.0.1:1', '--token', token, 'jobs'],
    ]) {
      const r = await run(...args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/ECONNREFUSED \(Consul at http:\/\/127\.0\.0\.1:1\)/);
      expect(`${r.stdout}${r.stderr}`).not.toContain(token);
    }
  });
});
