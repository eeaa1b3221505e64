/**
 * The single owner of every dev-server timer (session TTLs, check TTLs, blocking-query
 * timeouts, tombstone reaping, leaderless windows), so `close()` and `restart()` can clear them
 * all, and `pause()` can freeze them.
 *
 * A paused server models a stopped (SIGSTOPped) process: its timers cannot run. A timer that
 * comes due while paused runs right after `resume()`, as Go timers that expired during a stop
 * fire as soon as the process continues.
 */

export interface TimerHandle {
  cancel(): void;
}

interface Entry {
  handle: NodeJS.Timeout | undefined;
  fn: () => void;
  done: boolean;
}

export class Timers {
  private readonly live = new Set<Entry>();
  private deferred: Entry[] = [];
  private paused = false;

  /** Runs `fn` once after `ms` (never while paused). */
  after(ms: number, fn: () => void): TimerHandle {
    const entry: Entry = { handle: undefined, fn, done: false };
    entry.handle = setTimeout(() => this.fire(entry), Math.max(0, ms));
    // Background timers never keep the process alive; the listening socket does that.
    entry.handle.unref();
    this.live.add(entry);
    return {
      cancel: () => {
        if (entry.done) return;
        entry.done = true;
        clearTimeout(entry.handle);
        this.live.delete(entry);
      },
    };
  }

  get isPaused(): boolean {
    return this.paused;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const due = this.deferred;
    this.deferred = [];
    for (const entry of due) this.run(entry);
  }

  /** Cancels every pending timer (close / restart). */
  clear(): void {
    for (const entry of this.live) {
      entry.done = true;
      clearTimeout(entry.handle);
    }
    this.live.clear();
    this.deferred = [];
  }

  private fire(entry: Entry): void {
    if (entry.done) return;
    if (this.paused) {
      this.deferred.push(entry);
      return;
    }
    this.run(entry);
  }

  private run(entry: Entry): void {
    if (entry.done) return;
    entry.done = true;
    this.live.delete(entry);
    entry.fn();
  }
}
