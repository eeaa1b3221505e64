/**
 * `consul-recipes lock <prefix> -- <command…>` and `consul-recipes semaphore <prefix> --limit N --
 * <command…>`: run a command while holding a lock (or one of N permits), as Consul's
 * `consul lock [-n N]` does (hashicorp/consul `command/lock/lock.go`):
 *
 * - lock: the key `<prefix>/.lock` with `api.LockFlagValue`, so a lock and a semaphore on the same
 *   prefix conflict visibly instead of ignoring each other (Consul's reason for that layout);
 * - semaphore: `<prefix>/.lock` record + one `<prefix>/<session>` contender key per process;
 * - sessions as Go's recipes make them: TTL 15s renewed every TTL/2, Consul's 15s lock-delay,
 *   `release` behaviour for a lock and `delete` for semaphore contenders, named after the command;
 * - `--monitor-retry` tolerated failed monitor reads (3), SIGTERM then SIGKILL after 5s when lost;
 * - after the command: release, then delete the lock key (or the semaphore record) if nobody else
 *   uses it, as Consul's `Destroy()` does.
 *
 * Differences, each on purpose: the command's exit code is passed through (Consul needs
 * `-child-exit-code` and then only says 2); losing the lock exits 125 and `--timeout` 124 (Consul
 * says 1 for both); the command is executed directly unless `--shell` (see child.ts); options use
 * two dashes (`--timeout`, not `-timeout`).
 */
import type { Coordinator } from '../../coordinator.js';
import { Lock } from '../../recipes/lock/lock.js';
import { Semaphore } from '../../recipes/semaphore/semaphore.js';
import { LOCK_FLAG_VALUE, SEMAPHORE_FLAG_VALUE, normalizePrefix, semaphoreRecordKey } from '../../recipes/hold/keys.js';
import { decodeSemaphoreRecord, pruneDeadHolders } from '../../recipes/semaphore/record.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  UsageError,
  connect,
  durationOption,
  keyArgument,
  integerOption,
 
  parse,
  runCommand,
  splitCommand,
  type CommandIo,
} from '../args.js';
import { DEFAULT_GRACE_MS } from '../child.js';
import { exitCodesHelp } from '../exit-codes.js';
import { runWhileHeld, type HeldRunOptions, type Hold } from '../hold.js';
import { holderInfo } from '../holder-info.js';

/** Options of the commands that run a child while holding something. */
export const HOLD_OPTIONS = {
  timeout: { type: 'string' },
  ttl: { type: 'string' },
  'lock-delay': { type: 'string' },
  'health-check-ttl': { type: 'string' },
  'monitor-retry': { type: 'string' },
  name: { type: 'string' },
  grace: { type: 'string' },
  shell: { type: 'boolean' },
  'pass-stdin': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  ...CONNECTION_OPTIONS,
} as const;

export const HOLD_HELP = (defaults: { ttl: string; lockDelay: string }): string => `  --timeout <dur>          give up waiting after this long: exit 124 (default: wait forever)
  --ttl <dur>              session TTL, renewed every ttl/2 (default ${defaults.ttl})
  --lock-delay <dur>       Consul's lock-delay after an involuntary loss; 0 for none (default ${defaults.lockDelay})
  --health-check-ttl <dur> bind the session to an agent TTL check this process heartbeats:
                           a crashed holder is replaced after about this long (default: off)
  --monitor-retry <n>      failed monitor reads tolerated before counting it lost (default 3)
  --name <text>            session name (default: derived from the command and prefix)
  --grace <dur>            time between SIGTERM and SIGKILL when lost (default 5s)
  --shell                  run "$SHELL -c '<command words>'" as consul lock does (default: exec directly)
  --pass-stdin             give the command our stdin (default: /dev/null)
  -v, --verbose            say what happens (acquiring, waiting, acquired, released) on stderr
  -h, --help               show this help
`;

const CHILD_ENV_HELP = `The command's environment gets CONSUL_LOCK_HELD=true (as with consul lock),
CONSUL_RECIPES_FENCING_TOKEN (strictly increasing across holders: pass it to storage that can
reject stale writers) and CONSUL_RECIPES_SESSION. SIGINT, SIGTERM and SIGHUP are forwarded to it.
`;

export const LOCK_USAGE = `Usage: consul-recipes lock [options] <prefix> -- <command> [args…]

Runs <command> while holding the lock <prefix>/.lock (the key layout, flags and sessions of
'consul lock <prefix>', so both contend for the same lock). Waits while another process holds
it. If the lock is lost (session invalidated, key deleted, Consul unreachable past the TTL), the
command gets SIGTERM, then SIGKILL after --grace. Released when the command exits.

Options:
  -n, --limit <n>          up to n holders at once: a semaphore on <prefix>, as 'consul lock -n'
${HOLD_HELP({ ttl: '15s', lockDelay: '15s' })}
${CHILD_ENV_HELP}
${CONNECTION_HELP}
${exitCodesHelp(true)}
Example:
  consul-recipes lock --timeout 30s jobs/nightly -- ./backup.sh /var/lib/app
`;

