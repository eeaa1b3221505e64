/**
 * `consul-recipes dev`: runs the in-memory Consul dev server in the foreground until SIGINT or
 * SIGTERM, then closes it cleanly (held blocking queries are dropped, timers cleared).
 */
import { parseArgs } from 'node:util';
import { startDevServer } from '../../testing/dev-server/index.js';
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
  --session-ttl-min <dur>  smallest accepted session TTL (default 10s)
  --acl-token <token>      enable ACLs (default deny) with this management token
  --pretty                 indent JSON replies, as consul agent -dev does
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
        'session-ttl-min': { type: 'string' },
        'acl-token': { type: 'string' },
        pretty: { type: 'boolean' },
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
  let server;
  try {
    server = await startDevServer({
      port,
      host: values.host ?? '127.0.0.1',
      nodeName: values['node-name'] ?? 'dev',
      datacenter: values.datacenter ?? 'dc1',
      sessionTtlMin: values['session-ttl-min'] ?? '10s',
      aclToken: values['acl-token'],
      pretty: values.pretty ?? false,
      ui: !values['no-ui'],
    });
  } catch (err) {
    io.err(`consul-recipes dev: ${(err as Error).message}`);
    return 1;
  }
  // Never print the token itself.
  const acl = values['acl-token'] !== undefined ? ' (ACLs enabled, default deny)' : '';
  // Handlers first: whoever reads the address may signal us at once.
  const stopped = untilStopSignal(io, 'dev');
  io.out(`consul-recipes dev server listening on ${server.url}${acl}`);
  if (!values['no-ui']) io.out(`consul-recipes dev: UI at ${server.url}/ui/`);
  await stopped;
  await server.close();
  return 0;
}
