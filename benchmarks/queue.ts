/**
 * Queue benchmark: throughput and requests per message of `coord.queue()`.
 *
 *   npm run bench:queue                                   # embedded dev server
 *   CONSUL_HTTP_ADDR=127.0.0.1:8500 npm run bench:queue   # a real agent
 *   npm run bench:queue -- --messages 400
 *
 * Scenarios
 * - throughput: one producer puts `messages` messages one after the other while 1 (then 10)
 *   consumers, each its own Coordinator and Queue, run `consume()` and ack each message at once.
 *   Messages per second is put + take + ack, from the first put to the last ack. Requests per
 *   message counts every HTTP request of the producer and the consumers (each Coordinator's
 *   transport is counted), divided by the number of messages.
 * - idle wake-up: N consumers wait in `take()`; once every one is parked in a blocking read, one
 *   message is put. Counted: requests from the put until the message is taken and the other
 *   consumers are parked again, and how many consumers sent any request (woken). Bounded means
 *   the same for N = 2 and N = 30.
 *
 * Numbers come from one run on one machine (2 shared cores here). Prints tables and writes
 * `benchmarks/results/queue.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Coordinator } from '../src/index.js';
import { startDevServer, type DevServer } from '../src/testing/index.js';

const RESULTS = fileURLToPath(new URL('./results/queue.json', import.meta.url));

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '200' },
    consumers: { type: 'string', default: '1,10' },
    idle: { type: 'string', default: '2,10,30' },
  },
});
const MESSAGES = Number(args.messages);
const CONSUMER_COUNTS = args.consumers.split(',').map(Number);
const IDLE_COUNTS = args.idle.split(',').map(Number);

/** A Coordinator whose HTTP requests are counted (and whose pending blocking reads are tracked). */
interface Counted {
  readonly coord: Coordinator;
  requests: number;
  blocking: number;
  /** Pending blocking listings: the consumer first in line parks on one (the others on a key). */
  blockingLists: number;
}

function counted(address: string): Counted {
  const coord = new Coordinator({ address });
  const c: Counted = { coord, requests: 0, blocking: 0, blockingLists: 0 };
  const http = coord.api.http;
  const original = http.request.bind(http);
  http.request = async (spec) => {
    c.requests += 1;
    const isBlocking = spec.method === 'GET' && spec.query?.index !== undefined;
    const isList = isBlocking && spec.query?.recurse === true;
    if (isBlocking) c.blocking += 1;
    if (isList) c.blockingLists += 1;
    try {
      return await original(spec);
    } finally {
      if (isBlocking) c.blocking -= 1;
      if (isList) c.blockingLists -= 1;
    }
  };
  return c;
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

interface ThroughputResult {
  consumers: number;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  requestsPerMessage: number;
  producerRequestsPerMessage: number;
}

async function throughput(address: string, prefix: string, consumers: number): Promise<ThroughputResult> {
  const producer = counted(address);
  const workers = Array.from({ length: consumers }, () => counted(address));
  const stop = new AbortController();
  let acked = 0;
  const loops = workers.map(async (w) => {
    const queue = w.coord.queue<number>(prefix, { ttl: '15s', lockDelay: 0 });
    for await (const msg of queue.consume({ signal: stop.signal })) {
      await msg.ack();
      acked += 1;
    }
  });
  // Let every consumer join the line first: the run measures steady state, not start-up.
  await until(() => workers.every((w) => w.blocking > 0), 'consumers to park');
  const baseline = workers.reduce((n, w) => n + w.requests, 0);
  const queue = producer.coord.queue<number>(prefix);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) await queue.put(i);
  await until(() => acked === MESSAGES, 'every message to be acked');
  const seconds = (performance.now() - started) / 1000;
  const consumerRequests = workers.reduce((n, w) => n + w.requests, 0) - baseline;
  stop.abort();
  await Promise.all(loops);
  await Promise.all([producer, ...workers].map((c) => c.coord.close()));
  return {
    consumers,
    messages: MESSAGES,
    seconds,
    messagesPerSecond: MESSAGES / seconds,
    requestsPerMessage: (consumerRequests + producer.requests) / MESSAGES,
    producerRequestsPerMessage: producer.requests / MESSAGES,
  };
}

interface WakeResult {
  idleConsumers: number;
  requests: number;
  woken: number;
}

async function wake(address: string, prefix: string, idle: number): Promise<WakeResult> {
  const consumers = Array.from({ length: idle }, () => counted(address));
  const queues = consumers.map((c) => c.coord.queue<string>(prefix, { ttl: '15s', lockDelay: 0 }));
  const takes = queues.map((q) => q.take().then((m) => m));
  const settled = (n: number): boolean =>
    consumers.filter((c) => c.blocking === 1).length === n && consumers.filter((c) => c.blockingLists === 1).length === 1;
  // Parked: one consumer on the messages, every other on the key before it.
  await until(() => settled(idle), 'every consumer to park');
  const before = consumers.map((c) => c.requests);
  const producer = counted(address);
  await producer.coord.queue<string>(prefix).put('one');
  const msg = await Promise.race(takes);
  // The next in line takes over the watch on the messages (none when there was one consumer).
  await until(() => (idle === 1 ? true : settled(idle - 1)), 'the others to park again');
  const requests = consumers.reduce((n, c, i) => n + c.requests - (before[i] as number), 0) + producer.requests;
  const woken = consumers.filter((c, i) => c.requests > (before[i] as number)).length;
  await msg.ack();
  await Promise.all([producer, ...consumers].map((c) => c.coord.close()));
  await Promise.allSettled(takes);
  return { idleConsumers: idle, requests, woken };
}

async function main(): Promise<void> {
  let dev: DevServer | undefined;
  const address = process.env.CONSUL_HTTP_ADDR ?? (dev = await startDevServer({ port: 0 })).url;
  const run = `bench/queue-${Date.now().toString(36)}`;
  try {
    const rates: ThroughputResult[] = [];
    for (const n of CONSUMER_COUNTS) rates.push(await throughput(address, `${run}/tp-${n}`, n));
    const wakes: WakeResult[] = [];
    for (const n of IDLE_COUNTS) wakes.push(await wake(address, `${run}/wake-${n}`, n));

    console.log(`queue throughput: ${MESSAGES} messages, put + take + ack (${dev ? 'dev server' : address}, ${cpus().length} CPUs, Node ${process.version})`);
    console.log('| consumers | messages/s | requests/message | of which the producer |');
    console.log('|--:|--:|--:|--:|');
    for (const r of rates) {
      console.log(`| ${r.consumers} | ${r.messagesPerSecond.toFixed(0)} | ${r.requestsPerMessage.toFixed(1)} | ${r.producerRequestsPerMessage.toFixed(1)} |`);
    }
    console.log('\nidle wake-up: one put with N consumers waiting');
    console.log('| idle consumers | requests until taken and the rest parked again | consumers woken |');
    console.log('|--:|--:|--:|');
    for (const w of wakes) console.log(`| ${w.idleConsumers} | ${w.requests} | ${w.woken} |`);
    mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, target: dev ? 'dev server' : 'agent', messages: MESSAGES, throughput: rates, wake: wakes }, null, 2)}\n`);
    console.log(`\nwritten to ${RESULTS}`);
  } finally {
    await dev?.close();
  }
}

await main();