export const SEMAPHORE_USAGE = `Usage: consul-recipes semaphore [options] --limit <n> <prefix> -- <command> [args…]

Runs <command> while holding one of <n> permits of the semaphore <prefix> (the layout of
'consul lock -n <n> <prefix>' and Go's api.Semaphore: <prefix>/.lock records the holders,
<prefix>/<session> is each contender's key). Waits while all permits are taken. If the permit is
lost, the command gets SIGTERM, then SIGKILL after --grace. Released when the command exits.
Every contender must use the same --limit.

Options:
  -n, --limit <n>          number of permits (required)
${HOLD_HELP({ ttl: '15s', lockDelay: '15s' })}
${CHILD_ENV_HELP}
${CONNECTION_HELP}
${exitCodesHelp(true)}
Example:
  consul-recipes semaphore --limit 3 sem/db-migrations -- ./migrate.sh
`;

const LIMIT_OPTION = { limit: { type: 'string', short: 'n' } } as const;

type HoldValues = ReturnType<typeof parse<typeof HOLD_OPTIONS>>['values'];

/** Options shared by lock, semaphore and elect, checked. */
export interface HoldSettings {
  timeoutMs: number | undefined;
  session: { ttl?: number; lockDelay?: number; healthCheckTtl?: number; monitorRetries?: number };
  name: string | undefined;
  graceMs: number;
  shell: boolean;
  passStdin: boolean;
  verbose: boolean;
}

export function holdSettings(values: HoldValues): HoldSettings {
  const session: HoldSettings['session'] = {};
  const ttl = durationOption('ttl', values.ttl, { min: 1 });
  const lockDelay = durationOption('lock-delay', values['lock-delay']);
  const healthCheckTtl = durationOption('health-check-ttl', values['health-check-ttl'], { min: 1 });
  const monitorRetries = integerOption('monitor-retry', values['monitor-retry'], 0);
  if (ttl !== undefined) session.ttl = ttl;
  if (lockDelay !== undefined) session.lockDelay = lockDelay;
  if (healthCheckTtl !== undefined) session.healthCheckTtl = healthCheckTtl;
  if (monitorRetries !== undefined) session.monitorRetries = monitorRetries;
  if (values.name !== undefined && values.name.trim() === '') throw new UsageError('--name must not be empty');
  return {
    timeoutMs: durationOption('timeout', values.timeout),
    session,
    name: values.name,
    graceMs: durationOption('grace', values.grace) ?? DEFAULT_GRACE_MS,
    shell: values.shell ?? false,
    passStdin: values['pass-stdin'] ?? false,
    verbose: values.verbose ?? false,
  };
}

/** The command after `--`, required. */
export function requireCommand(command: string[] | undefined, name: string): string[] {
  if (command === undefined) throw new UsageError(`missing '--' before the command to run (consul-recipes ${name} … -- <command> [args…])`);
  if (command.length === 0 || command[0] === '') throw new UsageError("missing command after '--'");
  return command;
}

/**
 * A prefix checked by the library's key rule (no leading '/', as `coord.lock()` requires; `consul
 * lock` would strip one), trailing slashes dropped as Go's path.Join does.
 */
export function lockPrefix(text: string): string {
  const prefix = normalizePrefix(keyArgument('<prefix>', text));
  if (prefix === '') throw new UsageError(`<prefix> must name a key prefix, got ${JSON.stringify(text)}`);
  return prefix;
}

/** Session name as Consul derives it ("Consul lock for '<command>' at '<prefix>'"), with our name. */
export function sessionName(kind: string, command: readonly string[], prefix: string): string {
  const words = command.join(' ');
  const shown = words.length > 120 ? `${words.slice(0, 117)}...` : words;
  return `consul-recipes ${kind} for '${shown}' at '${prefix}'`;
}

/** Env for the command, as Consul sets CONSUL_LOCK_HELD, plus what our recipes know. */
export function childEnv(hold: Hold): Record<string, string> {
  return {
    CONSUL_LOCK_HELD: 'true',
    CONSUL_RECIPES_FENCING_TOKEN: String(hold.fencingToken),
    CONSUL_RECIPES_SESSION: hold.sessionId,
  };
}

export function runLock(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand('lock', LOCK_USAGE, argv, io, async () => {
    const { head, command } = splitCommand(argv);
    const { values, positionals } = parse(head, { ...HOLD_OPTIONS, ...LIMIT_OPTION }, { min: 1, max: 1, names: '<prefix> -- <command>' });
    const limit = integerOption('limit', values.limit, 1) ?? 1;
    return limit === 1
      ? holdLock('lock', lockPrefix(positionals[0] as string), requireCommand(command, 'lock'), holdSettings(values), values, io)
      : holdSemaphore('lock', lockPrefix(positionals[0] as string), limit, requireCommand(command, 'lock'), holdSettings(values), values, io);
  });
}

