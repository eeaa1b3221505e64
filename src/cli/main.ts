#!/usr/bin/env node
/**
 * The `consul-recipes` command: a small dispatcher on the first argument. Each command lives in
 * `commands/<name>.ts` and resolves with an exit code.
 */
import { DEV_USAGE, runDev, type CommandIo } from './commands/dev.js';

interface Command {
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  dev: { summary: 'run the in-memory Consul dev server in the foreground', usage: DEV_USAGE, run: runDev },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: consul-recipes <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'consul-recipes <command> --help' for a command's options.\n`;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`consul-recipes: unknown command ${JSON.stringify(name)}\n`);
    io.err(usage());
    return 2;
  }
  return command.run(rest, io);
}

const io: CommandIo = {
  out: (line) => process.stdout.write(line.endsWith('\n') ? line : `${line}\n`),
  err: (line) => process.stderr.write(line.endsWith('\n') ? line : `${line}\n`),
};

main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`consul-recipes: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
