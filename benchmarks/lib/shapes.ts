/**
 * The shapes every system runs, written once against small interfaces, so consul-recipes and
 * the peers (benchmarks/peers/) are measured by the same loops, and the suite's scenarios share
 * them.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Coordinator, type LockOptions } from '../../src/index.js';
import type { BurstParams, PrepareParams, RunParams, StampedHold } from './contender-child.js';
import { spawnChild } from './harness.js';
import { hold, within } from './measure.js';
import type { MutexSpec } from './mutexes.js';
import { summarize, type Summary } from './stats.js';

/** One client's mutex on one key (a contender: its own connection). */
export interface Mutex {
  acquire(): Promise<void>;
  release(): Promise<void>;
  close(): Promise<void>;
}

/** One client's candidate in one election. */
export interface Candidate {
  /** Starts campaigning; `blocked` resolves once it waits behind a leader, `elected` once it leads. */
  campaign(): { blocked: Promise<void>; elected: Promise<void> };
  resign(): Promise<void>;
  close(): Promise<void>;
}

/** Counts the requests a system's server received. */
export type RequestCounter = () => Promise<number>;

export interface Measured {
  stats: Summary;
  opsPerSecond: number;
  requestsPerOp: number;
}

async function countedRun(counter: RequestCounter, ops: () => number, fn: () => Promise<number[]>): Promise<Measured> {
  const before = await counter();
  const t0 = performance.now();
  const samples = await fn();
  const elapsed = performance.now() - t0;
  const after = await counter();
  const n = ops();
  return { stats: summarize(samples), opsPerSecond: (n / elapsed) * 1000, requestsPerOp: (after - before) / n };
}

/** acquire + release of a free mutex, one client. */
export async function lockCycle(mutex: Mutex, rounds: number, counter: RequestCounter): Promise<Measured> {
  for (let i = 0; i < Math.min(20, rounds); i++) {
    await mutex.acquire();
    await mutex.release();
  }
  return countedRun(counter, () => rounds, async () => {
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await mutex.acquire();
      await mutex.release();
      samples.push(performance.now() - t0);
    }
    return samples;
  });
}

/**
 * N contenders in this process, 1–5 ms holds, `handoffs` handoffs; with `limit` > 1 the mutexes
 * are permits of a semaphore. Sample: a release starting → the next acquisition resolving
 * (releases and acquisitions paired in order). A contender asks again right after its release,
 * so a handoff may go back to the releaser (an unfair lock lets it barge); the result says how
 * often, and the latency of the handoffs that went to another contender. Across processes, and
 * with time outside the lock between holds: {@link contendedAcross}.
 */
export async function contended(makeMutex: () => Mutex, n: number, handoffs: number, counter: RequestCounter, limit = 1): Promise<Measured & { handoff: Handoffs }> {
  const contenders = Array.from({ length: n }, makeMutex);
  let acquisitions = 0;
  let inside = 0;
  const releases: { at: number; by: number }[] = [];
  const toOther: number[] = [];
  let toSelf = 0;
  try {
    const measured = await countedRun(counter, () => acquisitions, async () => {
      const samples: number[] = [];
      await within(
        Promise.all(
          contenders.map(async (m, me) => {
            while (acquisitions <= handoffs) {
              await m.acquire();
              const now = performance.now();
              inside += 1;
              if (inside > limit) throw new Error(`benchmark: ${inside} holders on a limit of ${limit}`);
              const released = releases.shift();
              if (released !== undefined) {
                samples.push(now - released.at);
                if (released.by === me) toSelf += 1;
                else toOther.push(now - released.at);
              }
              acquisitions += 1;
              await hold(1, 5);
              inside -= 1;
              releases.push({ at: performance.now(), by: me });
              await m.release();
            }
          }),
        ),
        600_000,
        `${handoffs} handoffs among ${n} contenders`,
      );
      return samples;
    });
    return { ...measured, handoff: { toSelfShare: toSelf / Math.max(1, toSelf + toOther.length), toOther: summarize(toOther) } };
  } finally {
    await Promise.all(contenders.map((m) => m.close()));
  }
}

/** Contender processes a run spreads its contenders over (2 cores: more only adds scheduling noise). */
const MAX_PROCESSES = 10;
/** Clock agreement between processes assumed by the exclusion check, in ms. */
const CLOCK_EPSILON_MS = 0.05;
const CONTENDER_CHILD = fileURLToPath(new URL('./contender-child.ts', import.meta.url));

