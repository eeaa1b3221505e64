/**
 * "The blocking query I just sent is parked on the server": the moment a test must reach before
 * it writes, or the write may land before the query and the test proves nothing.
 *
 * Against the dev server this waits on its observable (`waitForParked`), so the moment is exact.
 * A real agent (CONSUL_HTTP_ADDR / container) exposes no such count: there, and only there, the
 * helper falls back to a fixed pause long enough for a loopback request to reach the agent.
 */
import type { Target } from './target.js';
import { pause } from './wait.js';

/** The fallback pause against a real agent, in ms. */
export const REAL_AGENT_PARK_MS = 150;

/**
 * Resolves once at least `count` blocking queries whose decoded path starts with `path` are
 * parked on the dev server; against a real agent, after {@link REAL_AGENT_PARK_MS}.
 */
export async function untilParked(target: Target, path: string, count = 1): Promise<void> {
  if (target.dev) {
    await target.dev.waitForParked({ endpoint: path, count });
    return;
  }
  await pause(REAL_AGENT_PARK_MS);
}

/**
 * For a path other tests' queries may share (`/v1/session/list`, `/v1/event/list`): call before
 * sending the request, then await the result to know that one more query than before is parked.
 */
export function parkedFromNow(target: Target, path: string): () => Promise<void> {
  const before = target.dev?.state.parkedQueries(path) ?? 0;
  return () => untilParked(target, path, before + 1);
}
