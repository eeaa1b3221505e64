/**
 * A ttl below the server's minimum: Consul answers only `Invalid Session TTL …, must be between
 * [10s=24h0m0s]` (agent/session_endpoint.go); the error adds what to do on either side. Runs
 * against real Consul too (its default session_ttl_min is also 10s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordinator, ConsulError } from '../../src/index.js';
import { explainTtlRefusal } from '../../src/session/ttl-hint.js';
import { startTarget, type Target } from '../support/target.js';

let target: Target;
let coord: Coordinator;

beforeAll(async () => {
  target = await startTarget({ dev: { sessionTtlMin: '10s' } });
  coord = new Coordinator({ address: target.url });
});

afterAll(async () => {
  await coord.close();
  await target.close();
});

async function rejection(promise: Promise<unknown>): Promise<ConsulError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConsulError);
  return err as ConsulError;
}

describe('a session ttl below the server minimum', () => {
  it("keeps Consul's answer and adds both fixes: a longer ttl, or a lower session_ttl_min / sessionTtlMin", async () => {
    const err = await rejection(coord.session({ ttl: '2s' }));
    expect(err.code).toBe('ERR_CONSUL');
    expect(err.statusCode).toBe(500);
    expect(err.consulMessage).toMatch(/Invalid Session TTL '2000000000', must be between \[10s=24h0m0s\]/);
    expect(err.message).toContain("must be between [10s=24h0m0s]");
    expect(err.message).toContain("; the session ttl 2s is outside this Consul's range 10s to 24h0m0s");
    expect(err.message).toContain('use a ttl of at least 10s');
    expect(err.message).toContain('session_ttl_min');
    expect(err.message).toContain('sessionTtlMin');
  });

  it('reaches lock users the same way', async () => {
    const err = await rejection(coord.lock('ttl-hint/lock', { ttl: '2s' }).acquire({ timeout: '5s' }));
    expect(err.message).toContain('use a ttl of at least 10s');
  });
});

describe('explainTtlRefusal', () => {
  it('leaves every other error as it was', () => {
    const other = new ConsulError(500, 'PUT /v1/session/create', 'rpc error: no leader');
    expect(explainTtlRefusal(other, 2000)).toBe(other);
    const plain = new Error('x');
    expect(explainTtlRefusal(plain, 2000)).toBe(plain);
  });
});