/**
 * The contended shape across processes, as contenders run in production: N contenders spread
 * over min(N, 10) processes (each contender its own client and connections), looping acquire →
 * hold 1–5 ms → release (→ `thinkMs` outside the lock) on one key for `seconds`. Holds are
 * stamped with wall-clock times comparable across processes; sorted, each hold's acquire follows
 * the previous hold's release start (checked: two holders at once fail the run), and the gap is
 * the handoff sample. Requests per operation: what the server saw per hold.
 */
export async function contendedAcross(
  spec: MutexSpec,
  n: number,
  seconds: number,
  counter: RequestCounter,
  thinkMs?: readonly [min: number, max: number],
): Promise<Measured & { handoff: Handoffs }> {
  const processes = Math.min(n, MAX_PROCESSES);
  const children = await Promise.all(Array.from({ length: processes }, () => spawnChild(CONTENDER_CHILD)));
  try {
    const counts = children.map((_, i) => Math.floor(n / processes) + (i < n % processes ? 1 : 0));
    await Promise.all(children.map((child, i) => child.call<void>('prepare', { spec, contenders: counts[i] as number } satisfies PrepareParams)));
    const startAt = performance.timeOrigin + performance.now() + 200;
    const stopAt = startAt + seconds * 1000;
    const before = await counter();
    let firstId = 0;
    const runs = children.map((child, i) => {
      const params: RunParams = { firstId, startAt, stopAt, holdMs: [1, 5], thinkMs };
      firstId += counts[i] as number;
      return child.call<StampedHold[]>('run', params);
    });
    const holds = (await within(Promise.all(runs), seconds * 1000 + 120_000, `${n} contender processes`)).flat();
    const after = await counter();
    holds.sort((a, b) => a.acq - b.acq);
    const samples: number[] = [];
    const toOther: number[] = [];
    let toSelf = 0;
    checkExclusion(spec, holds, (prev, cur) => {
      const gap = Math.max(0, cur.acq - prev.rel);
      samples.push(gap);
      if (cur.c === prev.c) toSelf += 1;
      else toOther.push(gap);
    });
    const elapsed = (holds.at(-1)?.acq ?? stopAt) - (holds[0]?.acq ?? startAt);
    return {
      stats: summarize(samples),
      opsPerSecond: (samples.length / Math.max(1, elapsed)) * 1000,
      requestsPerOp: (after - before) / Math.max(1, holds.length),
      handoff: { toSelfShare: toSelf / Math.max(1, samples.length), toOther: summarize(toOther) },
    };
  } finally {
    await Promise.all(children.map((c) => c.close()));
  }
}

/**
 * Bursts across processes: N contenders (over min(N, 10) processes) all ask for the lock at one
 * moment, each once, holding 1–5 ms, as workers that wake together for one job do (a cron tick,
 * a deploy). `rounds` bursts, one after the other; within each, the holds sorted by acquisition
 * give N − 1 handoff samples (the gap from one release starting to the next acquisition), with
 * exclusion checked as in {@link contendedAcross}. A releaser never asks again, so no handoff can
 * go back to it: every sample is a real handoff. Requests per operation: per hold.
 */
export async function contendedBursts(spec: MutexSpec, n: number, rounds: number, counter: RequestCounter): Promise<Measured & { handoff: Handoffs }> {
  const processes = Math.min(n, MAX_PROCESSES);
  const children = await Promise.all(Array.from({ length: processes }, () => spawnChild(CONTENDER_CHILD)));
  try {
    const counts = children.map((_, i) => Math.floor(n / processes) + (i < n % processes ? 1 : 0));
    await Promise.all(children.map((child, i) => child.call<void>('prepare', { spec, contenders: counts[i] as number } satisfies PrepareParams)));
    const samples: number[] = [];
    let holdsTotal = 0;
    let busyMs = 0;
    const before = await counter();
    for (let round = 0; round < rounds; round++) {
      const startAt = performance.timeOrigin + performance.now() + 30;
      let firstId = 0;
      const calls = children.map((child, i) => {
        const params: BurstParams = { firstId, startAt, holdMs: [1, 5] };
        firstId += counts[i] as number;
        return child.call<StampedHold[]>('burst', params);
      });
      const holds = (await within(Promise.all(calls), 120_000, `a burst of ${n} contenders`)).flat();
      holds.sort((a, b) => a.acq - b.acq);
      checkExclusion(spec, holds, (prev, cur) => samples.push(Math.max(0, cur.acq - prev.rel)));
      holdsTotal += holds.length;
      busyMs += (holds.at(-1)?.acq ?? startAt) - (holds[0]?.acq ?? startAt);
    }
    const after = await counter();
    await Promise.all(children.map((c) => c.call<void>('close')));
    return {
      stats: summarize(samples),
      opsPerSecond: (samples.length / Math.max(1, busyMs)) * 1000,
      requestsPerOp: (after - before) / Math.max(1, holdsTotal),
      handoff: { toSelfShare: 0, toOther: summarize(samples) },
    };
  } finally {
    await Promise.all(children.map((c) => c.close()));
  }
}

