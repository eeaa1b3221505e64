/**
 * `consul-recipes queue put|take|size` through the real binary: put prints the ID, take prints
 * the payload in priority-then-FIFO order and acks it, size counts, a take with nothing due
 * exits 124 after --timeout, bad usage exits 2.
 */
import { describe, expect, it } from 'vitest';
import { useCliFixture } from './support.js';

const fx = useCliFixture();

describe('queue put|take|size', () => {
  it('puts, counts and takes in priority-then-FIFO order, acking each message', async () => {
    const prefix = `${fx.prefix}/jobs`;
    const first = await fx.run(['queue', 'put', prefix, 'resize photo 1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toMatch(/^9999-\d{16}$/);
    expect((await fx.run(['queue', 'put', '--json', prefix, '{"job":"invoice","n":7}'])).code).toBe(0);
    expect((await fx.run(['queue', 'put', '--priority', '5', prefix, 'urgent'])).code).toBe(0);
    expect((await fx.run(['queue', 'size', prefix])).stdout.trim()).toBe('3');
    const taken = [];
    for (let i = 0; i < 2; i++) {
      const r = await fx.run(['queue', 'take', '--timeout', '10s', prefix]);
      expect(r.code, r.stderr).toBe(0);
      taken.push(r.stdout.trim());
    }
    const json = await fx.run(['queue', 'take', '--json', '--timeout', '10s', prefix]);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: expect.stringMatching(/^9999-/), attempt: 1, payload: { job: 'invoice', n: 7 } });
    expect(taken).toEqual(['urgent', 'resize photo 1']);
    expect((await fx.run(['queue', 'size', prefix])).stdout.trim()).toBe('0');
  });

  it('exits 124 when nothing comes within --timeout, and 2 on bad usage', async () => {
    const prefix = `${fx.prefix}/empty`;
    const r = await fx.run(['queue', 'take', '--timeout', '200ms', prefix]);
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/no message within 200ms/);
    expect((await fx.run(['queue', 'pop', prefix])).code).toBe(2);
    expect((await fx.run(['queue', 'put', prefix])).code).toBe(2);
    expect((await fx.run(['queue', 'put', '--json', prefix, '{nope'])).code).toBe(2);
    expect((await fx.run(['queue', 'size', '--priority', '1', prefix])).code).toBe(2);
  });
});
