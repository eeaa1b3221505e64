/**
 * `consul-recipes watch config <prefix>` and `consul-recipes watch service <name>`: print the
 * current state, then every change as it happens, until SIGINT/SIGTERM (exit 0). Human lines by
 * default, one JSON object per line with `--json`.
 *
 * Both ride on the recipes (ConfigWatcher, ServiceWatcher): one blocking query each, a state
 * printed only when it differs from the last one. This is state watching, not a change log: a
 * value written and overwritten between two reads is never seen (the recipes' docs say why).
 */
import type { ConfigChanges, ConfigSnapshot } from '../../recipes/config/config-watcher.js';
import type { ServiceInstance } from '../../recipes/discovery/discovery.js';
import { TimeoutError } from '../../errors.js';
import { formatDurationMs } from '../../internal/duration.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, CommandFailure, UsageError, connect, durationOption, explain, keyArgument, parse, runCommand, type CommandIo } from '../args.js';
import { EXIT, exitCodesHelp } from '../exit-codes.js';
import { clock, showValue } from '../format.js';

/** What both watches do when Consul does not answer, before and after the first answer. */
const TIMEOUT_HELP = `Timeouts and lost connections:
  --timeout <duration>     give up if Consul has not answered the first read within this
                           long ('10s', '1m'): print the last error and exit 1. Without it,
                           watch waits for Consul as long as it takes.
  After the first answer, a lost connection never ends the watch: each failed read prints
  "warning: … (retrying)" on stderr, the reads are retried with backoff (up to 10 s apart),
  and printing resumes, with the changes made meanwhile, once Consul answers again.
  Stop with SIGINT or SIGTERM (exit 0).
`;

const WATCH_CONFIG_HELP = `Usage: consul-recipes watch config [options] <prefix>

Prints every key under <prefix> (a plain Consul prefix: end it with / to watch a folder), then
each change as it happens, until SIGINT or SIGTERM. Lines read
  <time>  = <key> <value>   present when the watch started
  <time>  + <key> <value>   added
  <time>  ~ <key> <value>   modified
  <time>  - <key>           deleted
Values are shown as JSON strings (UTF-8), or base64: when they are not text.

Options:
  --json                   one JSON object per line: {"time","event","key","value"|"valueBase64"}
                           with event initial|added|modified|deleted, after a first {"event":"ready"}
  -h, --help               show this help

${TIMEOUT_HELP}
${CONNECTION_HELP}
${exitCodesHelp(false)}`;

const WATCH_SERVICE_HELP = `Usage: consul-recipes watch service [options] <name>

Prints the instances of service <name> with their health, then each change as it happens
(an instance added or removed, its address, tags or health changed), until SIGINT or SIGTERM.
Lines read
  <time>  = <node>/<id> <address>:<port> <status> [tags]   present when the watch started
  <time>  + …  added      ~ …  changed      - <node>/<id>  removed

Options:
  --passing                only instances whose every check passes (default: all, with status)
  --tag <tag>              only instances with this tag (repeat for several: all required)
  --dc <dc>                watch the instances of another datacenter (?dc=)
  --failover <dc,dc,...>   when no instance of the agent's datacenter is healthy, show those of
                           the first of these datacenters that has some (through a prepared
                           query created for the watch and deleted when it stops); lines then
                           name each instance's datacenter, and a move prints
                             <time>  » failed over <from> → <to>   /   » failed back <from> → <to>
  --json                   one JSON object per line: {"time","event","instance"} with event
                           initial|added|changed|removed, after a first {"event":"ready"};
                           with --failover also {"event":"failedOver"|"failedBack","from","to"}
  -h, --help               show this help

${TIMEOUT_HELP}
${CONNECTION_HELP}
${exitCodesHelp(false)}`;

export const WATCH_USAGE = `Usage: consul-recipes watch config <prefix> [options]
       consul-recipes watch service <name> [options]

Prints changes as they happen, until SIGINT. --timeout <duration> bounds the wait for
Consul's first answer (exit 1); a connection lost later is retried until Consul is back. Run 'consul-recipes watch config --help' or
'consul-recipes watch service --help' for the options.

${exitCodesHelp(false)}`;

