/**
 * The benchmark suite.
 *
 *   npm run bench                      # every scenario, full sizes (several minutes)
 *   npm run bench:smoke                # every scenario, tiny sizes (seconds): the scripts still run
 *   npm run bench -- --only floor,lock-cycle
 *
 * Every scenario runs the dev server in a child process (client and server never share an event
 * loop), prints p50/p90/p99/max, ops/s and Consul requests per operation, and writes
 * `benchmarks/results/<scenario>.json`; the whole run's table goes to `results/summary.json`
 * and `results/summary.md`.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { machine, RESULTS_DIR, writeResult } from './lib/results.js';
import type { Profile, Scenario } from './lib/scenario.js';
import { formatTable, printRows, type Row } from './lib/table.js';
import { scenarios } from './scenarios/index.js';

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    list: { type: 'boolean', default: false },
  },
});

if (args.list) {
  for (const s of scenarios) process.stdout.write(`${s.name.padEnd(14)} ${s.description}\n`);
  process.exit(0);
}

const only = args.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((n) => !scenarios.some((s) => s.name === n)) ?? [];
if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')} (see --list)`);
const selected: Scenario[] = scenarios.filter((s) => !only || only.includes(s.name));
const profile: Profile = { smoke: args.smoke };

const m = machine();
process.stdout.write(
  `consul-recipes benchmarks (${profile.smoke ? 'smoke' : 'full'}): node ${m.node}, ${m.cpus} × ${m.cpuModel}, load ${m.loadavg.join(' ')}\n`,
);
const all: Row[] = [];
const started = Date.now();
for (const scenario of selected) {
  process.stdout.write(`\n== ${scenario.name}: ${scenario.description}\n`);
  const rows = await scenario.run(profile);
  printRows(rows);
  all.push(...rows);
}
const seconds = (Date.now() - started) / 1000;
process.stdout.write(`\n== all scenarios (${seconds.toFixed(0)} s)\n${formatTable(all)}\n`);
if (!only) {
  writeResult('summary', { profile, seconds, rows: all }, m);
  writeFileSync(`${RESULTS_DIR}summary.md`, `${formatTable(all, true)}\n`);
}
process.stdout.write(`results in ${RESULTS_DIR}\n`);
