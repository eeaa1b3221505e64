/**
 * Helpers for the agent-service, catalog/health and event conformance files: run-unique names,
 * service registration with cleanup after each test, and typed reads of the agent, catalog and
 * health endpoints. Works against the dev server and a real agent alike.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterEach, expect } from 'vitest';
import type { ConformanceContext } from '../../support/conformance.js';
import type { ConsulFetchOptions, ConsulResponse } from '../../support/target.js';
import type { HealthCheck } from '../../../src/transport/index.js';

export interface AgentServiceJson {
  ID: string;
  Service: string;
  Tags: string[];
  Meta: Record<string, string>;
  Port: number;
  Address: string;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  ContentHash?: string;
  TaggedAddresses?: Record<string, { Address: string; Port: number }>;
}

export interface HealthCheckJson extends HealthCheck {
  CreateIndex: number;
  ModifyIndex: number;
}

export interface HealthEntryJson {
  Node: { Node: string; Address: string };
  Service: { ID: string; Service: string; Tags: string[]; Port?: number; Address: string; Meta: Record<string, string> | null };
  Checks: HealthCheckJson[];
}

export interface CatalogServiceJson {
  Node: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  ServicePort: number;
  ServiceAddress: string;
}

let counter = 0;

/** A name unique to this process run and call, usable as a service, check or event name. */
export function uniqueName(label: string): string {
  counter += 1;
  return `${label}-${process.pid.toString(36)}${Date.now().toString(36).slice(-5)}-${counter}`;
}

export function serviceHelpers(ctx: ConformanceContext) {
  let services: string[] = [];
  let nodeMaintenance = false;
  afterEach(async () => {
    const ids = services;
    services = [];
    for (const id of ids) await ctx.req('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`);
    if (nodeMaintenance) {
      nodeMaintenance = false;
      await ctx.req('PUT', '/v1/agent/maintenance?enable=false');
    }
  });
  const getJson = async <T>(path: string, options?: ConsulFetchOptions): Promise<{ res: ConsulResponse; body: T }> => {
    const res = await ctx.req('GET', path, options);
    expect(res.status, `${path}: ${res.text}`).toBe(200);
    return { res, body: res.json<T>() };
  };
  return {
    /** Registers a service (asserting 200) and deregisters it after the test. */
    async register(body: Record<string, unknown>, query = ''): Promise<string> {
      const res = await ctx.req('PUT', `/v1/agent/service/register${query}`, { body });
      expect(res.status, res.text).toBe(200);
      const id = (body.ID ?? body.Name) as string;
      if (!services.includes(id)) services.push(id);
      return id;
    },
    /** Deregister `id` after the test (for services registered with a raw request). */
    track(id: string): void {
      if (!services.includes(id)) services.push(id);
    },
    forget(id: string): void {
      services = services.filter((s) => s !== id);
    },
    /** Node maintenance is disabled after the test. */
    trackNodeMaintenance(): void {
      nodeMaintenance = true;
    },
    async agentServices(): Promise<Record<string, AgentServiceJson>> {
      return (await getJson<Record<string, AgentServiceJson>>('/v1/agent/services')).body;
    },
    async agentChecks(): Promise<Record<string, HealthCheckJson>> {
      return (await getJson<Record<string, HealthCheckJson>>('/v1/agent/checks')).body;
    },
    async health(name: string, query = ''): Promise<{ res: ConsulResponse; entries: HealthEntryJson[] }> {
      const { res, body } = await getJson<HealthEntryJson[]>(`/v1/health/service/${encodeURIComponent(name)}${query}`);
      return { res, entries: body };
    },
    async catalog(name: string, query = ''): Promise<{ res: ConsulResponse; rows: CatalogServiceJson[] }> {
      const { res, body } = await getJson<CatalogServiceJson[]>(`/v1/catalog/service/${encodeURIComponent(name)}${query}`);
      return { res, rows: body };
    },
    /** A catalog check of this node by ID, or undefined. */
    async catalogCheck(checkId: string): Promise<HealthCheckJson | undefined> {
      const { body } = await getJson<HealthCheckJson[]>(`/v1/health/node/${encodeURIComponent(ctx.target.nodeName)}`);
      return body.find((c) => c.CheckID === checkId);
    },
  };
}

/** A loopback HTTP server answering with a status the test can change. */
export async function statusServer(initial = 200): Promise<{ url: string; status: number; hits: number; close(): Promise<void> }> {
  const state = { status: initial, hits: 0 };
  const server = http.createServer((req, res) => {
    state.hits += 1;
    req.resume();
    res.writeHead(state.status, { 'Content-Type': 'text/plain' });
    res.end(`status ${state.status}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/health`,
    get status() {
      return state.status;
    },
    set status(v: number) {
      state.status = v;
    },
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback TCP listener (accepts and closes) and a port with nothing listening. */
export async function tcpListener(): Promise<{ address: string; close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export async function closedPort(): Promise<string> {
  const l = await tcpListener();
  await l.close();
  return l.address;
}
