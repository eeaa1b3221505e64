/**
 * Makes sure `dist/` holds a build of the current sources before the CLI tests run the real
 * binary (`node dist/cli/main.js`). Builds with `npx tsup` when `dist/cli/main.js` is missing or
 * older than any source file. Test files run in parallel workers, so the build is guarded by a
 * lock directory: one worker builds, the others wait for it and find the build fresh.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = path.join(ROOT, 'dist/cli/main.js');

/** Inputs of the build: every source file plus the build configuration. */
function newestInput(): number {
  let newest = 0;
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else newest = Math.max(newest, statSync(full).mtimeMs);
    }
  };
  visit(path.join(ROOT, 'src'));
  for (const file of ['package.json', 'tsup.config.ts', 'tsconfig.json']) newest = Math.max(newest, statSync(path.join(ROOT, file)).mtimeMs);
  return newest;
}

export function isBuildFresh(): boolean {
  return existsSync(CLI) && statSync(CLI).mtimeMs >= newestInput();
}

const LOCK = path.join(tmpdir(), `consul-recipes-cli-build-${createHash('sha1').update(ROOT).digest('hex').slice(0, 10)}.lock`);
/** A lock older than this belongs to a build that died. */
const STALE_LOCK_MS = 180_000;

export async function ensureBuilt(): Promise<void> {
  for (;;) {
    if (isBuildFresh()) return;
    try {
      mkdirSync(LOCK);
    } catch {
      const age = Date.now() - (existsSync(LOCK) ? statSync(LOCK).mtimeMs : Date.now());
      if (age > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      // Another worker is building: wait for its lock to go (a build takes ~10-20 s).
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    try {
      if (isBuildFresh()) return;
      const result = spawnSync('npx', ['tsup'], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
      if (result.status !== 0) {
        throw new Error(`npx tsup failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
      }
      return;
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  }
}
