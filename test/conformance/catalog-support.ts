/**
 * Helpers for the catalog-register, filter and agent-endpoint conformance files: external nodes
 * registered through `/v1/catalog/register` with a run-unique name, removed after each test.
 */
import { afterEach, expect } from 'vitest';
import type { ConformanceContext } from '../support/conformance.js';
import { uniqueName } from '../testing/dev-server/service-helpers.js';

export interface NodeJson {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string> | null;
  Meta: Record<string, string> | null;
}

export function externalNodes(ctx: ConformanceContext) {
  let nodes: string[] = [];
  afterEach(async () => {
    const mine = nodes;
    nodes = [];
    for (const node of mine) await ctx.req('PUT', '/v1/catalog/deregister', { body: { Node: node } });
  });
  return {
    /** A fresh node name, deregistered after the test. */
    name(label = 'ext'): string {
      const node = uniqueName(label);
      nodes.push(node);
      return node;
    },
    /** PUT /v1/catalog/register, asserting `true`. */
    async register(body: Record<string, unknown>): Promise<void> {
      if (typeof body.Node === 'string' && !nodes.includes(body.Node)) nodes.push(body.Node);
      const res = await ctx.req('PUT', '/v1/catalog/register', { body });
      expect(res.status, res.text).toBe(200);
      expect(JSON.parse(res.text)).toBe(true);
    },
  };
}

/** A GET that must answer 200; returns the parsed body. */
export function getJson(ctx: ConformanceContext) {
  return async <T>(path: string): Promise<T> => {
    const res = await ctx.req('GET', path);
    expect(res.status, `${path}: ${res.text}`).toBe(200);
    return res.json<T>();
  };
}

/** `?filter=<expr>` encoded for a URL. */
export function filterQuery(expression: string, join: '?' | '&' = '?'): string {
  return `${join}filter=${encodeURIComponent(expression)}`;
}
