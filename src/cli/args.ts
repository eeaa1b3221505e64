/**
 * Argument handling shared by every command, with `node:util` `parseArgs` only: the `--` split
 * for wrapped commands, connection options (`--address`, `--token`, …, defaulting to the usual
 * `CONSUL_*` variables), value checks that turn into usage errors (exit 2), and the one place
 * that turns a thrown error into a message and an exit code.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Coordinator, type CoordinatorOptions } from '../coordinator.js';
import { ConsulError, RecipeError } from '../errors.js';
import { toMs } from '../internal/duration.js';
import { validateKey } from '../internal/keys.js';
import { EXIT } from './exit-codes.js';

/** Where a command writes: stdout and stderr (a newline is added when missing). */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

/** Bad usage: reported with the command's usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure already explained to the user; carries the exit code to return. */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command that talks to Consul accepts. */
export const CONNECTION_OPTIONS = {
  address: { type: 'string' },
  token: { type: 'string' },
  datacenter: { type: 'string' },
  'ca-file': { type: 'string' },
} as const satisfies Options;

export const CONNECTION_HELP = `Connection:
  --address <addr>     Consul agent, host:port or http(s)://host:port
                       (default $CONSUL_HTTP_ADDR, then 127.0.0.1:8500)
  --token <token>      ACL token (default $CONSUL_HTTP_TOKEN; prefer the variable:
                       arguments are visible to other users in ps). Never printed.
  --datacenter <dc>    datacenter (default $CONSUL_DATACENTER, then the agent's)
  --ca-file <path>     PEM CA bundle for https (default $CONSUL_CACERT)
`;

/**
 * Splits `argv` at the first `--`: what comes before is ours, what follows is the command to run
 * (verbatim, never parsed as our options).
 */
export function splitCommand(argv: readonly string[]): { head: string[]; command: string[] | undefined } {
  const at = argv.indexOf('--');
  if (at === -1) return { head: [...argv], command: undefined };
  return { head: argv.slice(0, at), command: argv.slice(at + 1) };
}

/** True when `-h`/`--help` appears among our own arguments (checked before strict parsing). */
export function wantsHelp(head: readonly string[]): boolean {
  return head.includes('--help') || head.includes('-h');
}

/**
 * Strict `parseArgs` whose errors become {@link UsageError}s. A value that starts with '-' and a
 * digit (`--timeout -1s`, `-n -1`) is taken as the option's value, so it reaches the option's own
 * check and its message, instead of Node's "argument is ambiguous".
 */
export function parse<O extends Options>(
  args: readonly string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): { values: ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>['values']; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: attachNegativeValues(args, options), options, strict: true, allowPositionals: true });
  } catch (err) {
    // Node's own text suggests '--' for values that start with '-': true, but noisy here.
    const message = (err as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new UsageError(unknown ? `unknown option '${unknown[1]}'` : message);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new UsageError(`missing argument: expected ${positionals.names}`);
  if (count > positionals.max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals.max])} (expected ${positionals.names})`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

/** `--name -1s` → `--name=-1s` (and `-n -1` → `--limit=-1`) for string options. */
function attachNegativeValues(args: readonly string[], options: Options): string[] {
  const byShort = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name] as const] : [])));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : /^-[^-]$/.test(arg) ? byShort.get(arg.slice(1)) : undefined;
    if (name !== undefined && Object.hasOwn(options, name) && options[name]?.type === 'string' && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i += 1;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * A duration from option `--name`, in ms: the library's rule and message (src/internal/duration.ts),
 * so `--timeout 5` and `coord.lock(k).acquire({ timeout: '5' })` are refused alike.
 */
export function durationOption(name: string, text: string | undefined, rule: { min?: number } = {}): number | undefined {
  if (text === undefined) return undefined;
  try {
    return toMs(`--${name}`, text, rule);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * A KV key or prefix given on the command line, checked by the library's rule and message
 * (src/internal/keys.ts): `lock /jobs/x` is refused as `coord.lock('/jobs/x')` is.
 */
export function keyArgument(name: string, text: string, options: { allowEmpty?: boolean; allowTrailingSlash?: boolean } = {}): string {
  try {
    return validateKey(name, text, options);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Where a listing looked: `under "jobs/"`, or `in the whole KV store` for the empty prefix. */
export function underPrefix(prefix: string): string {
  return prefix === '' ? 'in the whole KV store' : `under ${JSON.stringify(prefix)}`;
}

/** A whole number ≥ `min` from option `--name`. */
export function integerOption(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

/** The Coordinator for the connection options (flags win over the environment). */
export function connect(values: { address?: string | undefined; token?: string | undefined; datacenter?: string | undefined; 'ca-file'?: string | undefined }): Coordinator {
  const overrides: CoordinatorOptions = {
    // The CLI must answer within seconds when Consul is down, not after minutes of backoff.
    retry: { retries: 3, minTimeout: 100, maxTimeout: 1_000 },
  };
  if (values.address !== undefined) overrides.address = values.address;
  if (values.token !== undefined) overrides.token = values.token;
  if (values.datacenter !== undefined) overrides.datacenter = values.datacenter;
  if (values['ca-file'] !== undefined) {
    try {
      overrides.ca = readFileSync(values['ca-file']);
    } catch (err) {
      throw new UsageError(`--ca-file: cannot read ${JSON.stringify(values['ca-file'])}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  try {
    const coord = Coordinator.fromEnv(overrides);
    connectedAddress = coord.address;
    return coord;
  } catch (err) {
    // A malformed address or CONSUL_CACERT is a usage problem; messages never contain the token.
    if (err instanceof RecipeError && err.code === 'ERR_CONFIG') throw new UsageError(err.message);
    throw err;
  }
}

/** The agent the command talks to, for error messages (an address never carries a token). */
let connectedAddress: string | undefined;

/** One line explaining `err`, never containing a token (the library's errors never do). */
export function explain(err: unknown, address = connectedAddress): string {
  if (err instanceof ConsulError && err.statusCode === 0 && address) return `${err.message} (Consul at ${address})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Runs a command body with the standard outcomes: `--help` → usage on stdout, exit 0; a
 * {@link UsageError} → message and hint on stderr, exit 2; a {@link CommandFailure} → its message
 * and code; anything else → its message, exit 1.
 */
export async function runCommand(
  name: string,
  usage: string,
  argv: readonly string[],
  io: CommandIo,
  body: () => Promise<number>,
): Promise<number> {
  if (wantsHelp(splitCommand(argv).head)) {
    io.out(usage);
    return EXIT.OK;
  }
  try {
    return await body();
  } catch (err) {
    // A ConfigError is the library refusing an argument we passed on (a key with '..', …).
    if (err instanceof UsageError || (err instanceof RecipeError && err.code === 'ERR_CONFIG')) {
      io.err(`consul-recipes ${name}: ${err.message}`);
      io.err(`Run 'consul-recipes ${name} --help' for usage.`);
      return EXIT.USAGE;
    }
    if (err instanceof CommandFailure) {
      io.err(`consul-recipes ${name}: ${err.message}`);
      return err.exitCode;
    }
    io.err(`consul-recipes ${name}: ${explain(err)}`);
    return EXIT.ERROR;
  }
}

/**
 * Keeps the event loop alive while a command runs: the library `unref()`s its timers (a library
 * must not hold a process open), so a CLI waiting out a retry backoff or lock-delay would
 * otherwise exit early, with no output and exit code 0. main.ts holds one for every command.
 */
export function keepAlive(): () => void {
  const timer = setInterval(() => undefined, 1 << 30);
  return () => clearInterval(timer);
}
