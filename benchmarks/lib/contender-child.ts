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

serveCalls(
  {
    /** Builds the clients (and loads the peer's library) before the clock starts. */
    prepare: async (p: PrepareParams): Promise<void> => {
      mutexes = await Promise.all(Array.from({ length: p.contenders }, () => makeMutex(p.spec)));
    },
    /** One burst: at `startAt` every contender here asks once, holds, releases. */
    burst: async (p: BurstParams): Promise<StampedHold[]> => {
      const holds: StampedHold[] = [];
      await new Promise((r) => setTimeout(r, Math.max(0, p.startAt - now())));
      await Promise.all(
        mutexes.map(async (m, j) => {
          await m.acquire();
          const acq = now();
          await hold(p.holdMs[0], p.holdMs[1]);
          const rel = now();
          await m.release();
          holds.push({ c: p.firstId + j, acq, rel });
        }),
      );
      return holds;
    },
    close: async (): Promise<void> => {
      await Promise.all(mutexes.map((m) => m.close()));
      mutexes = [];
    },
    run: async (p: RunParams): Promise<StampedHold[]> => {
      const holds: StampedHold[] = [];
      try {
        await new Promise((r) => setTimeout(r, Math.max(0, p.startAt - now())));
        await Promise.all(
          mutexes.map(async (m, j) => {
            while (now() < p.stopAt) {
              await m.acquire();
              const acq = now();
              await hold(p.holdMs[0], p.holdMs[1]);
              const rel = now();
              await m.release();
              holds.push({ c: p.firstId + j, acq, rel });
              if (p.thinkMs) await hold(p.thinkMs[0], p.thinkMs[1]);
            }
          }),
        );
      } finally {
        await Promise.all(mutexes.map((m) => m.close()));
        mutexes = [];
      }
      return holds;
    },
  },
  { pid: process.pid },
);
