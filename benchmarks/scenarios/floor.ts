/**
 * The floor. One keep-alive client, interleaved rounds (each round runs the three requests in a
 * fresh random order): a PUT to a bare node:http server (the raw HTTP round trip), a KV PUT and
 * a KV GET to the dev server. Meanwhile blocking queries and config watchers stay parked on the
 * dev server, as they are in a real deployment, so a write also pays for waking nobody.
 */
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Coordinator } from '../../src/index.js';
import { RawClient } from '../lib/http.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer } from '../lib/server.js';
import { summarize } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

const VALUE = JSON.stringify({ holder: 'worker-1' });

export const floor: Scenario = {
  name: 'floor',
  description: 'raw HTTP round trip vs dev-server KV PUT / GET, interleaved, with parked blocking queries',
  async run(profile: Profile): Promise<Row[]> {
    const rounds = size(profile, 6000, 300);
    const warmup = size(profile, 1000, 50);
    const parkedQueries = size(profile, 100, 10);
    const parkedWatchers = size(profile, 10, 2);
    const server = await BenchServer.start();
    const parkAgent = new http.Agent({ keepAlive: true });
    const coord = new Coordinator({ address: server.url });
    const raw = new RawClient(server.floorUrl);
    const dev = new RawClient(server.url);
    const parked: Promise<unknown>[] = [];
    const abort = new AbortController();
    setMaxListeners(0, abort.signal);
    try {
      // Park blocking queries on keys nobody writes, and config watchers on another prefix.
      for (let i = 0; i < parkedQueries; i++) {
        const req = http.request(`${server.url}/v1/kv/parked/${i}?index=1000000&wait=10m`, { agent: parkAgent, signal: abort.signal });
        req.on('error', () => undefined);
        req.end();
        parked.push(new Promise((r) => req.on('close', r)));
      }
      const watchers = Array.from({ length: parkedWatchers }, (_, i) => coord.configWatcher(`parked-config/${i}/`));
      await Promise.all(watchers.map((w) => w.ready()));

      const samples = { floor: [] as number[], put: [] as number[], get: [] as number[] };
      const ops: Record<keyof typeof samples, () => Promise<unknown>> = {
        floor: () => raw.request('PUT', '/v1/kv/bench/floor', VALUE),
        put: () => dev.request('PUT', '/v1/kv/bench/floor', VALUE),
        get: () => dev.request('GET', '/v1/kv/bench/floor'),
      };
      const names = Object.keys(ops) as (keyof typeof samples)[];
      const check = await dev.request('PUT', '/v1/kv/bench/floor', VALUE);
      if (check.status !== 200 || check.body !== 'true') throw new Error(`dev-server PUT answered ${check.status} ${check.body}`);
      log(`  floor: ${warmup} warm-up + ${rounds} interleaved rounds, ${parkedQueries} parked blocking queries, ${parkedWatchers} config watchers`);
      await server.requests(true);
      for (let round = 0; round < warmup + rounds; round++) {
        const order = [...names].sort(() => Math.random() - 0.5);
        for (const name of order) {
          const t0 = performance.now();
          await ops[name]();
          const dt = performance.now() - t0;
          if (round >= warmup) samples[name].push(dt);
        }
      }
      const requests = await server.requests(true);
      const devRequests = requests.total / ((warmup + rounds) * 2);
      const f = summarize(samples.floor);
      const p = summarize(samples.put);
      const g = summarize(samples.get);
      const perSecond = (s: { mean: number }): number => 1000 / s.mean;
      const rows: Row[] = [
        { scenario: 'floor', case: 'raw node:http PUT', metric: 'round trip ms', stats: f, opsPerSecond: perSecond(f), note: '1.00× floor' },
        { scenario: 'floor', case: 'dev server KV PUT', metric: 'round trip ms', stats: p, opsPerSecond: perSecond(p), requestsPerOp: devRequests, note: `${(p.p50 / f.p50).toFixed(2)}× floor (p50)` },
        { scenario: 'floor', case: 'dev server KV GET', metric: 'round trip ms', stats: g, opsPerSecond: perSecond(g), requestsPerOp: devRequests, note: `${(g.p50 / f.p50).toFixed(2)}× floor (p50)` },
      ];
      writeResult('floor', {
        rows,
        parkedQueries,
        parkedWatchers,
        ratios: { putP50: p.p50 / f.p50, getP50: g.p50 / f.p50, putP90: p.p90 / f.p90, getP90: g.p90 / f.p90 },
      });
      return rows;
    } finally {
      abort.abort();
      await Promise.allSettled(parked);
      await coord.close();
      for (const c of [raw, dev]) c.close();
      parkAgent.destroy();
      await server.close();
    }
  },
};