/** Sorted stamped holds: each must start after the previous one's release began (two holders at once fail the run). */
function checkExclusion(spec: MutexSpec, holds: readonly StampedHold[], gap: (prev: StampedHold, cur: StampedHold) => void): void {
  for (let i = 1; i < holds.length; i++) {
    const prev = holds[i - 1] as StampedHold;
    const cur = holds[i] as StampedHold;
    if (cur.acq < prev.rel - CLOCK_EPSILON_MS) {
      throw new Error(`benchmark: contenders ${prev.c} and ${cur.c} held ${spec.system}'s lock at once (${(prev.rel - cur.acq).toFixed(3)} ms overlap)`);
    }
    gap(prev, cur);
  }
}

/** How handoffs went: to the releasing contender itself (it asked again first) or to another. */
export interface Handoffs {
  /** Share of handoffs the releasing contender took back itself. */
  toSelfShare: number;
  /** Release → acquisition by another contender. */
  toOther: Summary;
}

/** A table note for {@link Handoffs}. */
export function handoffNote(h: Handoffs): string {
  const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 2) : '—');
  return `${Math.round(h.toSelfShare * 100)}% re-taken by the releaser; to another: p50 ${ms(h.toOther.p50)} / p99 ${ms(h.toOther.p99)} ms`;
}

/** Two candidates; the leader resigns while the other waits. Sample: resign() → other elected. */
export async function electionHandoff(a: Candidate, b: Candidate, rounds: number, counter: RequestCounter): Promise<Measured> {
  let [leader, follower] = [a, b];
  await leader.campaign().elected;
  return countedRun(counter, () => rounds, async () => {
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const { blocked, elected } = follower.campaign();
      await blocked;
      const t0 = performance.now();
      await leader.resign();
      await within(elected, 30_000, 'the follower elected after a resign');
      samples.push(performance.now() - t0);
      [leader, follower] = [follower, leader];
    }
    return samples;
  });
}

// ---- consul-recipes --------------------------------------------------------------------------

/**
 * A consul-recipes Lock with its own Coordinator (connections and session), lock-delay 0. With
 * `workerSession` the contender opens one session (ttl 10 s, lock-delay 0) and holds every lock
 * with it, as a long-running worker does; otherwise each hold makes its own.
 */
export function oursMutex(address: string, key: string, options: LockOptions = {}, workerSession = false): Mutex {
  const coord = new Coordinator({ address });
  let lock: ReturnType<typeof coord.lock> | undefined;
  const lockOf = async (): Promise<ReturnType<typeof coord.lock>> => {
    if (lock) return lock;
    const session = workerSession ? await coord.session({ ttl: '10s', lockDelay: 0 }) : undefined;
    lock = session ? coord.lock(key, { ...options, session }) : coord.lock(key, { ttl: '10s', lockDelay: 0, ...options });
    return lock;
  };
  let handle: Awaited<ReturnType<ReturnType<typeof coord.lock>['acquire']>> | undefined;
  return {
    acquire: async () => {
      handle = await (await lockOf()).acquire();
    },
    release: async () => {
      await handle?.release();
      handle = undefined;
    },
    close: () => coord.close(),
  };
}

/** One contender of a consul-recipes Semaphore, with its own Coordinator. */
export function oursSemaphore(address: string, prefix: string, limit: number, fair = false): Mutex {
  const coord = new Coordinator({ address });
  const sem = coord.semaphore(prefix, { limit, ttl: '10s', lockDelay: 0, fair });
  let permit: Awaited<ReturnType<typeof sem.acquire>> | undefined;
  return {
    acquire: async () => {
      permit = await sem.acquire();
    },
    release: async () => {
      await permit?.release();
      permit = undefined;
    },
    close: () => coord.close(),
  };
}

/** A consul-recipes LeaderElection candidate, with its own Coordinator. */
export function oursCandidate(address: string, key: string): Candidate {
  const coord = new Coordinator({ address });
  const election = coord.election(key, { ttl: '10s' });
  return {
    campaign: () => {
      const elected = election.campaign().then(() => undefined);
      const blocked = new Promise<void>((resolve) => {
        election.once('waiting', () => resolve());
        elected.then(() => resolve(), () => resolve());
      });
      return { blocked, elected };
    },
    resign: () => election.resign(),
    close: () => coord.close(),
  };
}
