/**
 * Config change propagation: M watchers (each its own Coordinator: its own connection, as M
 * processes would have) follow one prefix; a writer changes one key. Samples: from the write
 * being sent to the last watcher's `change` with the new value (all M have it), and to each
 * watcher's own delivery. Requests per change: every request the server saw (the write + the M
 * blocking reads that return, plus whatever else ran) divided by changes.
 */
import { performance } from 'node:perf_hooks';
import { Coordinator, type ConfigWatcher } from '../../src/index.js';
import { RawClient } from '../lib/http.js';
import { topRoutes, unique, within } from '../lib/measure.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer, counted } from '../lib/server.js';
import { summarize } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

export const config: Scenario = {
  name: 'config',
  description: 'one key change reaching M = 1, 10, 100 config watchers',
  async run(profile: Profile): Promise<Row[]> {
    const plan = size(
      profile,
      [
        { m: 1, changes: 200 },
        { m: 10, changes: 150 },
        { m: 100, changes: 60 },
      ],
      [
        { m: 1, changes: 5 },
        { m: 10, changes: 5 },
      ],
    );
    const rows: Row[] = [];
    const details: Record<string, unknown> = {};
    for (const { m, changes } of plan) {
      const server = await BenchServer.start();
      const writer = new RawClient(server.url);
      const coords = Array.from({ length: m }, () => new Coordinator({ address: server.url }));
      try {
        const prefix = `${unique('config')}/`;
        await writer.request('PUT', `/v1/kv/${prefix}setting`, '0');
        const watchers: ConfigWatcher<string>[] = coords.map((c) => c.configWatcher<string>(prefix, { decode: 'string' }));
        await Promise.all(watchers.map((w) => w.ready()));
        log(`  M = ${m}: ${changes} changes`);
        const toAll: number[] = [];
        const each: number[] = [];
        const started = performance.now();
        const { requests } = await counted(server, async () => {
          for (let i = 1; i <= changes; i++) {
            const value = String(i);
            const delivered = watchers.map(
              (w) =>
                new Promise<number>((resolve) => {
                  const onChange = (): void => {
                    if (w.get('setting') !== value) return;
                    w.off('change', onChange);
                    resolve(performance.now());
                  };
                  w.on('change', onChange);
                }),
            );
            const t0 = performance.now();
            await writer.request('PUT', `/v1/kv/${prefix}setting`, value);
            const times = await within(Promise.all(delivered), 30_000, `change ${i} reaching ${m} watchers`);
            for (const t of times) each.push(t - t0);
            toAll.push(Math.max(...times) - t0);
          }
        });
        const elapsed = performance.now() - started;
        rows.push({
          scenario: 'config',
          case: `M = ${m}, all watchers`,
          metric: 'write→all ms',
          stats: summarize(toAll),
          opsPerSecond: (changes / elapsed) * 1000,
          requestsPerOp: requests.total / changes,
        });
        rows.push({ scenario: 'config', case: `M = ${m}, each watcher`, metric: 'write→change ms', stats: summarize(each) });
        details[`M=${m}`] = { requestsPerChangeByRoute: topRoutes(requests, changes) };
      } finally {
        await Promise.all(coords.map((c) => c.close()));
        writer.close();
        await server.close();
      }
    }
    writeResult('config', { rows, details });
    return rows;
  },
};
