/**
 * `consul-recipes inspect` through the real binary: the holders of a live lock, semaphore and
 * election, read back with their sessions' TTL and age, as a table and as JSON.
 */
import { describe, expect, it } from 'vitest';
import { useCliFixture } from './support.js';

const fx = useCliFixture();

interface HolderJson {
  sessionId: string;
  session: { ttl: string; node: string; name: string; behavior: string } | undefined;
  holder: { pid: number; since: string } | undefined;
  ageMs: number | null;
}

interface InspectionJson {
  prefix: string;
  locks: Array<{ key: string; holder: HolderJson | null }>;
  semaphores: Array<{ prefix: string; limit: number; holders: HolderJson[]; waiting: HolderJson[]; stale: string[] }>;
  elections: Array<{ key: string; fencingToken: number; leader: HolderJson; value: string }>;
  otherKeys: number;
}

describe('inspect <prefix>', () => {
  it('shows the holders of a live lock, semaphore and election with TTL and age', async () => {
    await fx.consul('PUT', `/v1/kv/${fx.prefix}/plain`, 'just data');
    const lock = fx.start(['lock', '--ttl', '20s', `${fx.prefix}/jobs/nightly`, '--', ...fx.child('lock')]);
    const s1 = fx.start(['semaphore', '--limit', '2', `${fx.prefix}/sem/db`, '--', ...fx.child('s1')]);
    const s2 = fx.start(['semaphore', '--limit', '2', `${fx.prefix}/sem/db`, '--', ...fx.child('s2')]);
    const elect = fx.start(['elect', `${fx.prefix}/leader`, '--', ...fx.child('leader')]);
    const [l, a, b, e] = [await fx.started('lock'), await fx.started('s1'), await fx.started('s2'), await fx.started('leader')];
    const waiter = fx.start(['semaphore', '--verbose', '--limit', '2', `${fx.prefix}/sem/db`, '--', ...fx.child('s3')]);
    await waiter.waitForOutput(/waiting: all 2 permits/);

    const json = await fx.run(['inspect', '--json', fx.prefix]);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as InspectionJson;

    expect(result.locks).toHaveLength(1);
    expect(result.locks[0]).toMatchObject({ key: `${fx.prefix}/jobs/nightly/.lock`, holder: { sessionId: l.session, session: { ttl: '20s', behavior: 'release' } } });
    expect(result.locks[0]?.holder?.holder?.pid).toBe(lock.child.pid);
    expect(result.locks[0]?.holder?.ageMs).toEqual(expect.any(Number));

    expect(result.semaphores).toHaveLength(1);
    const sem = result.semaphores[0];
    expect(sem?.prefix).toBe(`${fx.prefix}/sem/db`);
    expect(sem?.limit).toBe(2);
    expect(sem?.holders.map((h) => h.sessionId).sort()).toEqual([a.session, b.session].sort());
    expect(sem?.holders.every((h) => h.session?.ttl === '15s' && h.session.behavior === 'delete' && typeof h.ageMs === 'number')).toBe(true);
    expect(sem?.holders.map((h) => h.holder?.pid).sort()).toEqual([s1.child.pid, s2.child.pid].sort());
    expect(sem?.waiting.map((h) => h.holder?.pid)).toEqual([waiter.child.pid]);
    expect(sem?.stale).toEqual([]);

    expect(result.elections).toHaveLength(1);
    expect(result.elections[0]).toMatchObject({ key: `${fx.prefix}/leader`, fencingToken: Number(e.token), leader: { sessionId: e.session } });
    expect(result.elections[0]?.leader.holder?.pid).toBe(elect.child.pid);
    expect(result.otherKeys).toBe(1);

    const table = await fx.run(['inspect', fx.prefix]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^KIND +KEY +STATE +SESSION +NODE +TTL +AGE +HOLDER$/);
    const row = (pattern: RegExp): string | undefined => lines.find((line) => pattern.test(line));
    expect(row(new RegExp(`^lock +${fx.prefix}/jobs/nightly/\\.lock +held \\(token ${l.token}\\) +${l.session?.slice(0, 8)} +\\S+ +20s +\\d`))).toBeDefined();
    expect(lines.filter((line) => new RegExp(`^semaphore +${fx.prefix}/sem/db +holder 2/2 `).test(line))).toHaveLength(2);
    expect(row(new RegExp(`^semaphore +${fx.prefix}/sem/db +waiting #1 `))).toBeDefined();
    expect(row(new RegExp(`^election +${fx.prefix}/leader +leader \\(term ${e.token}\\) +${e.session?.slice(0, 8)} `))).toBeDefined();
    expect(table.stdout).toMatch(/\(1 other key under .* not shown\)/);

    for (const name of ['lock', 's1', 's2', 's3', 'leader']) fx.release(name);
    for (const cli of [lock, s1, s2, waiter, elect]) expect((await cli.exited).code).toBe(0);
    const after = await fx.run(['inspect', fx.prefix]);
    expect(after.stdout).toMatch(/^nothing held under ".*" \(no locks, semaphores or election leaders; 1 other key\)/);
  });

  it('shows an age of ? for holders that do not say when they started (consul lock, Go)', async () => {
    const session = (await fx.consul<{ ID: string }>('PUT', '/v1/session/create', { Name: 'consul-recipes test: go-style holder', TTL: '15s' })).json().ID;
    try {
      await fx.consul('PUT', `/v1/kv/${fx.prefix}/go/.lock?acquire=${session}&flags=3304740253564472344`);
      const r = await fx.run(['inspect', fx.prefix]);
      expect(r.stdout).toMatch(new RegExp(`^lock +${fx.prefix}/go/\\.lock +held \\(token \\d+\\) +${session.slice(0, 8)} +\\S+ +15s +\\? +consul-recipes test: go-style holder$`, 'm'));
      const json = JSON.parse((await fx.run(['inspect', '--json', fx.prefix])).stdout) as InspectionJson;
      expect(json.locks[0]?.holder?.ageMs).toBeNull();
    } finally {
      await fx.consul('PUT', `/v1/session/destroy/${session}`);
    }
  });
});

describe('inspect without a prefix', () => {
  it('reads the whole KV store and says so, never \'under ""\'', async () => {
    await fx.consul('PUT', `/v1/kv/${fx.prefix}/plain`, 'just data');
    const r = await fx.run(['inspect']);
    expect(r.code, r.stderr).toBe(0);
    // At least our plain key is "other": either summary line names the whole store.
    expect(r.stdout).toMatch(/^nothing held in the whole KV store \(.*[1-9]\d* other keys?\)$|^\(\d+ other keys? in the whole KV store not shown\)$/m);
    expect(r.stdout).not.toContain('""');
  });
});
