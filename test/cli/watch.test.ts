/**
 * `consul-recipes watch config|service` through the real binary: the initial state, then each
 * change as a JSON line, until SIGINT (exit 0).
 */
import { describe, expect, it } from 'vitest';
import { useCliFixture, type CliProcess } from './support.js';

const fx = useCliFixture();

/** JSON lines printed so far. */
function events(cli: CliProcess): Array<Record<string, unknown>> {
  return cli
    .stdout()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('watch config <prefix>', () => {
  it('prints the initial keys, then additions, modifications and deletions, until SIGINT', async () => {
    const prefix = `${fx.prefix}/app/`;
    await fx.consul('PUT', `/v1/kv/${prefix}db`, 'postgres://one');
    const cli = fx.start(['watch', 'config', '--json', prefix]);
    await cli.waitForOutput(/"event":"initial"/, 'stdout');
    await fx.consul('PUT', `/v1/kv/${prefix}feature`, 'on');
    await cli.waitForOutput(/"event":"added"/, 'stdout');
    await fx.consul('PUT', `/v1/kv/${prefix}feature`, 'off');
    await cli.waitForOutput(/"event":"modified"/, 'stdout');
    await fx.consul('PUT', `/v1/kv/${prefix}bin`, Buffer.from([0xff, 0x00]));
    await fx.consul('DELETE', `/v1/kv/${prefix}db`);
    await cli.waitForOutput(/"event":"deleted"/, 'stdout');
    cli.kill('SIGINT');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    const seen = events(cli).map(({ time: _time, ...rest }) => rest);
    expect(seen[0]).toEqual({ event: 'ready', prefix, keys: 1 });
    expect(seen).toContainEqual({ event: 'initial', key: `${prefix}db`, value: 'postgres://one' });
    expect(seen).toContainEqual({ event: 'added', key: `${prefix}feature`, value: 'on' });
    expect(seen).toContainEqual({ event: 'modified', key: `${prefix}feature`, value: 'off' });
    expect(seen).toContainEqual({ event: 'deleted', key: `${prefix}db` });
    expect(seen.some((e) => e.key === `${prefix}bin` && typeof e.valueBase64 === 'string')).toBe(true);
  });

  it('prints human lines by default', async () => {
    const prefix = `${fx.prefix}/h/`;
    await fx.consul('PUT', `/v1/kv/${prefix}a`, '1');
    const cli = fx.start(['watch', 'config', prefix]);
    await cli.waitForOutput(/= .*\/h\/a "1"/, 'stdout');
    await fx.consul('PUT', `/v1/kv/${prefix}a`, '2');
    await cli.waitForOutput(/~ .*\/h\/a "2"/, 'stdout');
    expect(cli.stdout()).toMatch(/^watching config under ".*\/h\/": 1 key \(Ctrl-C to stop\)$/m);
    cli.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });
});

describe('watch service <name>', () => {
  it('prints instances as they come, change health and go', async () => {
    const name = `svc-${fx.prefix.replace(/[^a-z0-9]/gi, '-')}`;
    const cli = fx.start(['watch', 'service', '--json', name]);
    await cli.waitForOutput(/"event":"ready"/, 'stdout');
    const register = await fx.consul('PUT', '/v1/agent/service/register', {
      Name: name,
      ID: `${name}-1`,
      Address: '10.0.0.1',
      Port: 8080,
      Tags: ['blue'],
      Check: { CheckID: `${name}-ttl`, TTL: '30s', Status: 'passing' },
    });
    expect(register.status).toBe(200);
    try {
      await cli.waitForOutput(/"event":"added"/, 'stdout');
      await fx.consul('PUT', `/v1/agent/check/fail/${name}-ttl`);
      await cli.waitForOutput(/"event":"changed"/, 'stdout');
    } finally {
      await fx.consul('PUT', `/v1/agent/service/deregister/${name}-1`);
    }
    await cli.waitForOutput(/"event":"removed"/, 'stdout');
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const seen = events(cli);
    expect(seen.find((e) => e.event === 'added')?.instance).toMatchObject({ id: `${name}-1`, address: '10.0.0.1', port: 8080, tags: ['blue'], status: 'passing' });
    expect(seen.find((e) => e.event === 'changed')?.instance).toMatchObject({ id: `${name}-1`, status: 'critical' });
  });

  it('with --passing lists only healthy instances', async () => {
    const name = `svc-p-${fx.prefix.replace(/[^a-z0-9]/gi, '-')}`;
    await fx.consul('PUT', '/v1/agent/service/register', { Name: name, ID: `${name}-1`, Port: 1, Check: { CheckID: `${name}-ttl`, TTL: '30s', Status: 'critical' } });
    try {
      const cli = fx.start(['watch', 'service', '--passing', name]);
      await cli.waitForOutput(/watching service ".*": 0 instances/, 'stdout');
      await fx.consul('PUT', `/v1/agent/check/pass/${name}-ttl`);
      await cli.waitForOutput(/\+ \S+\/svc-p-\S+-1 {2}\S*:1 {2}passing/, 'stdout');
      cli.kill('SIGINT');
      expect((await cli.exited).code).toBe(0);
    } finally {
      await fx.consul('PUT', `/v1/agent/service/deregister/${name}-1`);
    }
  });
});

describe('watch --timeout: the first answer', () => {
  it.each([
    [['watch', 'config', 'app/']],
    [['watch', 'service', 'billing']],
  ])('%j exits 1 with the last error when Consul does not answer in time', async (args) => {
    // Port 1 refuses connections: the watch warns and retries until --timeout.
    const result = await fx.run([...args, '--address', '127.0.0.1:1', '--timeout', '4s']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/warning: .*ECONNREFUSED.*\(retrying\)/);
    expect(result.stderr).toMatch(/: Consul did not answer within 4s \(last error: .*ECONNREFUSED \(Consul at http:\/\/127\.0\.0\.1:1\)\)$/m);
    expect(result.stdout).toBe('');
  });

  it('stops counting once Consul answered: the watch goes on until SIGINT', async () => {
    const prefix = `${fx.prefix}/t/`;
    const cli = fx.start(['watch', 'config', '--json', '--timeout', '30s', prefix]);
    await cli.waitForOutput(/"event":"ready"/, 'stdout');
    await fx.consul('PUT', `/v1/kv/${prefix}a`, '1');
    await cli.waitForOutput(/"event":"added"/, 'stdout');
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
  });

  it('--help says what happens on a lost connection', async () => {
    for (const what of ['config', 'service']) {
      const help = await fx.run(['watch', what, '--help']);
      expect(help.stdout).toMatch(/--timeout <duration> +give up if Consul has not answered the first read/);
      expect(help.stdout).toMatch(/After the first answer, a lost connection never ends the watch/);
    }
  });
});
