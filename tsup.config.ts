import { defineConfig, type Options } from 'tsup';
import { buildUiBundle } from './src/ui/build-app.js';

const shared = {
  target: 'node20',
  platform: 'node',
  // Maps stay in dist/ for local debugging; package.json `files` keeps them out of the tarball.
  sourcemap: true,
  splitting: false,
  shims: true,
  // p-retry (and its one dependency) ship ESM only. Bundled, the CommonJS build works on every
  // Node 20 (require() of an ES module is not available on all of them, and where it is, the
  // interop wraps the namespace instead of the default export).
  noExternal: ['p-retry', 'is-network-error'],
} satisfies Options;

export default defineConfig([
  // The library and consul-recipes/testing: ES module and CommonJS, with types for both.
  {
    ...shared,
    entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    // Everything but the CLI, which the other build writes at the same time.
    clean: ['**/*', '!cli/**'],
    // The browser UI (dist/ui/), served by the dev server and `consul-recipes ui`.
    onSuccess: () => buildUiBundle('dist/ui'),
  },
  // The `consul-recipes` binary: package.json `bin` runs the ES module build only.
  {
    ...shared,
    entry: { main: 'src/cli/main.ts' },
    outDir: 'dist/cli',
    format: ['esm'],
    clean: true,
  },
]);
