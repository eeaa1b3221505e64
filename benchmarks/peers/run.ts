/**
 * consul-recipes next to the peers a user would pick instead, on loopback, same shapes, same run:
 * etcd3 (npm `etcd3`) against etcd, and redis-semaphore (npm `redis-semaphore` + `ioredis`)
 * against Redis. The servers are started and stopped here; a missing one is skipped with the
 * `apt-get install` line that provides it (Debian packages `etcd-server`, `redis-server`).
 *
 *   npm run bench:peers            # full sizes
 *   npm run bench:peers -- --smoke # tiny sizes
 *
 * The peers' client libraries live in benchmarks/peers/package.json (own lockfile), never in the
 * library's dependencies; they are installed here (`npm ci`) when missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machine } from '../lib/results.js';

const { values: args } = parseArgs({ options: { smoke: { type: 'boolean', default: false } } });
const here = fileURLToPath(new URL('.', import.meta.url));
if (!existsSync(`${here}node_modules/etcd3`) || !existsSync(`${here}node_modules/redis-semaphore`)) {
  process.stdout.write('installing the peers\' client libraries (npm ci --prefix benchmarks/peers) …\n');
  execFileSync('npm', ['ci', '--prefix', here, '--no-audit', '--no-fund'], { stdio: 'inherit' });
}
const m = machine();
process.stdout.write(`peer benchmarks (${args.smoke ? 'smoke' : 'full'}): node ${m.node}, ${m.cpus} × ${m.cpuModel}, load ${m.loadavg.join(' ')}\n`);
const { runPeers } = await import('./suite.js');
await runPeers({ smoke: args.smoke }, m);
