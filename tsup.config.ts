import { defineConfig } from 'tsup';
import { buildUiBundle } from './src/ui/build-app.js';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'cli/main': 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  splitting: false,
  shims: true,
  // p-retry (and its one dependency) ship ESM only. Bundled, the CommonJS build works on every
  // Node 20 (require() of an ES module is not available on all of them, and where it is, the
  // interop wraps the namespace instead of the default export).
  noExternal: ['p-retry', 'is-network-error'],
  // The browser UI (dist/ui/), served by the dev server and `consul-recipes ui`.
  onSuccess: () => buildUiBundle('dist/ui'),
});
