/**
 * `consul-recipes watch service NAME --dc` and `--failover` through the real binary, on a
 * two-datacenter dev cluster: the other datacenter's instances, and a failover that prints where
 * the answer moved and back.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DevCluster, startDevCluster } from '../../src/testing/index.js';
import { startCli } from './support.js';

let cluster: DevCluster;

beforeEach(async () => {
  cluster = await startDevCluster({ datacenters: { dc1: 1, dc2: 1 } });
  for (const dc of cluster.datacenters) {
    const agent = cluster.agentsIn(dc)[0]!;
    const res = await fetch(`${agent.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ ID: `web-${dc}`, Name: 'web', Port: 80, Check: { CheckID: `check-${dc}`, TTL: '1h', Status: 'passing' } }),
    });
    expect(res.status).toBe(200);
  }
});

afterEach(async () => {
  await cluster.close();
});

function env(): NodeJS.ProcessEnv {
  const { CONSUL_HTTP_TOKEN: _t, CONSUL_DATACENTER: _d, ...rest } = process.env;
  return { ...rest, CONSUL_HTTP_ADDR: cluster.agentsIn('dc1')[0]!.url };
}

describe('watch service --dc / --failover', () => {
  it('--dc lists the other datacenter’s instances, named with their datacenter', async () => {
    const cli = startCli(['watch', 'service', '--json', '--dc', 'dc2', 'web'], env());
    await cli.waitForOutput(/"event":"initial"/, 'stdout');
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const initial = cli
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; instance?: { id: string; datacenter: string } })
      .filter((e) => e.event === 'initial');
    expect(initial.map((e) => [e.instance?.id, e.instance?.datacenter])).toEqual([['web-dc2', 'dc2']]);
  });

  it('--failover prints the move to dc2 while dc1 is critical, and the move back', async () => {
    const cli = startCli(['watch', 'service', '--passing', '--failover', 'dc2', 'web'], env());
    await cli.waitForOutput(/= dc1\/dc1-node-1\/web-dc1 /, 'stdout');
    cluster.agentsIn('dc1')[0]!.server.setCheckStatus('check-dc1', 'critical');
    await cli.waitForOutput(/» failed over dc1 → dc2/, 'stdout');
    await cli.waitForOutput(/\+ dc2\/dc2-node-1\/web-dc2 /, 'stdout');
    cluster.agentsIn('dc1')[0]!.server.setCheckStatus('check-dc1', 'passing');
    await cli.waitForOutput(/» failed back dc2 → dc1/, 'stdout');
    await cli.waitForOutput(/- dc2\/dc2-node-1\/web-dc2/, 'stdout');
    cli.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    // The watch's prepared query and its session are gone with it.
    const queries = (await (await fetch(`${cluster.agentsIn('dc1')[0]!.url}/v1/query`)).json()) as unknown[];
    expect(queries).toEqual([]);
  });

  it('refuses --dc with --failover (exit 2)', async () => {
    const result = await startCli(['watch', 'service', '--dc', 'dc2', '--failover', 'dc2', 'web'], env()).exited;
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--dc and --failover cannot be combined/);
  });
});
