/**
 * Vitest global setup for the CLI tests (register it in vitest.config.ts `globalSetup`): builds
 * `dist/` once before any test file runs, if it is missing or stale. Each CLI test file also calls
 * `ensureBuilt()` in `beforeAll`, which is a no-op once the build is fresh, so the files work
 * without this registration too.
 */
import { ensureBuilt } from './build.js';

export default async function setup(): Promise<void> {
  await ensureBuilt();
}
