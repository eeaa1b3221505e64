/** The one table every scenario prints: latency percentiles, throughput and Consul requests per operation. */
import type { Summary } from './stats.js';

export interface Row {
  scenario: string;
  case: string;
  /** What one sample measures, e.g. "cycle ms". */
  metric: string;
  stats: Summary;
  opsPerSecond?: number;
  requestsPerOp?: number;
  note?: string;
}

const num = (n: number | undefined, digits = 2): string => {
  if (n === undefined || !Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1000) return n.toFixed(0);
  if (Math.abs(n) >= 100) return n.toFixed(1);
  return n.toFixed(digits);
};

export function formatTable(rows: readonly Row[], markdown = false): string {
  const header = ['scenario', 'case', 'metric', 'n', 'p50', 'p90', 'p99', 'max', 'ops/s', 'req/op', 'note'];
  const body = rows.map((r) => [
    r.scenario,
    r.case,
    r.metric,
    String(r.stats.n),
    num(r.stats.p50, 3),
    num(r.stats.p90, 3),
    num(r.stats.p99, 3),
    num(r.stats.max, 3),
    num(r.opsPerSecond, 1),
    num(r.requestsPerOp, 2),
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const left = (i: number): boolean => i < 3 || i === header.length - 1;
  const cell = (c: string, i: number): string => (left(i) ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number));
  if (markdown) {
    const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
    const rule = `|${widths.map((w, i) => (left(i) ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
    return [line(header), rule, ...body.map(line)].join('\n');
  }
  const line = (cells: string[]): string => cells.map(cell).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function printRows(rows: readonly Row[]): void {
  process.stdout.write(`${formatTable(rows)}\n`);
}
