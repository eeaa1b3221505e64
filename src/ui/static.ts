/**
 * Serves the built UI (`dist/ui/`): `/ui/app.js`, `/ui/app.css`, and `index.html` for every other
 * path under `/ui/` (the pages route in the browser, with Consul's URL layout
 * `/ui/<dc>/services`, …). `/` and `/ui` redirect to `/ui/` with a 301, as Consul's agent does
 * (agent/http.go `Index` redirects `/` to `ui_config.content_path`; Go's ServeMux adds the slash).
 *
 * Used by the dev server and by `consul-recipes ui`. The folder is found next to the running
 * bundle (`dist/testing/…`, `dist/cli/…`) or, when the sources run directly (tests), in the
 * repository's `dist/ui/`.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ASSETS: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'index.html': 'text/html; charset=utf-8',
};

/** The folder holding the built UI, or undefined when it has not been built. */
export function findUiDir(start = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    for (const candidate of [path.join(dir, 'ui'), path.join(dir, 'dist', 'ui')]) {
      if (existsSync(path.join(candidate, 'index.html')) && existsSync(path.join(candidate, 'app.js'))) return candidate;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

export interface UiHandlerOptions {
  /** Where the built files are. @default findUiDir() at the first request */
  dir?: string;
}

/**
 * A request handler for the UI's paths. Returns false (and writes nothing) for any other path, so
 * the caller handles it (the Consul API, a proxy).
 */
export function createUiHandler(options: UiHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const cache = new Map<string, Buffer>();
  let dir = options.dir;
  const read = (name: string): Buffer | undefined => {
    dir ??= findUiDir();
    if (dir === undefined) return undefined;
    let body = cache.get(name);
    if (body === undefined) {
      body = readFileSync(path.join(dir, name));
      cache.set(name, body);
    }
    return body;
  };
  return (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (pathname === '/' || pathname === '/ui') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      res.writeHead(301, { Location: '/ui/', 'Content-Length': '0' });
      res.end();
      return true;
    }
    if (!pathname.startsWith('/ui/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    const rest = pathname.slice('/ui/'.length);
    const name = Object.hasOwn(ASSETS, rest) && rest !== 'index.html' ? rest : 'index.html';
    const body = read(name);
    if (body === undefined) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('The UI is not built: run `npm run build` (it writes dist/ui/).\n');
      return true;
    }
    res.writeHead(200, {
      'Content-Type': ASSETS[name] ?? 'application/octet-stream',
      'Content-Length': String(body.length),
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      // The page loads only its own script and style and talks only to its own origin.
      'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
      'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
