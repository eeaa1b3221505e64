/** JSON results under benchmarks/results/, each stamped with the machine and the command. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Row } from './table.js';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export interface Machine {
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  /** 1, 5 and 15 minute load averages when the run started: the machine is shared. */
  loadavg: number[];
  command: string;
}

/** `npm run bench -- …` when run through npm, else the node command line. */
function command(): string {
  const script = process.env.npm_lifecycle_event;
  const extra = process.argv.slice(2).join(' ');
  if (script) return `npm run ${script}${extra ? ` -- ${extra}` : ''}`;
  return `node ${process.argv.slice(1).join(' ')}`;
}

export function machine(): Machine {
  const c = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    command: command(),
  };
}

/**
 * Writes `results/<name>.json` and returns its path. `started`: the machine as the run began
 * (its load average then); the load average at the end is recorded beside it.
 */
export function writeResult(name: string, data: { rows: readonly Row[] } & Record<string, unknown>, started: Machine = machine()): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}.json`;
  const loadavgAtEnd = loadavg().map((l) => Math.round(l * 100) / 100);
  writeFileSync(file, `${JSON.stringify({ machine: started, loadavgAtEnd, ...data }, null, 2)}\n`);
  return file;
}
