/**
 * Semaphore exclusion under contention, checked by the test: a shared counter of holders inside
 * their critical section never exceeds the limit, and fencing tokens follow acquisition order.
 */
import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/recipes/semaphore/semaphore.js';
import { Occupancy } from '../support/occupancy.js';
import { useLockFixture } from './lock-fixture.js';

const fx = useLockFixture();

const CONTENDERS = 20;
const ROUNDS = 50;
const LIMIT = 3;

describe('mutual exclusion', () => {
  it(`${CONTENDERS} contenders × ${ROUNDS} rounds never exceed a limit of ${LIMIT}; tokens follow acquisition order`, async () => {
    const coords = [fx.coord(), fx.coord()];
    const prefix = fx.key('sem');
    const occupancy = new Occupancy();
    // Highest token among permits whose release has completed: any permit acquired after that
    // must carry a higher token (its CAS came later).
    let releasedMax = 0;
    const tokens: number[] = [];
    const contender = async (n: number): Promise<void> => {
      const sem = new Semaphore(coords[n % coords.length]!, prefix, { limit: LIMIT, ttl: fx.ttl });
      for (let round = 0; round < ROUNDS; round++) {
        const floor = releasedMax;
        const permit = await sem.acquire({ timeout: '25s' });
        if (!(permit.fencingToken > floor)) throw new Error(`token ${permit.fencingToken} not above ${floor}, released before the acquire began`);
        tokens.push(permit.fencingToken);
        await occupancy.visit(() => expect(permit.signal.aborted).toBe(false));
        await permit.release();
        releasedMax = Math.max(releasedMax, permit.fencingToken);
      }
      await sem.close();
    };
    await Promise.all(Array.from({ length: CONTENDERS }, (_, n) => contender(n)));

    expect(occupancy.max).toBeLessThanOrEqual(LIMIT);
    expect(tokens).toHaveLength(CONTENDERS * ROUNDS);
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(await fx.contenderKeys(prefix)).toEqual([]);
  }, 60_000);
});
