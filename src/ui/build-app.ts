/**
 * Builds the browser UI (src/ui/app) into one static folder: `index.html`, `app.js` (Preact +
 * htm and the pages, one minified ES module) and `app.css`. Run by tsup after the library build
 * (`onSuccess` in tsup.config.ts, so `npm run build` writes `dist/ui/`) and by tests that need the
 * bundle without a full build. Nothing is fetched at run time: the UI works offline.
 *
 * The pages reuse the CLI's pure coordination model (src/cli/inspect-model.ts), which works on
 * Buffers: the bundle carries the `buffer` package as its `Buffer` global, and the two Node
 * built-ins that model imports are replaced by tiny browser equivalents.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const APP = fileURLToPath(new URL('./app/', import.meta.url));

export async function buildUiBundle(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [path.join(APP, 'main.ts')],
    outfile: path.join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    inject: [path.join(APP, 'shims/buffer.ts')],
    alias: {
      'node:os': path.join(APP, 'shims/os.ts'),
      'node:util': path.join(APP, 'shims/util.ts'),
    },
  });
  await copyFile(path.join(APP, 'index.html'), path.join(outDir, 'index.html'));
  await copyFile(path.join(APP, 'app.css'), path.join(outDir, 'app.css'));
}
