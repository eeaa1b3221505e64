/**
 * A process hosting some of a contended run's contenders (see `contendedAcross` and
 * `contendedBursts` in shapes.ts): each loops acquire → hold → release (→ think) on one key until
 * `stopAt`, or acquires once per burst, stamping every hold with wall-clock times comparable
 * across processes (`performance.timeOrigin + now()`).
 */
import { performance } from 'node:perf_hooks';
import { serveCalls } from './harness.js';
import { hold } from './measure.js';
import { makeMutex, type MutexSpec } from './mutexes.js';
import type { Mutex } from './shapes.js';

/** One hold: contender id, acquired (resolved) and release started, in absolute ms. */
export interface StampedHold {
  c: number;
  acq: number;
  rel: number;
}

export interface PrepareParams {
  spec: MutexSpec;
  contenders: number;
}

export interface BurstParams {
  firstId: number;
  startAt: number;
  holdMs: readonly [number, number];
}

export interface RunParams {
  firstId: number;
  startAt: number;
  stopAt: number;
  holdMs: readonly [number, number];
  thinkMs?: readonly [number, number] | undefined;
}

const now = (): number => performance.timeOrigin + performance.now();
let mutexes: Mutex[] = [];

/** Waits until the absolute time `at` (ms, comparable across processes). */
const until = (at: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, at - now())));

/** One stamped hold of `m`: acquire, hold `holdMs`, release. */
async function holdOnce(m: Mutex, c: number, holdMs: readonly [number, number], holds: StampedHold[]): Promise<void> {
  await m.acquire();
  const acq = now();
  await hold(holdMs[0], holdMs[1]);
  const rel = now();
  await m.release();
  holds.push({ c, acq, rel });
}

async function closeAll(): Promise<void> {
  await Promise.all(mutexes.map((m) => m.close()));
  mutexes = [];
}

serveCalls(
  {
    /** Builds the clients (and loads the peer's library) before the clock starts. */
    prepare: async (p: PrepareParams): Promise<void> => {
      mutexes = await Promise.all(Array.from({ length: p.contenders }, () => makeMutex(p.spec)));
    },
    /** One burst: at `startAt` every contender here asks once, holds, releases. */
    burst: async (p: BurstParams): Promise<StampedHold[]> => {
      const holds: StampedHold[] = [];
      await until(p.startAt);
      await Promise.all(mutexes.map((m, j) => holdOnce(m, p.firstId + j, p.holdMs, holds)));
      return holds;
    },
    close: closeAll,
    run: async (p: RunParams): Promise<StampedHold[]> => {
      const holds: StampedHold[] = [];
      try {
        await until(p.startAt);
        await Promise.all(
          mutexes.map(async (m, j) => {
            while (now() < p.stopAt) {
              await holdOnce(m, p.firstId + j, p.holdMs, holds);
              if (p.thinkMs) await hold(p.thinkMs[0], p.thinkMs[1]);
            }
          }),
        );
      } finally {
        await closeAll();
      }
      return holds;
    },
  },
  { pid: process.pid },
);