export function runWatch(argv: readonly string[], io: CommandIo): Promise<number> {
  const [what, ...rest] = argv;
  if (what === 'config') return runCommand('watch config', WATCH_CONFIG_HELP, rest, io, () => watchConfig(rest, io));
  if (what === 'service') return runCommand('watch service', WATCH_SERVICE_HELP, rest, io, () => watchService(rest, io));
  return runCommand('watch', WATCH_USAGE, argv, io, async () => {
    throw new UsageError(what === undefined ? 'missing what to watch: config or service' : `cannot watch ${JSON.stringify(what)}: expected config or service`);
  });
}

/** Resolves with the first SIGINT/SIGTERM, removing its handlers. */
function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function watchConfig(argv: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, timeout: { type: 'string' }, ...CONNECTION_OPTIONS }, { min: 1, max: 1, names: '<prefix>' });
  const prefix = keyArgument('<prefix>', positionals[0] as string);
  const json = values.json ?? false;
  const timeoutMs = durationOption('timeout', values.timeout);
  const coord = connect(values);
  const stop = nextSignal();
  try {
    const watcher = coord.configWatcher<Buffer>(prefix, { decode: 'buffer' });
    const print = (event: 'initial' | 'added' | 'modified' | 'deleted', rel: string, value?: Buffer): void => {
      const key = `${prefix}${rel}`;
      const shown = value === undefined ? undefined : showValue(value);
      if (json) {
        const v = shown === undefined ? {} : 'text' in shown ? { value: shown.text } : { valueBase64: shown.base64 };
        io.out(JSON.stringify({ time: new Date().toISOString(), event, key, ...v }));
        return;
      }
      const mark = { initial: '=', added: '+', modified: '~', deleted: '-' }[event];
      const text = shown === undefined ? '' : 'text' in shown ? ` ${JSON.stringify(shown.text)}` : ` base64:${shown.base64}`;
      io.out(`${clock()}  ${mark} ${key}${text}`);
    };
    let first: ConfigSnapshot<Buffer> | undefined;
    watcher.on('ready', (snapshot) => {
      first = snapshot;
      if (json) io.out(JSON.stringify({ time: new Date().toISOString(), event: 'ready', prefix, keys: snapshot.size }));
      else io.out(`watching config under ${JSON.stringify(prefix)}: ${snapshot.size} key${snapshot.size === 1 ? '' : 's'} (Ctrl-C to stop)`);
      for (const rel of snapshot.keys()) print('initial', rel, snapshot.get(rel));
    });
    watcher.on('change', (snapshot: ConfigSnapshot<Buffer>, changes: ConfigChanges) => {
      if (snapshot === first) return; // already printed as the initial state
      for (const rel of changes.added) print('added', rel, snapshot.get(rel));
      for (const rel of changes.modified) print('modified', rel, snapshot.get(rel));
      for (const rel of changes.deleted) print('deleted', rel);
    });
    await firstAnswerThenSignal(watcher, { stop, timeoutMs, io, command: 'watch config', address: coord.address });
    return EXIT.OK;
  } finally {
    await coord.close();
  }
}

/**
 * Waits for the first answer (bounded by `--timeout` when given), then for SIGINT/SIGTERM. Each
 * watcher error is a warning on stderr (the watcher retries); a timeout becomes exit 1 naming the
 * last error seen, so a script learns why Consul did not answer.
 */
async function firstAnswerThenSignal(
  watcher: {
    ready(options?: { timeout?: number; signal?: AbortSignal }): Promise<unknown>;
    on(event: 'error', listener: (err: unknown) => void): unknown;
  },
  how: { stop: Promise<NodeJS.Signals>; timeoutMs: number | undefined; io: CommandIo; command: string; address: string },
): Promise<void> {
  const { stop, timeoutMs, io, command, address } = how;
  let lastError: unknown;
  watcher.on('error', (err) => {
    lastError = err;
    io.err(`consul-recipes ${command}: warning: ${explain(err, address)} (retrying)`);
  });
  const stopped = new AbortController();
  void stop.then(() => stopped.abort());
  try {
    await watcher.ready({ signal: stopped.signal, ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}) });
  } catch (err) {
    if (stopped.signal.aborted) return; // SIGINT/SIGTERM before the first answer: a normal stop
    if (err instanceof TimeoutError) {
      const last = lastError;
      const why = last === undefined ? 'its first read is still being retried' : `last error: ${explain(last, address)}`;
      throw new CommandFailure(`Consul did not answer within ${formatDurationMs(timeoutMs ?? 0)} (${why})`, EXIT.ERROR);
    }
    throw err;
  }
  await stop;
}

