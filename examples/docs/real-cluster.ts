/**
 * recipes-docs/real-cluster.md: connection options for a real cluster (address, token, TLS CA,
 * datacenter, timeouts, retries, a logger), then a check that the agent answers.
 *
 *   CONSUL_HTTP_ADDR=https://consul.internal:8501 CONSUL_HTTP_TOKEN=… CONSUL_CACERT=ca.pem \
 *     npx tsx examples/docs/real-cluster.ts
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Coordinator } from '../../src/index.js';

// --- From the environment, as the consul CLI reads it -------------------------------------------
const fromEnv = Coordinator.fromEnv(); // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT, CONSUL_HTTP_SSL
console.log('agent at', fromEnv.address);   // never includes the token
await fromEnv.close();

// --- The same, spelled out ----------------------------------------------------------------------
const { CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT } = process.env;
const coord = new Coordinator({
  address: CONSUL_HTTP_ADDR ?? '127.0.0.1:8500',     // host:port, http://… or https://…
  token: CONSUL_HTTP_TOKEN,                          // sent as X-Consul-Token, never logged
  ca: CONSUL_CACERT ? readFileSync(CONSUL_CACERT) : undefined, // PEM contents, not a path
  datacenter: process.env.CONSUL_DATACENTER,         // ?dc= on every request; default: the agent's
  timeout: '10s',                                    // per non-blocking request
  retry: { retries: 4, minTimeout: '100ms', maxTimeout: '2s' }, // transient failures only
  logger: { debug() {}, info: console.info, warn: console.warn, error: console.error }, // pino works too
});
const leader = await coord.api.agent.leader();       // GET /v1/status/leader
console.log('raft leader', leader);
assert.ok(leader);
await coord.close();
