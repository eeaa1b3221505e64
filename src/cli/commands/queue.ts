/**
 * `consul-recipes queue put|take|size <prefix>`: the work queue from a shell. `put` enqueues one
 * payload and prints its ID; `take` waits for the next message, prints its payload and acks it
 * (at-least-once: a take killed between printing and acking leaves the message to be delivered
 * again); `size` prints how many messages are in the queue.
 */
import { TimeoutError } from '../../errors.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, CommandFailure, UsageError, connect, durationOption, integerOption, parse, runCommand, type CommandIo } from '../args.js';
import { EXIT, exitCodesHelp } from '../exit-codes.js';

export const QUEUE_USAGE = `Usage: consul-recipes queue put [options] <prefix> <payload>
       consul-recipes queue take [options] <prefix>
       consul-recipes queue size [options] <prefix>

The durable work queue under <prefix> (see recipes-docs/queue.md).

  put    enqueue <payload> (a string; with --json, a JSON value) and print its message ID
  take   wait for the next due message, print its payload and ack it
  size   print the number of messages in the queue (claimed or not, dead letters excluded)

Options:
  --priority <n>       put: 0-9999, higher is delivered first (default 0)
  --delay <duration>   put: not delivered before this long from now (default 0)
  --timeout <duration> take: give up after this long (exit 124)
  --json               put: parse <payload> as JSON; take: print {id, attempt, payload, enqueuedAt}
  -h, --help           show this help

${CONNECTION_HELP}
${exitCodesHelp(false)}  124      take: --timeout passed before a message came
`;

export function runQueue(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand('queue', QUEUE_USAGE, argv, io, async () => {
    const [action, ...rest] = argv;
    const options = {
      json: { type: 'boolean' },
      priority: { type: 'string' },
      delay: { type: 'string' },
      timeout: { type: 'string' },
      ...CONNECTION_OPTIONS,
    } as const;
    if (action !== 'put' && action !== 'take' && action !== 'size') {
      throw new UsageError(action === undefined ? 'missing action: put, take or size' : `unknown action ${JSON.stringify(action)}: expected put, take or size`);
    }
    const expected = action === 'put' ? { min: 2, max: 2, names: '<prefix> <payload>' } : { min: 1, max: 1, names: '<prefix>' };
    const { values, positionals } = parse(rest, options, expected);
    if (action !== 'put' && (values.priority !== undefined || values.delay !== undefined)) throw new UsageError(`--priority and --delay apply to put only`);
    if (action !== 'take' && values.timeout !== undefined) throw new UsageError('--timeout applies to take only');
    const prefix = positionals[0] as string;
    let payload: unknown;
    if (action === 'put') {
      const text = positionals[1] as string;
      try {
        payload = values.json ? JSON.parse(text) : text;
      } catch {
        throw new UsageError(`--json: <payload> is not JSON: ${JSON.stringify(text.slice(0, 60))}`);
      }
    }
    const priority = integerOption('priority', values.priority, 0);
    const delayMs = durationOption('delay', values.delay);
    const timeoutMs = durationOption('timeout', values.timeout);
    const coord = connect(values);
    try {
      const queue = coord.queue(prefix);
      if (action === 'put') {
        io.out(await queue.put(payload, { ...(priority !== undefined ? { priority } : {}), ...(delayMs !== undefined ? { delay: delayMs } : {}) }));
        return EXIT.OK;
      }
      if (action === 'size') {
        io.out(String(await queue.size()));
        return EXIT.OK;
      }
      let msg;
      try {
        msg = await queue.take(timeoutMs !== undefined ? { timeout: timeoutMs } : {});
      } catch (err) {
        if (err instanceof TimeoutError) throw new CommandFailure(`no message within ${values.timeout}`, EXIT.TIMEOUT);
        throw err;
      }
      if (values.json) io.out(JSON.stringify({ id: msg.id, attempt: msg.attempt, payload: msg.payload, enqueuedAt: msg.enqueuedAt.toISOString() }));
      else io.out(typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload));
      await msg.ack();
      return EXIT.OK;
    } finally {
      await coord.close();
    }
  });
}
