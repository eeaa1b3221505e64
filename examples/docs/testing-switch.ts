/**
 * recipes-docs/testing.md, "The CONSUL_HTTP_ADDR switch": the same code runs against a real agent
 * when CONSUL_HTTP_ADDR is set and against the embedded dev server otherwise. The docs test runs
 * this file both ways.
 *
 *   npx tsx examples/docs/testing-switch.ts                                 # dev server
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npx tsx examples/docs/testing-switch.ts # that agent
 */
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/index.js';
import { startDevServer } from '../../src/testing/index.js';

// A real agent when CONSUL_HTTP_ADDR is set, the embedded dev server otherwise.
const server = process.env.CONSUL_HTTP_ADDR ? undefined : await startDevServer({ port: 0 });
const coord = server ? new Coordinator({ address: server.url }) : Coordinator.fromEnv();

const key = `locks/switch-${process.pid}`; // unique per run: real agents are shared
const handle = await coord.lock(key).acquire();
console.log(server ? 'dev server' : coord.address, 'fencing token', handle.fencingToken);
await handle.release();
await coord.api.kv.delete(key);             // leave a shared agent as we found it

await coord.close();
await server?.close();
assert.ok(handle.fencingToken > 0);
