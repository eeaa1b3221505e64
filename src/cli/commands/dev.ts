/**
 * `consul-recipes dev`: runs the in-memory Consul dev server in the foreground until SIGINT or
 * SIGTERM, then closes it cleanly (held blocking queries are dropped, timers cleared).
 */
import { parseArgs } from 'node:util';
import { startDevCluster, startDevServer } from '../../testing/dev-server/index.js';
import type { CommandIo } from '../args.js';
import { exitCodesHelp } from '../exit-codes.js';
import { untilStopSignal } from '../stop-signal.js';

export const DEV_USAGE = `Usage: consul-recipes dev [options]

Runs an in-memory Consul dev server (HTTP API on loopback) in the foreground.

Options:
  --port <n>               TCP port (default 8500; 0 picks a free port)
  --host <addr>            address to bind (default 127.0.0.1)
  --node-name <name>       agent node name (default dev)
  --datacenter <dc>        datacenter name (default dc1)
  --node-meta <k=v>        node metadata pair (repeatable; Consul's key:value also accepted)
  --session-ttl-min <dur>  smallest accepted session TTL (default 10s)
  --acl-token <token>      enable ACLs (default deny) with this management token
  --pretty                 indent JSON replies, as consul agent -dev does
  --nodes <n>              run a dev cluster of n agents sharing one datacenter (default 1);
                           agent i listens on --port + i (all free ports with --port 0)
  --datacenters <list>     a dev cluster across datacenters, each with its node count:
                           dc1=3,dc2=1 (nodes are <dc>-node-<i>; ports as for --nodes)
  --dns-port <n>           DNS interface, UDP and TCP (default 8600, or 0 with --port 0;
                           -1 disables it); agent i of a cluster uses --dns-port + i
  --enable-script-checks   run script (Args) checks registered over the API
  --no-ui                  do not serve the web UI at /ui/
  -h, --help               show this help

Stops cleanly on SIGINT or SIGTERM (exit 0).

${exitCodesHelp(false)}`;

export type { CommandIo } from '../args.js';

