/**
 * `consul-recipes elect <key> -- <command…>`: campaign for leadership on `<key>` and run the
 * command only while leader. Deposed (session lost, key deleted or taken) → the command gets
 * SIGTERM, then SIGKILL after the grace period, and we exit 125. The command exiting → we resign
 * (the key is deleted, so the next campaigner is elected at once, without lock-delay) and exit
 * with its code. Supervisors restart us to campaign again.
 *
 * The key layout is LeaderElection's (recipes-docs): `<key>` itself, created by each term and
 * locked by the leader's session (`delete` behaviour), its CreateIndex the term's fencing token.
 */
import { connect, keyArgument, parse, runCommand, splitCommand, type CommandIo, CONNECTION_HELP, UsageError } from '../args.js';
import { exitCodesHelp } from '../exit-codes.js';
import { runWhileHeld } from '../hold.js';
import { holderInfo } from '../holder-info.js';
import { HOLD_HELP, HOLD_OPTIONS, holdSettings, requireCommand, sessionName } from './lock.js';

export const ELECT_USAGE = `Usage: consul-recipes elect [options] <key> -- <command> [args…]

Campaigns for leadership on <key> and runs <command> while this process is the leader. Waits
(without polling) while another process leads. When leadership is lost (deposed), the command
gets SIGTERM, then SIGKILL after --grace, and elect exits 125. When the command exits, elect
resigns at once (the next campaigner takes over without lock-delay) and exits with its code.

Options:
  --value <text>           value advertised while leader (default: {"host","pid","since"} JSON)
${HOLD_HELP({ ttl: '15s', lockDelay: '1s' })}
The command's environment gets CONSUL_RECIPES_LEADER=true, CONSUL_RECIPES_FENCING_TOKEN (the
term's token, strictly increasing across leaders) and CONSUL_RECIPES_SESSION. SIGINT, SIGTERM and
SIGHUP are forwarded to it.

${CONNECTION_HELP}
${exitCodesHelp(true)}
Example:
  consul-recipes elect --health-check-ttl 3s elections/billing -- node billing-leader.js
`;

export function runElect(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand('elect', ELECT_USAGE, argv, io, async () => {
    const { head, command } = splitCommand(argv);
    const { values, positionals } = parse(head, { ...HOLD_OPTIONS, value: { type: 'string' } }, { min: 1, max: 1, names: '<key> -- <command>' });
    const key = keyArgument('<key>', positionals[0] as string);
    if (key === '' || key.endsWith('/')) throw new UsageError(`<key> must name a key (not a folder), got ${JSON.stringify(positionals[0])}`);
    const words = requireCommand(command, 'elect');
    const s = holdSettings(values);
    const coord = connect(values);
    try {
      const election = coord.election(key, {
        value: values.value ?? holderInfo(),
        sessionName: s.name ?? sessionName('election', words, key),
        ...s.session,
      });
      election.on('waiting', () => {
        if (s.verbose) io.err(`consul-recipes elect: waiting: another process leads ${key}`);
      });
      return await runWhileHeld({
        io,
        name: 'elect',
        what: `leadership of ${JSON.stringify(key)}`,
        verbose: s.verbose,
        acquire: async (signal) => {
          const term = await election.campaign({ signal, ...(s.timeoutMs !== undefined ? { timeout: s.timeoutMs } : {}) });
          return { fencingToken: term.fencingToken, sessionId: term.sessionId, signal: term.signal, release: () => election.resign() };
        },
        child: { command: words, shell: s.shell, passStdin: s.passStdin },
        env: (hold) => ({
          CONSUL_RECIPES_LEADER: 'true',
          CONSUL_RECIPES_FENCING_TOKEN: String(hold.fencingToken),
          CONSUL_RECIPES_SESSION: hold.sessionId,
        }),
        graceMs: s.graceMs,
        close: () => coord.close(),
      });
    } finally {
      await coord.close();
    }
  });
}
