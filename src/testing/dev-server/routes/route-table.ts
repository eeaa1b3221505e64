/**
 * One declaration per family of endpoints: the prefix is written once, then each method maps the
 * paths below it to their handlers. A path ending in `/` is a subtree (the rest of the path is the
 * handler's argument), as with Go's ServeMux patterns that Consul registers.
 */
import type { Handler, Router } from '../http/router.js';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** Method → (path below the prefix → handler). */
export type RouteTable = { readonly [M in HttpMethod]?: Readonly<Record<string, Handler>> };

/**
 * Registers every route of `table` under `prefix`. A path listed under several methods must name
 * the same handler there: the router keeps one handler per pattern, with its allowed methods.
 */
export function addRoutes(router: Router, prefix: string, table: RouteTable): void {
  const routes = new Map<string, { methods: HttpMethod[]; handler: Handler }>();
  for (const [method, paths] of Object.entries(table) as [HttpMethod, Record<string, Handler>][]) {
    for (const [path, handler] of Object.entries(paths)) {
      const route = routes.get(path);
      if (route === undefined) routes.set(path, { methods: [method], handler });
      else if (route.handler === handler) route.methods.push(method);
      else throw new TypeError(`route ${prefix}${path}: one handler serves every method of a path`);
    }
  }
  for (const [path, { methods, handler }] of routes) router.add(prefix + path, methods, handler);
}