export function runSemaphore(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand('semaphore', SEMAPHORE_USAGE, argv, io, async () => {
    const { head, command } = splitCommand(argv);
    const { values, positionals } = parse(head, { ...HOLD_OPTIONS, ...LIMIT_OPTION }, { min: 1, max: 1, names: '<prefix> -- <command>' });
    const limit = integerOption('limit', values.limit, 1);
    if (limit === undefined) throw new UsageError('--limit <n> is required');
    return holdSemaphore('semaphore', lockPrefix(positionals[0] as string), limit, requireCommand(command, 'semaphore'), holdSettings(values), values, io);
  });
}

/** The run options a lock and a semaphore fill alike: messages, the command and its grace period. */
function heldRunOptions(io: CommandIo, name: string, command: string[], s: HoldSettings): Pick<HeldRunOptions, 'io' | 'name' | 'verbose' | 'child' | 'env' | 'graceMs'> {
  return { io, name, verbose: s.verbose, child: { command, shell: s.shell, passStdin: s.passStdin }, env: childEnv, graceMs: s.graceMs };
}

/** A lock handle or a permit, acquired within `--timeout` and seen as the run loop's Hold. */
function acquireHold(
  acquire: (options: { signal: AbortSignal; timeout?: number }) => Promise<{ fencingToken: number; session: { id: string }; signal: AbortSignal; release(): Promise<void> }>,
  s: HoldSettings,
): HeldRunOptions['acquire'] {
  return async (signal) => {
    const held = await acquire({ signal, ...(s.timeoutMs !== undefined ? { timeout: s.timeoutMs } : {}) });
    return { fencingToken: held.fencingToken, sessionId: held.session.id, signal: held.signal, release: () => held.release() };
  };
}

async function holdLock(name: string, prefix: string, command: string[], s: HoldSettings, values: HoldValues, io: CommandIo): Promise<number> {
  const coord = connect(values);
  const key = `${prefix}/.lock`;
  try {
    const lock = new Lock(coord, key, {
      value: holderInfo(),
      sessionName: s.name ?? sessionName('lock', command, prefix),
      ...s.session,
    });
    lock.on('waiting', () => {
      if (s.verbose) io.err(`consul-recipes ${name}: waiting: ${key} is held by another session`);
    });
    return await runWhileHeld({
      ...heldRunOptions(io, name, command, s),
      what: `lock ${JSON.stringify(key)}`,
      acquire: acquireHold((options) => lock.acquire(options), s),
      cleanup: () => destroyLockKey(coord, key),
      close: () => coord.close(),
    });
  } finally {
    await coord.close();
  }
}

async function holdSemaphore(
  name: string,
  prefix: string,
  limit: number,
  command: string[],
  s: HoldSettings,
  values: HoldValues,
  io: CommandIo,
): Promise<number> {
  const coord = connect(values);
  try {
    const semaphore = new Semaphore(coord, prefix, {
      limit,
      value: holderInfo(),
      sessionName: s.name ?? sessionName('semaphore', command, prefix),
      ...s.session,
    });
    semaphore.on('waiting', () => {
      if (s.verbose) io.err(`consul-recipes ${name}: waiting: all ${limit} permits of ${prefix} are taken`);
    });
    return await runWhileHeld({
      ...heldRunOptions(io, name, command, s),
      what: `a permit of semaphore ${JSON.stringify(prefix)} (limit ${limit})`,
      acquire: acquireHold((options) => semaphore.acquire(options), s),
      cleanup: () => destroySemaphoreRecord(coord, prefix, limit),
      close: () => coord.close(),
    });
  } finally {
    await coord.close();
  }
}

/**
 * Go's `Lock.Destroy()`: delete the lock key if it is a lock nobody holds, with check-and-set so
 * an acquire that lands meanwhile wins.
 */
export async function destroyLockKey(coord: Coordinator, key: string): Promise<void> {
  const { pair } = await coord.api.kv.get(key);
  if (!pair || pair.flags !== LOCK_FLAG_VALUE || pair.session !== undefined) return;
  await coord.api.kv.delete(key, { cas: pair.modifyIndex });
}

/**
 * Go's `Semaphore.Destroy()`: delete the `.lock` record if, after pruning dead holders, nobody
 * holds a permit, with check-and-set.
 */
export async function destroySemaphoreRecord(coord: Coordinator, prefix: string, limit: number): Promise<void> {
  const recordKey = semaphoreRecordKey(prefix);
  const { pairs } = await coord.api.kv.list(`${prefix}/`);
  const record = pairs.find((p) => p.key === recordKey);
  if (!record || record.flags !== SEMAPHORE_FLAG_VALUE) return;
  const decoded = decodeSemaphoreRecord(record.value, limit);
  if (!decoded.ok || pruneDeadHolders(decoded.record, pairs).holders.size > 0) return;
  await coord.api.kv.delete(recordKey, { cas: record.modifyIndex });
}
