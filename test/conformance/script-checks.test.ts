/**
 * Conformance: script (`Args`) checks. agent/agent.go addCheck refuses them from the HTTP API
 * unless `enable_script_checks` is on; agent/checks/check.go CheckMonitor runs them: exit 0
 * passing, 1 warning, anything else critical, stdout+stderr captured in a 4 KiB circular buffer
 * ("Captured N of M bytes"), and a run past its timeout killed with its process group.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { describeConformance, type ConformanceContext } from '../support/conformance.js';
import { waitFor } from '../support/target.js';

const REFUSED = "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true";

interface AgentCheck {
  CheckID: string;
  Status: string;
  Output: string;
  Type: string;
}

function helpers(ctx: ConformanceContext) {
  let created: string[] = [];
  let services: string[] = [];
  afterEach(async () => {
    for (const id of created.splice(0)) await ctx.req('PUT', `/v1/agent/check/deregister/${encodeURIComponent(id)}`);
    for (const id of services.splice(0)) await ctx.req('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
  });
  let n = 0;
  return {
    id(label: string): string {
      n += 1;
      return `${label}-${ctx.base.replace(/[^a-z0-9]/gi, '')}-${n}`;
    },
    async register(id: string, args: string[], extra: Record<string, unknown> = {}) {
      const res = await ctx.req('PUT', '/v1/agent/check/register', { body: { ID: id, Name: id, Args: args, Interval: '1s', ...extra } });
      if (res.status === 200) created.push(id);
      return res;
    },
    service(id: string): void {
      services.push(id);
    },
    async get(id: string): Promise<AgentCheck | undefined> {
      return ((await ctx.req('GET', '/v1/agent/checks')).json() as Record<string, AgentCheck>)[id];
    },
    /** Waits until the check has been run once (it leaves its initial critical, empty output). */
    async settled(id: string, status: string): Promise<AgentCheck> {
      return waitFor(
        async () => {
          const c = await this.get(id);
          return c && c.Status === status ? c : undefined;
        },
        { timeout: 10_000, message: `check ${id} ${status}` },
      );
    },
  };
}

describeConformance('script checks refused without enable_script_checks (agent.go addCheck)', (ctx) => {
  const h = helpers(ctx);

  it('check/register with Args is a 500 with Consul’s text, and no check is created', async () => {
    const id = h.id('script-off');
    const res = await h.register(id, ['/bin/true']);
    expect(res.status).toBe(500);
    expect(res.text).toBe(REFUSED);
    expect(await h.get(id)).toBeUndefined();
  });

  it('service/register with a Check.Args is refused the same way, and the service is not added', async () => {
    const id = h.id('script-svc-off');
    const res = await ctx.req('PUT', '/v1/agent/service/register', {
      body: { ID: id, Name: id, Check: { Args: ['/bin/true'], Interval: '10s' } },
    });
    if (res.status === 200) h.service(id);
    expect(res.status).toBe(500);
    expect(res.text).toContain('Scripts are disabled on this agent');
    const services = (await ctx.req('GET', '/v1/agent/services')).json() as Record<string, unknown>;
    expect(services[id]).toBeUndefined();
  });

  it('Args without an Interval is still a 400 from CheckType.Validate first', async () => {
    const res = await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: h.id('no-interval'), Args: ['/bin/true'] } });
    expect(res.status).toBe(400);
    expect(res.text).toContain('Interval must be > 0');
  });
});

describeConformance(
  'script checks with enableScriptChecks (agent/checks/check.go CheckMonitor)',
  (ctx) => {
    const h = helpers(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'script-checks-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('exit 0 is passing with the output captured (stdout and stderr), Type "script"', async () => {
      const id = h.id('exit0');
      expect((await h.register(id, ['sh', '-c', 'echo out; echo err >&2; exit 0'])).status).toBe(200);
      const c = await h.settled(id, 'passing');
      expect(c.Output).toContain('out\n');
      expect(c.Output).toContain('err\n');
      expect(c.Type).toBe('script');
    });

    it('exit 1 is warning', async () => {
      const id = h.id('exit1');
      await h.register(id, ['sh', '-c', 'echo degraded; exit 1']);
      expect((await h.settled(id, 'warning')).Output).toBe('degraded\n');
    });

    it('any other exit code is critical', async () => {
      const id = h.id('exit2');
      await h.register(id, ['sh', '-c', 'echo broken; exit 2'], { Status: 'passing' });
      expect((await h.settled(id, 'critical')).Output).toBe('broken\n');
    });

    it('a command that cannot start is critical with Go’s exec error', async () => {
      const id = h.id('missing');
      await h.register(id, ['definitely-not-a-command-xyz'], { Status: 'passing' });
      expect((await h.settled(id, 'critical')).Output).toBe('exec: "definitely-not-a-command-xyz": executable file not found in $PATH');
    });

    it('output beyond 4 KiB keeps the last 4096 bytes after a "Captured" note', async () => {
      const id = h.id('big');
      // 5000 bytes: 4999 'a' and a final 'Z'.
      await h.register(id, ['sh', '-c', "head -c 4999 /dev/zero | tr '\\0' a; printf Z"]);
      const c = await h.settled(id, 'passing');
      expect(c.Output.startsWith('Captured 4096 of 5000 bytes\n...\n')).toBe(true);
      const tail = c.Output.slice('Captured 4096 of 5000 bytes\n...\n'.length);
      expect(tail).toHaveLength(4096);
      expect(tail.endsWith('aZ')).toBe(true);
    });

    it('OutputMaxSize lowers the buffer', async () => {
      const id = h.id('small');
      await h.register(id, ['sh', '-c', 'printf 0123456789'], { OutputMaxSize: 4 });
      expect((await h.settled(id, 'passing')).Output).toBe('Captured 4 of 10 bytes\n...\n6789');
    });

    it('a run past its Timeout is critical, "Timed out (…) running check", and its process group is killed', async () => {
      const id = h.id('slow');
      const pidFile = join(dir, `${id}.pid`);
      // The script starts a child in its group and waits for it; the kill must reach the child.
      await h.register(id, ['sh', '-c', `echo started; sleep 30 & echo $! > ${pidFile}; wait`], { Timeout: '300ms', Status: 'passing' });
      const c = await h.settled(id, 'critical');
      expect(c.Output).toBe('Timed out (300ms) running check\n\nstarted\n');
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      await waitFor(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, { message: 'the background sleep of the timed-out script is gone' });
    });
  },
  { dev: { enableScriptChecks: true }, devOnly: true },
);