/** Runs the command; resolves with the process exit code once the server has stopped. */
export async function runDev(argv: readonly string[], io: CommandIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'node-name': { type: 'string' },
        datacenter: { type: 'string' },
        'node-meta': { type: 'string', multiple: true },
        'session-ttl-min': { type: 'string' },
        'acl-token': { type: 'string' },
        pretty: { type: 'boolean' },
        nodes: { type: 'string' },
        datacenters: { type: 'string' },
        'dns-port': { type: 'string' },
        'enable-script-checks': { type: 'boolean' },
        'no-ui': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`consul-recipes dev: ${(err as Error).message}`);
    io.err(DEV_USAGE);
    return 2;
  }
  if (values.help) {
    io.out(DEV_USAGE);
    return 0;
  }
  const port = values.port === undefined ? 8500 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.err(`consul-recipes dev: --port must be an integer between 0 and 65535, got ${JSON.stringify(values.port)}`);
    return 2;
  }
  const nodes = values.nodes === undefined ? 1 : Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) {
    io.err(`consul-recipes dev: --nodes must be an integer between 1 and 64, got ${JSON.stringify(values.nodes)}`);
    return 2;
  }
  let datacenters: Record<string, number> | undefined;
  if (values.datacenters !== undefined) {
    datacenters = parseDatacenters(values.datacenters);
    if (!datacenters) {
      io.err(`consul-recipes dev: --datacenters must be a list of dc=nodes (e.g. dc1=3,dc2=1), got ${JSON.stringify(values.datacenters)}`);
      return 2;
    }
    if (values.nodes !== undefined || values.datacenter !== undefined || values['node-name'] !== undefined) {
      io.err('consul-recipes dev: --datacenters cannot be combined with --nodes, --datacenter or --node-name');
      return 2;
    }
  }
  const dnsPort = values['dns-port'] === undefined ? (port === 0 ? 0 : 8600) : Number(values['dns-port']);
  if (!Number.isInteger(dnsPort) || dnsPort < -1 || dnsPort > 65535) {
    io.err(`consul-recipes dev: --dns-port must be -1 or an integer between 0 and 65535, got ${JSON.stringify(values['dns-port'])}`);
    return 2;
  }
  const nodeMeta: Record<string, string> = {};
  for (const pair of values['node-meta'] ?? []) {
    const sep = pair.includes('=') ? pair.indexOf('=') : pair.indexOf(':');
    if (sep <= 0) {
      io.err(`consul-recipes dev: --node-meta must be key=value, got ${JSON.stringify(pair)}`);
      return 2;
    }
    nodeMeta[pair.slice(0, sep)] = pair.slice(sep + 1);
  }
  const common = {
    nodeMeta,
    host: values.host ?? '127.0.0.1',
    datacenter: values.datacenter ?? 'dc1',
    sessionTtlMin: values['session-ttl-min'] ?? '10s',
    aclToken: values['acl-token'],
    pretty: values.pretty ?? false,
    enableScriptChecks: values['enable-script-checks'] ?? false,
    ui: !values['no-ui'],
    ...(dnsPort >= 0 ? { dnsPort } : {}),
  };
  let servers: Array<{ node: string; url: string; dns: { host: string; port: number } | undefined }>;
  let close: () => Promise<void>;
  try {
    if (datacenters) {
      const total = Object.values(datacenters).reduce((a, b) => a + b, 0);
      const { datacenter: _dc, ...rest } = common;
      const cluster = await startDevCluster({
        ...rest,
        datacenters,
        ports: Array.from({ length: total }, (_, i) => (port === 0 ? 0 : port + i)),
      });
      servers = cluster.agents.map((a) => ({ node: `${a.node}, ${a.datacenter}`, url: a.url, dns: a.server.dns }));
      close = () => cluster.close();
    } else if (nodes === 1) {
      const server = await startDevServer({ ...common, port, nodeName: values['node-name'] ?? 'dev' });
      servers = [{ node: server.nodeName, url: server.url, dns: server.dns }];
      close = () => server.close();
    } else {
      const cluster = await startDevCluster({
        ...common,
        nodes,
        ports: Array.from({ length: nodes }, (_, i) => (port === 0 ? 0 : port + i)),
        ...(values['node-name'] !== undefined ? { nodeNames: Array.from({ length: nodes }, (_, i) => `${values['node-name']}-${i + 1}`) } : {}),
      });
      servers = cluster.agents.map((a) => ({ node: a.node, url: a.url, dns: a.server.dns }));
      close = () => cluster.close();
    }
  } catch (err) {
    io.err(`consul-recipes dev: ${(err as Error).message}`);
    return 1;
  }
  // Never print the token itself.
  const acl = values['acl-token'] !== undefined ? ' (ACLs enabled, default deny)' : '';
  // Handlers first: whoever reads the address may signal us at once.
  const stopped = untilStopSignal(io, 'dev');
  for (const s of servers) {
    const who = servers.length > 1 ? ` (node ${s.node})` : '';
    io.out(`consul-recipes dev server listening on ${s.url}${who}${acl}`);
    if (s.dns) io.out(`consul-recipes dev DNS interface on ${s.dns.host}:${s.dns.port} (UDP and TCP)${who}`);
    if (!values['no-ui']) io.out(`consul-recipes dev: UI at ${s.url}/ui/${who}`);
  }
  await stopped;
  await close();
  return 0;
}

/** `dc1=3,dc2=1` → `{ dc1: 3, dc2: 1 }`; undefined when malformed. */
export function parseDatacenters(text: string): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^([a-zA-Z0-9_-]+)=(\d+)$/.exec(part.trim());
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 64 || m[1]! in out) return undefined;
    out[m[1]!] = Number(m[2]);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
