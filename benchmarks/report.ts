/**
 * Prints the markdown tables of benchmarks/RESULTS.md from the JSON of one full run
 * (`results/summary.json` from `npm run bench`, `results/peers.json` from `npm run bench:peers`):
 * every row with its ratio to the floor measured in the same run (p50 ÷ the raw node:http PUT
 * p50) and its requests per operation.
 *
 *   npx tsx benchmarks/report.ts [results-dir]
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Machine } from './lib/results.js';
import type { Row } from './lib/table.js';

const dir = process.argv[2] ?? new URL('./results/', import.meta.url).pathname;

interface RunFile {
  machine: Machine;
  loadavgAtEnd?: number[];
  rows: Row[];
}

const num = (n: number | undefined, digits = 2): string => {
  if (n === undefined || !Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1000) return n.toFixed(0);
  if (Math.abs(n) >= 100) return n.toFixed(1);
  return n.toFixed(digits);
};

function table(run: RunFile, title: string): string {
  const floor = run.rows.find((r) => r.case === 'raw node:http PUT');
  const floorP50 = floor?.stats.p50;
  const m = run.machine;
  const head = [
    `### ${title}`,
    '',
    `\`${m.command}\` — started ${m.date}, node ${m.node}, ${m.platform}, ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB; load average (1/5/15 min) ${m.loadavg.join(' / ')} at the start${run.loadavgAtEnd ? `, ${run.loadavgAtEnd.join(' / ')} at the end` : ''}.`,
    floorP50 === undefined ? '' : `Floor (raw node:http keep-alive PUT round trip, p50): **${num(floorP50, 3)} ms**.`,
    '',
    '| scenario | case | metric | n | p50 | p90 | p99 | max | p50 ÷ floor | ops/s | requests/op | note |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  const body = run.rows.map((r) => {
    const ms = r.metric.includes('ms');
    const x = floorP50 ? r.stats.p50 / floorP50 : NaN;
    // Failover is bounded by TTLs, not round trips: no ratio.
    const timed = ms && !/crash|kill/.test(`${r.case} ${r.metric}`);
    const ratio = timed && Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x.toFixed(0)}×` : '';
    return `| ${r.scenario} | ${r.case} | ${r.metric} | ${r.stats.n} | ${num(r.stats.p50, 3)} | ${num(r.stats.p90, 3)} | ${num(r.stats.p99, 3)} | ${num(r.stats.max, 3)} | ${ratio} | ${num(r.opsPerSecond, 1)} | ${num(r.requestsPerOp, 2)} | ${r.note ?? ''} |`;
  });
  return [...head, ...body].join('\n');
}

const out: string[] = [];
for (const [file, title] of [
  ['summary.json', 'The suite (`npm run bench`)'],
  ['peers.json', 'Side by side with the peers (`npm run bench:peers`)'],
] as const) {
  const path = `${dir}/${file}`;
  if (!existsSync(path)) continue;
  out.push(table(JSON.parse(readFileSync(path, 'utf8')) as RunFile, title));
}
process.stdout.write(`${out.join('\n\n')}\n`);