function sameInstance(a: ServiceInstance, b: ServiceInstance): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function watchService(argv: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      json: { type: 'boolean' },
      passing: { type: 'boolean' },
      tag: { type: 'string', multiple: true },
      dc: { type: 'string' },
      failover: { type: 'string' },
      timeout: { type: 'string' },
      ...CONNECTION_OPTIONS,
    },
    { min: 1, max: 1, names: '<name>' },
  );
  const name = positionals[0] as string;
  if (name.includes('/')) throw new UsageError(`<name> must be a service name without '/', got ${JSON.stringify(name)}`);
  const json = values.json ?? false;
  const timeoutMs = durationOption('timeout', values.timeout);
  const coord = connect(values);
  const stop = nextSignal();
  try {
    if (values.dc !== undefined && values.failover !== undefined) throw new UsageError('--dc and --failover cannot be combined: failover starts from the agent\'s datacenter');
    const failover = values.failover?.split(',').map((d) => d.trim());
    if (failover && (failover.length === 0 || failover.some((d) => d === ''))) {
      throw new UsageError(`--failover must list datacenters separated by commas, got ${JSON.stringify(values.failover)}`);
    }
    const multi = values.dc !== undefined || failover !== undefined;
    const watcher = coord.serviceWatcher(name, {
      passingOnly: values.passing ?? false,
      ...(values.tag ? { tag: values.tag } : {}),
      ...(values.dc !== undefined ? { dc: values.dc } : {}),
      ...(failover ? { failover: { datacenters: failover } } : {}),
    });
    const instanceId = (i: ServiceInstance): string => (multi ? `${i.datacenter}/${i.node}/${i.id}` : `${i.node}/${i.id}`);
    for (const event of ['failedOver', 'failedBack'] as const) {
      watcher.on(event, (move) => {
        if (json) io.out(JSON.stringify({ time: new Date().toISOString(), event, from: move.from ?? null, to: move.to }));
        else io.out(`${clock()}  » ${event === 'failedOver' ? 'failed over' : 'failed back'} ${move.from ?? '?'} → ${move.to}`);
      });
    }
    const print = (event: 'initial' | 'added' | 'changed' | 'removed', i: ServiceInstance, before?: ServiceInstance): void => {
      if (json) {
        io.out(JSON.stringify({ time: new Date().toISOString(), event, instance: i }));
        return;
      }
      const mark = { initial: '=', added: '+', changed: '~', removed: '-' }[event];
      if (event === 'removed') {
        io.out(`${clock()}  ${mark} ${instanceId(i)}`);
        return;
      }
      const status = before && before.status !== i.status ? `${before.status} → ${i.status}` : i.status;
      const tags = i.tags.length > 0 ? ` [${i.tags.join(',')}]` : '';
      io.out(`${clock()}  ${mark} ${instanceId(i)}  ${i.address}:${i.port}  ${status}${tags}`);
    };
    let last = new Map<string, ServiceInstance>();
    let ready = false;
    const show = (list: readonly ServiceInstance[]): void => {
      const next = new Map(list.map((i) => [instanceId(i), i]));
      if (!ready) {
        ready = true;
        if (json) io.out(JSON.stringify({ time: new Date().toISOString(), event: 'ready', service: name, instances: list.length }));
        else io.out(`watching service ${JSON.stringify(name)}: ${list.length} instance${list.length === 1 ? '' : 's'} (Ctrl-C to stop)`);
        for (const i of list) print('initial', i);
      } else {
        for (const [id, i] of next) {
          const before = last.get(id);
          if (!before) print('added', i);
          else if (!sameInstance(before, i)) print('changed', i, before);
        }
        for (const [id, i] of last) if (!next.has(id)) print('removed', i);
      }
      last = next;
    };
    watcher.on('ready', show);
    watcher.on('change', (list) => {
      if (ready) show(list);
    });
    await firstAnswerThenSignal(watcher, { stop, timeoutMs, io, command: 'watch service', address: coord.address });
    return EXIT.OK;
  } finally {
    await coord.close();
  }
}
