/**
 * `consul-recipes inspect <prefix>`: who holds which lock, semaphore usage and holders, election
 * leaders, with their sessions' TTL and age, as a table (or `--json`). One KV listing and one
 * session listing; the model is in inspect-model.ts.
 */
import { CONNECTION_HELP, CONNECTION_OPTIONS, connect, keyArgument, parse, runCommand, underPrefix, type CommandIo } from '../args.js';
import { EXIT, exitCodesHelp } from '../exit-codes.js';
import { INSPECT_HEADER, inspect, inspectionRows, renderTable } from '../inspect-model.js';

export const INSPECT_USAGE = `Usage: consul-recipes inspect [options] [<prefix>]

Shows the locks, semaphores and election leaders under <prefix> (a plain Consul key prefix,
without a leading '/'; leave it out for the whole KV store): who holds what, with the holder's
session, node, TTL and age.

Recognised: locks (keys with Consul's lock flag: ours, Go's api.Lock, consul lock's
<prefix>/.lock), semaphores (<prefix>/.lock with the semaphore flag and its contender keys, as
consul lock -n writes them) and election leader keys (session-locked keys without either flag).

AGE is how long ago the holder created its session, as the holder itself wrote it into the key's
value (our lock, semaphore and elect commands and the demo do). Consul keeps no time for sessions
(their indexes are Raft positions, not clocks), so for other holders (Go clients, consul lock)
the age is unknown and shown as '?'. It is measured on the holder's clock.

Options:
  --json                   one JSON document: {prefix, locks, semaphores, elections, otherKeys},
                           with full session IDs and ageMs (null when unknown)
  -h, --help               show this help

${CONNECTION_HELP}
${exitCodesHelp(false)}`;

export function runInspect(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand('inspect', INSPECT_USAGE, argv, io, async () => {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' }, ...CONNECTION_OPTIONS }, { min: 0, max: 1, names: '<prefix>' });
    const prefix = keyArgument('<prefix>', positionals[0] ?? '', { allowEmpty: true });
    const coord = connect(values);
    try {
      // Keys first: a session listed there but gone from the session list shows as "gone",
      // never the other way round (a holder without its session).
      const { pairs } = await coord.api.kv.list(prefix);
      const { sessions } = await coord.api.sessions.list();
      const result = inspect(prefix, pairs, sessions, Date.now());
      if (values.json) {
        io.out(JSON.stringify(result, null, 2));
        return EXIT.OK;
      }
      const rows = inspectionRows(result);
      if (rows.length === 0) {
        io.out(`nothing held ${underPrefix(prefix)} (no locks, semaphores or election leaders; ${result.otherKeys} other key${result.otherKeys === 1 ? '' : 's'})`);
        return EXIT.OK;
      }
      io.out(renderTable(INSPECT_HEADER, rows));
      if (result.otherKeys > 0) io.out(`(${result.otherKeys} other key${result.otherKeys === 1 ? '' : 's'} ${underPrefix(prefix)} not shown)`);
      return EXIT.OK;
    } finally {
      await coord.close();
    }
  });
}
