/**
 * registerService with a script check (`check.args`): sent as the check's `Args`, run by an agent
 * that enables script checks, refused (a ConsulError carrying Consul's text) by one that does not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Coordinator } from '../../src/coordinator.js';
import { ConfigError, ConsulError } from '../../src/errors.js';
import { buildServiceDefinition, resolveServiceOptions, serviceCheckId } from '../../src/recipes/service/options.js';
import { type DevServer, startDevServer } from '../../src/testing/index.js';
import { waitFor } from '../support/wait.js';

let server: DevServer | undefined;
let coord: Coordinator | undefined;

afterEach(async () => {
  await coord?.close();
  await server?.close();
  coord = undefined;
  server = undefined;
});

describe('check.args', () => {
  it('is validated and sent as Args with Interval and Timeout', () => {
    const o = resolveServiceOptions({ name: 'a', check: { args: ['/bin/check', '-q'], interval: '5s', timeout: '2s' } });
    expect(o.check).toEqual({ kind: 'args', args: ['/bin/check', '-q'], intervalMs: 5000, timeoutMs: 2000, notes: undefined });
    expect(buildServiceDefinition(o, undefined).Check).toMatchObject({ Args: ['/bin/check', '-q'], Interval: '5s', Timeout: '2s' });
    expect(() => resolveServiceOptions({ name: 'a', check: { args: [], interval: '1s' } })).toThrow(ConfigError);
    expect(() => resolveServiceOptions({ name: 'a', check: { args: ['x'] } as never })).toThrow(/check.interval/);
  });

  it('runs on an agent with script checks enabled: the instance follows the script’s exit code', async () => {
    server = await startDevServer({ enableScriptChecks: true });
    coord = new Coordinator({ address: server.url });
    const reg = await coord.registerService({ name: 'scripted', check: { args: ['sh', '-c', 'echo slow; exit 1'], interval: '1s' } });
    const check = await waitFor(() => server!.state.listChecks().find((c) => c.checkId === serviceCheckId(reg.id) && c.status === 'warning'));
    expect(check.output).toBe('slow\n');
    await reg.deregister();
  });

  it('is refused by an agent without script checks, with Consul’s reason', async () => {
    server = await startDevServer();
    coord = new Coordinator({ address: server.url, retry: { retries: 0 } });
    const err = await coord.registerService({ name: 'scripted', check: { args: ['true'], interval: '1s' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsulError);
    expect((err as Error).message).toContain('Scripts are disabled on this agent');
    expect(server.state.listServices().filter((s) => s.name === 'scripted')).toEqual([]);
  });
});

