/**
 * Discovery: a registered service instance (TTL check, heartbeated by its registration) turns
 * critical (`setHealth('critical')`); M `passingOnly` service watchers, each its own Coordinator,
 * must drop it. Sample: setHealth() called → the last watcher's list no longer has it. Then it
 * turns passing again and the same is measured for its return.
 */
import { performance } from 'node:perf_hooks';
import { Coordinator, type ServiceWatcher } from '../../src/index.js';
import { topRoutes, unique, within } from '../lib/measure.js';
import { writeResult } from '../lib/results.js';
import { log, size, type Profile, type Scenario } from '../lib/scenario.js';
import { BenchServer, counted } from '../lib/server.js';
import { summarize } from '../lib/stats.js';
import type { Row } from '../lib/table.js';

/** Resolves with the time each watcher's list first satisfied `ok`. */
function whenAll(watchers: ServiceWatcher[], ok: (w: ServiceWatcher) => boolean): Promise<number[]> {
  return Promise.all(
    watchers.map(
      (w) =>
        new Promise<number>((resolve) => {
          if (ok(w)) return resolve(performance.now());
          const onChange = (): void => {
            if (!ok(w)) return;
            w.off('change', onChange);
            resolve(performance.now());
          };
          w.on('change', onChange);
        }),
    ),
  );
}

export const discovery: Scenario = {
  name: 'discovery',
  description: 'an instance turning critical until M passingOnly watchers drop it (and back)',
  async run(profile: Profile): Promise<Row[]> {
    const m = size(profile, 10, 3);
    const rounds = size(profile, 60, 3);
    const server = await BenchServer.start();
    const owner = new Coordinator({ address: server.url });
    const coords = Array.from({ length: m }, () => new Coordinator({ address: server.url }));
    const rows: Row[] = [];
    try {
      const name = unique('svc').replace(/\//g, '-');
      const reg = await owner.registerService({ name, id: `${name}-1`, port: 8080, check: { ttl: '10s' } });
      const watchers = coords.map((c) => c.serviceWatcher(name, { passingOnly: true }));
      await Promise.all(watchers.map((w) => w.ready()));
      const has = (w: ServiceWatcher): boolean => w.list().length > 0;
      await within(whenAll(watchers, has), 30_000, 'every watcher seeing the passing instance');
      log(`  ${m} passingOnly watchers: ${rounds} rounds of critical → passing`);
      const dropped: number[] = [];
      const back: number[] = [];
      const { requests } = await counted(server, async () => {
        for (let i = 0; i < rounds; i++) {
          const gone = whenAll(watchers, (w) => !has(w));
          let t0 = performance.now();
          await reg.setHealth('critical', 'benchmark');
          dropped.push(Math.max(...(await within(gone, 30_000, 'watchers dropping the critical instance'))) - t0);
          const returned = whenAll(watchers, has);
          t0 = performance.now();
          await reg.setHealth('passing');
          back.push(Math.max(...(await within(returned, 30_000, 'watchers seeing the instance again'))) - t0);
        }
      });
      const ops = rounds * 2;
      rows.push({ scenario: 'discovery', case: `critical → dropped by ${m} watchers`, metric: 'setHealth→all ms', stats: summarize(dropped), requestsPerOp: requests.total / ops });
      rows.push({ scenario: 'discovery', case: `passing → back in ${m} watchers`, metric: 'setHealth→all ms', stats: summarize(back), requestsPerOp: requests.total / ops });
      writeResult('discovery', { rows, watchers: m, requestsPerHealthChangeByRoute: topRoutes(requests, ops) });
      return rows;
    } finally {
      await Promise.all(coords.map((c) => c.close()));
      await owner.close();
      await server.close();
    }
  },
};
