/**
 * `consul-recipes semaphore` (and `lock -n N`, its consul-lock spelling) through the real binary:
 * at most `limit` commands run at once, in `consul lock -n` layout; a limit mismatch is a conflict.
 */
import { describe, expect, it } from 'vitest';
import { useCliFixture } from './support.js';

const SEMAPHORE_FLAGS = '16210313421097356768'; // 0xe0f69a2baa414de0, api.SemaphoreFlagValue

const fx = useCliFixture();

/** Most commands running at once according to the shared log. */
function peakConcurrency(log: readonly string[]): number {
  let running = 0;
  let peak = 0;
  for (const line of log) {
    if (line.startsWith('start ')) peak = Math.max(peak, ++running);
    if (line.startsWith('end ')) running -= 1;
  }
  return peak;
}

describe('semaphore --limit N <prefix> -- <command>', () => {
  it('runs at most N commands at once; the next starts when one finishes', async () => {
    const a = fx.start(['semaphore', '--limit', '2', fx.prefix, '--', ...fx.child('a')]);
    const b = fx.start(['semaphore', '--limit', '2', fx.prefix, '--', ...fx.child('b')]);
    const ra = await fx.started('a');
    const rb = await fx.started('b');
    expect([ra.held, rb.held]).toEqual(['true', 'true']);
    const c = fx.start(['semaphore', '--verbose', '--limit', '2', fx.prefix, '--', ...fx.child('c')]);
    await c.waitForOutput(/waiting: all 2 permits of .* are taken/);
    expect(fx.log().sort()).toEqual(['start a', 'start b']);

    // The layout of consul lock -n: the .lock record lists the holders, one contender key each.
    const list = await fx.consul<Array<{ Key: string; Session?: string; Value: string }>>('GET', `/v1/kv/${fx.prefix}/?recurse`);
    expect(list.text.match(/"Flags":\s*(\d+)/g)?.every((f) => f.endsWith(SEMAPHORE_FLAGS))).toBe(true);
    const record = list.json().find((p) => p.Key === `${fx.prefix}/.lock`);
    const holders = JSON.parse(Buffer.from(record?.Value ?? '', 'base64').toString('utf8'));
    expect(holders).toEqual({ Limit: 2, Holders: { [ra.session as string]: true, [rb.session as string]: true } });
    expect(list.json().filter((p) => p.Key !== `${fx.prefix}/.lock`)).toHaveLength(3);

    fx.release('a');
    expect((await a.exited).code).toBe(0);
    await fx.started('c');
    fx.release('b');
    fx.release('c');
    expect((await b.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
    expect(peakConcurrency(fx.log())).toBe(2);
    expect(fx.log().indexOf('start c')).toBeGreaterThan(fx.log().indexOf('end a'));
    // As Go's Destroy(): the record goes once nobody holds a permit.
    expect((await fx.consul('GET', `/v1/kv/${fx.prefix}/?recurse`)).status).toBe(404);
  });

  it('shares the semaphore with lock -n N on the same prefix', async () => {
    const a = fx.start(['lock', '-n', '1', fx.prefix, '--', ...fx.child('plain')]);
    await fx.started('plain');
    fx.release('plain');
    await a.exited;

    const s = fx.start(['semaphore', '--limit', '2', fx.prefix, '--', ...fx.child('s')]);
    const l = fx.start(['lock', '-n', '2', fx.prefix, '--', ...fx.child('l')]);
    const [rs, rl] = [await fx.started('s'), await fx.started('l')];
    const record = await fx.consul<Array<{ Value: string }>>('GET', `/v1/kv/${fx.prefix}/.lock`);
    const holders = JSON.parse(Buffer.from(record.json()[0]?.Value ?? '', 'base64').toString('utf8'));
    expect(Object.keys(holders.Holders).sort()).toEqual([rs.session, rl.session].sort());
    fx.release('s');
    fx.release('l');
    expect((await s.exited).code).toBe(0);
    expect((await l.exited).code).toBe(0);
  });

  it('exits 1 with a conflict when another contender uses a different limit', async () => {
    const a = fx.start(['semaphore', '--limit', '2', fx.prefix, '--', ...fx.child('a')]);
    await fx.started('a');
    const r = await fx.run(['semaphore', '--limit', '3', fx.prefix, '--', ...fx.child('b')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/semaphore limit conflict \(record: 2, local: 3\)/);
    fx.release('a');
    expect((await a.exited).code).toBe(0);
    expect(fx.log()).toEqual(['start a', 'end a']);
  });

  it('stops the command with 125 when the permit is lost', async () => {
    const cli = fx.start(['semaphore', '--limit', '2', fx.prefix, '--', ...fx.child('a')]);
    const a = await fx.started('a');
    if (fx.target.dev) fx.target.dev.invalidateSession(a.session as string);
    else await fx.consul('PUT', `/v1/session/destroy/${a.session}`);
    const result = await cli.exited;
    expect(result.code).toBe(125);
    expect(fx.log()).toEqual(['start a', 'SIGTERM a']);
  });
});
