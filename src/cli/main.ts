#!/usr/bin/env node
/**
 * The `consul-recipes` command: a small dispatcher on the first argument. Each command lives in
 * `commands/<name>.ts` and resolves with an exit code (see exit-codes.ts).
 */
import { keepAlive, type CommandIo } from './args.js';
import { DEMO_USAGE, runDemo, runDemoWorker } from './commands/demo.js';
import { DEV_USAGE, runDev } from './commands/dev.js';
import { ELECT_USAGE, runElect } from './commands/elect.js';
import { INSPECT_USAGE, runInspect } from './commands/inspect.js';
import { LOCK_USAGE, SEMAPHORE_USAGE, runLock, runSemaphore } from './commands/lock.js';
import { UI_USAGE, runUi } from './commands/ui.js';
import { WATCH_USAGE, runWatch } from './commands/watch.js';
import { QUEUE_USAGE, runQueue } from './commands/queue.js';
import { EXIT } from './exit-codes.js';

interface Command {
  readonly summary: string;
  readonly usage: string;
  /** Internal commands (the demo's worker processes) are not listed. */
  readonly hidden?: boolean;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  dev: { summary: 'run the in-memory Consul dev server in the foreground', usage: DEV_USAGE, run: runDev },
  lock: { summary: 'run a command while holding a lock (as consul lock)', usage: LOCK_USAGE, run: runLock },
  semaphore: { summary: 'run a command while holding one of N permits (as consul lock -n N)', usage: SEMAPHORE_USAGE, run: runSemaphore },
  elect: { summary: 'run a command only while this process is the elected leader', usage: ELECT_USAGE, run: runElect },
  watch: { summary: 'print config or service changes as they happen (watch config|service)', usage: WATCH_USAGE, run: runWatch },
  queue: { summary: 'put, take or count messages of a work queue (queue put|take|size)', usage: QUEUE_USAGE, run: runQueue },
  inspect: { summary: 'show who holds the locks, semaphores and leaderships under a prefix', usage: INSPECT_USAGE, run: runInspect },
  ui: { summary: 'serve the web UI for a Consul agent (services, KV, sessions, coordination)', usage: UI_USAGE, run: runUi },
  demo: { summary: 'leader election and lock failover across three worker processes, timed', usage: DEMO_USAGE, run: runDemo },
  'demo-worker': { summary: 'one worker process of the demo', usage: DEMO_USAGE, hidden: true, run: runDemoWorker },
};

function usage(): string {
  const lines = Object.entries(COMMANDS)
    .filter(([, c]) => !c.hidden)
    .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: consul-recipes <command> [options]

Distributed coordination recipes on HashiCorp Consul.

Commands:
${lines.join('\n')}

Run 'consul-recipes <command> --help' for a command's options and exit codes.
Consul is found through --address/--token or CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT.

Exit codes: 0 ok, 1 error, 2 bad usage; commands that run a child (lock, semaphore, elect) pass
its exit code through and add 124 timeout, 125 lost, 126/127 cannot execute/not found, 128+N signal.
`;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return EXIT.OK;
  }
  if (name === undefined) {
    io.err(usage());
    return EXIT.USAGE;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.err(`consul-recipes: unknown command ${JSON.stringify(name)}`);
    io.err(usage());
    return EXIT.USAGE;
  }
  return command.run(rest, io);
}

const io: CommandIo = {
  out: (line) => process.stdout.write(line.endsWith('\n') ? line : `${line}\n`),
  err: (line) => process.stderr.write(line.endsWith('\n') ? line : `${line}\n`),
};

// `consul-recipes watch … | head`: the reader went away; stop quietly instead of a stack trace.
// Nothing is lost: watch and inspect hold no sessions, the demo's workers stop when we are gone.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(EXIT.OK);
});

const letGo = keepAlive();
main(process.argv.slice(2), io)
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`consul-recipes: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = EXIT.ERROR;
    },
  )
  .finally(letGo);
