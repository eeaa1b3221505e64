/**
 * `consul-recipes elect` through the real binary: the command runs only while this process leads;
 * a follower's command starts once the leader's has exited (it resigns at once); a deposed
 * leader's command is stopped and elect exits 125.
 */
import { describe, expect, it } from 'vitest';
import { useCliFixture } from './support.js';

const fx = useCliFixture();

describe('elect <key> -- <command>', () => {
  it("runs the command only while leader; the follower's starts after the leader's exits", async () => {
    const key = `${fx.prefix}/leader`;
    const first = fx.start(['elect', key, '--', ...fx.child('first', 3)]);
    const a = await fx.started('first');
    expect(a.leader).toBe('true');
    const second = fx.start(['elect', '--verbose', key, '--', ...fx.child('second')]);
    await second.waitForOutput(/waiting: another process leads/);
    expect(fx.log()).toEqual(['start first']);

    fx.release('first');
    expect((await first.exited).code).toBe(3);
    const b = await fx.started('second');
    expect(Number(b.token)).toBeGreaterThan(Number(a.token));
    fx.release('second');
    expect((await second.exited).code).toBe(0);
    expect(fx.log()).toEqual(['start first', 'end first', 'start second', 'end second']);
    // Resigning deletes the leader key.
    expect((await fx.consul('GET', `/v1/kv/${key}`)).status).toBe(404);
  });

  it('stops the command and exits 125 when deposed', async () => {
    const cli = fx.start(['elect', `${fx.prefix}/leader`, '--', ...fx.child('a')]);
    const a = await fx.started('a');
    if (fx.target.dev) fx.target.dev.invalidateSession(a.session as string);
    else await fx.consul('PUT', `/v1/session/destroy/${a.session}`);
    const result = await cli.exited;
    expect(result.code).toBe(125);
    expect(fx.log()).toEqual(['start a', 'SIGTERM a']);
  });

  it('exits 124 when --timeout passes before it is elected', async () => {
    const leader = fx.start(['elect', `${fx.prefix}/leader`, '--', ...fx.child('leader')]);
    await fx.started('leader');
    const r = await fx.run(['elect', '--timeout', '200ms', `${fx.prefix}/leader`, '--', ...fx.child('late')]);
    expect(r.code).toBe(124);
    fx.release('leader');
    expect((await leader.exited).code).toBe(0);
    expect(fx.log()).toEqual(['start leader', 'end leader']);
  });
});
