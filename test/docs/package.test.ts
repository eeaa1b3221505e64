/**
 * What `npm pack` ships: the entry points package.json names and nothing else of weight (no
 * source maps, no unused CommonJS CLI), metadata a registry page needs, and a `typesVersions`
 * map for TypeScript's node10 resolution. `.ci/run` also runs attw and publint on the tarball.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../cli/build.js';

interface PackageJson {
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, Record<string, string> | string>>;
  typesVersions: Record<string, Record<string, string[]>>;
  main: string;
  module: string;
  types: string;
  repository: { type: string; url: string };
  homepage: string;
  bugs: { url: string };
  sideEffects: boolean;
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
let shipped: string[] = [];

beforeAll(async () => {
  await ensureBuilt();
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const [report] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  shipped = (report?.files ?? []).map((f) => f.path).sort();
}, 180_000);

/** Every file path package.json points at (exports, main, module, types, bin, typesVersions). */
function referencedFiles(): string[] {
  const out: string[] = [pkg.main, pkg.module, pkg.types, ...Object.values(pkg.bin)];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') for (const child of Object.values(v)) walk(child);
  };
  walk(pkg.exports);
  walk(pkg.typesVersions);
  return [...new Set(out.map((f) => f.replace(/^\.\//, '')))].sort();
}

describe('the npm package', () => {
  it('ships every file package.json points at', () => {
    expect(referencedFiles().filter((f) => !shipped.includes(f))).toEqual([]);
  });

  it('ships no source maps and no CommonJS CLI', () => {
    expect(shipped.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(shipped).not.toContain('dist/cli/main.cjs');
    expect(pkg.bin['consul-recipes']).toBe('./dist/cli/main.js');
  });

  it('ships only dist/, the README and the guides (with the screenshots the README shows)', () => {
    expect(shipped.filter((f) => !/^(dist\/|recipes-docs\/[^/]+\.md$|recipes-docs\/images\/[^/]+\.png$|README\.md$|package\.json$|LICENSE)/.test(f))).toEqual([]);
  });

  it('maps consul-recipes/testing for node10 resolution, as exports does for node16', () => {
    expect(pkg.typesVersions['*']?.testing).toEqual(['./dist/testing/index.d.ts']);
  });

  it('names its repository, homepage and issue tracker, and has no side effects on import', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: 'git+https://github.com/consul-recipes/consul-recipes.git' });
    expect(pkg.homepage).toBe('https://github.com/consul-recipes/consul-recipes#readme');
    expect(pkg.bugs.url).toBe('https://github.com/consul-recipes/consul-recipes/issues');
    expect(pkg.sideEffects).toBe(false);
  });
});
