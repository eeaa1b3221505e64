/**
 * Mutual exclusion under contention, checked by the test itself: every contender increments a
 * shared "inside" counter after acquiring and decrements it before releasing; the counter must
 * never exceed the limit. Fencing tokens must increase strictly in acquisition order.
 */
import { describe, expect, it } from 'vitest';
import { Lock } from '../../src/recipes/lock/lock.js';
import { Occupancy } from '../support/occupancy.js';
import { useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

const CONTENDERS = 20;
const ROUNDS = 50;

describe('mutual exclusion', () => {
  it(`${CONTENDERS} contenders × ${ROUNDS} rounds never hold the lock together; tokens strictly increase`, async () => {
    // Two coordinators, as two processes would be; each contender has its own Lock.
    const coords = [fx.coord(), fx.coord()];
    const key = fx.key('mutex');
    const occupancy = new Occupancy();
    const tokens: number[] = [];
    const contender = async (n: number): Promise<void> => {
      const lock = new Lock(coords[n % coords.length]!, key, { ttl: fx.ttl, lockDelay: 0 });
      for (let round = 0; round < ROUNDS; round++) {
        const handle = await lock.acquire({ timeout: '25s' });
        tokens.push(handle.fencingToken);
        // Give other contenders a chance to (wrongly) get in while we hold it.
        await occupancy.visit(() => expect(handle.signal.aborted).toBe(false));
        await handle.release();
      }
      await lock.close();
    };
    await Promise.all(Array.from({ length: CONTENDERS }, (_, n) => contender(n)));

    expect(occupancy.max).toBe(1);
    expect(tokens).toHaveLength(CONTENDERS * ROUNDS);
    for (let i = 1; i < tokens.length; i++) {
      if (!(tokens[i]! > tokens[i - 1]!)) throw new Error(`token ${tokens[i]} after ${tokens[i - 1]} at acquisition ${i}`);
    }
  }, 60_000);
});
