import { describe, expect, it } from 'vitest';
import type { Reply } from '../../../src/testing/dev-server/http/context.js';
import { Router } from '../../../src/testing/dev-server/http/router.js';
import { addRoutes } from '../../../src/testing/dev-server/routes/route-table.js';

const reply = {} as Reply;
const a = (): Reply => reply;
const b = (): Reply => reply;

function routeOf(router: Router, path: string): { pattern: string; methods: readonly string[] } | undefined {
  const m = router.match(path);
  return m && 'route' in m ? { pattern: m.route.pattern, methods: m.route.methods } : undefined;
}

describe('addRoutes', () => {
  it('registers each path below the prefix with its method; a trailing slash makes a subtree', () => {
    const router = new Router();
    addRoutes(router, '/v1/x/', { GET: { list: a, 'item/': b }, PUT: { create: a } });
    expect(routeOf(router, '/v1/x/list')).toEqual({ pattern: '/v1/x/list', methods: ['GET'] });
    expect(routeOf(router, '/v1/x/item/42')).toEqual({ pattern: '/v1/x/item/', methods: ['GET'] });
    expect(routeOf(router, '/v1/x/create')).toEqual({ pattern: '/v1/x/create', methods: ['PUT'] });
    expect(routeOf(router, '/v1/x/list/more')).toBeUndefined();
  });

  it('gives a path listed under several methods one route allowing all of them', () => {
    const router = new Router();
    addRoutes(router, '/v1/y/', { GET: { conf: a }, PUT: { conf: a } });
    expect(routeOf(router, '/v1/y/conf')).toEqual({ pattern: '/v1/y/conf', methods: ['GET', 'PUT'] });
  });

  it('refuses two handlers for one path, which the router could not keep apart', () => {
    expect(() => addRoutes(new Router(), '/v1/z/', { GET: { conf: a }, PUT: { conf: b } })).toThrow(/one handler serves every method/);
  });
});
