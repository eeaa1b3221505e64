/** Small helpers shared by the scenarios. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestCount } from './server-child.js';

/** A random hold in [min, max] ms, as a worker would hold a lock. */
export function hold(minMs: number, maxMs: number): Promise<void> {
  return sleep(minMs + Math.random() * (maxMs - minMs));
}

/** `promise`, or a rejection naming `what` after `timeoutMs` (a benchmark never hangs). */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`benchmark: ${what} did not happen within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The routes that took the most requests, for the JSON (where the requests of an operation go). */
export function topRoutes(count: RequestCount, ops: number, n = 8): Record<string, number> {
  const entries = Object.entries(count.byRoute).sort((a, b) => b[1] - a[1]).slice(0, n);
  return Object.fromEntries(entries.map(([route, c]) => [route, Math.round((c / Math.max(1, ops)) * 100) / 100]));
}

export const unique = (what: string): string => `bench/${what}/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
