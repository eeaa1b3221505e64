/**
 * Who is inside a critical section right now, for the exclusion tests: each holder `visit`s while
 * it holds the lock or permit; `max` is the most holders ever inside at once, which a lock must
 * keep at 1 and a semaphore at its limit. A visit yields to the event loop while inside, so other
 * contenders get a chance to (wrongly) come in meanwhile.
 */
export class Occupancy {
  private inside = 0;
  private highest = 0;

  /** Enters, yields once, runs `whileInside` (e.g. check the hold's signal), then leaves. */
  async visit(whileInside?: () => void): Promise<void> {
    this.inside += 1;
    this.highest = Math.max(this.highest, this.inside);
    await new Promise((resolve) => setImmediate(resolve));
    whileInside?.();
    this.inside -= 1;
  }

  /** The most holders that were ever inside at the same time. */
  get max(): number {
    return this.highest;
  }
}
