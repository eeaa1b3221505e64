/**
 * `consul-recipes demo` (`npm run demo`): leader election and a lock across three worker
 * processes, with a crash and a clean stop, timed.
 *
 * 1. Consul: the embedded dev server with a lowered `session_ttl_min`, or the agent named by
 *    `--address` / `CONSUL_HTTP_ADDR` (then with Consul's minimum session TTL, 10s).
 * 2. worker-1 starts alone and becomes leader and lock holder; worker-2 and worker-3 start and
 *    wait (blocking queries, no polling).
 * 3. SIGKILL the leader: nothing is released. Consul invalidates its sessions when their health
 *    checks stop being heartbeated, refuses the keys for lock-delay, then the waiting workers take
 *    over. Measured: SIGKILL → new leader, SIGKILL → new lock holder.
 * 4. SIGTERM the new leader: it resigns (deletes the leader key) and releases before exiting, so
 *    the last worker takes over without lock-delay. Measured: SIGTERM → new leader (and lock).
 * 5. Stop the rest, close the server (or delete the demo's keys on a real agent).
 *
 * Times are the demo's monotonic clock at the moment a worker's IPC report arrives (one local
 * round trip after the event). Every child is killed in `finally`, whatever happened; a 50 s
 * deadline bounds the run; the workers also exit by themselves if the demo disappears.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'eventemitter3';
import type { Coordinator } from '../../coordinator.js';
import { sleep } from '../../internal/abort.js';
import { blockingQuery } from '../../loop/blocking-query.js';
import { startDevServer, type DevServer } from '../../testing/dev-server/index.js';
import type { KVPair } from '../../transport/index.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connect, explain, parse, runCommand, type CommandIo } from '../args.js';
import { EXIT, exitCodesHelp, signalExitCode } from '../exit-codes.js';
import type { DemoReport, DemoWorkerConfig } from './demo-worker.js';

export { runDemoWorker } from './demo-worker.js';

export const DEMO_USAGE = `Usage: consul-recipes demo [options]

Starts Consul (the embedded dev server, or the agent named by --address / CONSUL_HTTP_ADDR),
three worker processes that campaign for leadership and contend for a lock, then SIGKILLs the
leader and later SIGTERMs the next one, printing a timeline with the measured failover (after
the crash) and hand-over (after the clean stop) times. Ends by itself in well under a minute and
leaves nothing running.

Settings: on the dev server, session TTL 2s (session_ttl_min lowered to 1s), health-check TTL
1s, lock-delay 1s. On a real agent, session TTL 10s (Consul's minimum), health-check TTL 2s,
lock-delay 1s; the demo's keys (consul-recipes-demo/<run id>/) are deleted at the end.

Options:
  -h, --help               show this help

${CONNECTION_HELP}
${exitCodesHelp(false)}`;

/** How long the whole demo may take before it gives up (the promise is: under a minute). */
const DEADLINE_MS = 50_000;
/** How long each step may take before the demo reports it as stuck. */
const STEP_TIMEOUT_MS = 20_000;
/** A calm moment between steps, so the timeline reads as steps. */
const PAUSE_MS = 1_000;
/** How often a long wait prints a progress line. */
const PROGRESS_EVERY_MS = 500;

interface Settings {
  readonly ttl: string;
  readonly healthCheckTtl: string;
  readonly lockDelay: string;
  readonly healthCheckTtlMs: number;
  readonly lockDelayMs: number;
}

const DEV_SETTINGS: Settings = { ttl: '2s', healthCheckTtl: '1s', lockDelay: '1s', healthCheckTtlMs: 1_000, lockDelayMs: 1_000 };
/** A real agent refuses session TTLs under its session_ttl_min (10s by default). */
const AGENT_SETTINGS: Settings = { ttl: '10s', healthCheckTtl: '2s', lockDelay: '1s', healthCheckTtlMs: 2_000, lockDelayMs: 1_000 };

interface Arrival {
  readonly worker: Worker;
  readonly report: DemoReport;
  /** Demo clock (ms since start) when it arrived. */
  readonly at: number;
}

interface Worker {
  readonly id: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Last lines of its stderr, shown if something goes wrong. */
  readonly stderr: string[];
  alive: boolean;
  sessions: Set<string>;
}

class Demo {
  private readonly t0 = performance.now();
  private readonly arrivals: Arrival[] = [];
  private readonly bus = new EventEmitter<{ arrival: [Arrival] }>();
  readonly workers: Worker[] = [];
  readonly deadline = new AbortController();

  constructor(
    private readonly io: CommandIo,
    private readonly mainPath: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  now(): number {
    return performance.now() - this.t0;
  }

  line(text: string, at = this.now()): void {
    this.io.out(`${`+${(at / 1000).toFixed(3)}s`.padStart(9)}  ${text}`);
  }

  note(text: string): void {
    this.io.out(`${' '.repeat(11)}${text}`);
  }

  spawn(config: DemoWorkerConfig, describe: (a: Arrival) => string | undefined): Worker {
    const child = fork(this.mainPath, ['demo-worker', JSON.stringify(config)], {
      env: this.env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const worker: Worker = {
      id: config.id,
      child,
      stderr: [],
      alive: true,
      sessions: new Set(),
      exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    };
    void worker.exited.then(() => {
      worker.alive = false;
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      worker.stderr.push(...chunk.split('\n').filter(Boolean));
      worker.stderr.splice(0, Math.max(0, worker.stderr.length - 20));
    });
    child.on('message', (message) => {
      const arrival: Arrival = { worker, report: message as DemoReport, at: this.now() };
      if (arrival.report.type === 'elected' || arrival.report.type === 'acquired') worker.sessions.add(arrival.report.sessionId);
      this.arrivals.push(arrival);
      const text = describe(arrival);
      if (text !== undefined) this.line(text, arrival.at);
      this.bus.emit('arrival', arrival);
    });
    this.workers.push(worker);
    return worker;
  }

  /** The first report (already arrived, or to come) matching `match`; rejects after the step timeout. */
  waitFor(match: (a: Arrival) => boolean, what: string, from = 0): Promise<Arrival> {
    const found = this.arrivals.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.bus.off('arrival', onArrival);
        this.deadline.signal.removeEventListener('abort', onAbort);
      };
      const onArrival = (a: Arrival): void => {
        if (!match(a)) return;
        cleanup();
        resolve(a);
      };
      const onAbort = (): void => {
        cleanup();
        reject(new Error(`the demo ran out of time waiting for ${what}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${what} within ${STEP_TIMEOUT_MS / 1000}s${this.stderrTail()}`));
      }, STEP_TIMEOUT_MS);
      this.bus.on('arrival', onArrival);
      this.deadline.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Index of the next arrival: `waitFor(…, mark)` only considers what arrives from now on. */
  mark(): number {
    return this.arrivals.length;
  }

  /** Until `until` settles, checks every half second and prints a line when the phase changes. */
  async withProgress<T>(until: Promise<T>, describe: (elapsedMs: number) => string, since: number): Promise<T> {
    // Each phase is printed once, when it starts being true: a tick that would repeat the
    // previous line (lock-delay at 1.0 s and again at 1.5 s) prints nothing.
    let shown: string | undefined;
    const timer = setInterval(() => {
      const text = describe(this.now() - since);
      if (text === shown) return;
      shown = text;
      this.note(`... ${((this.now() - since) / 1000).toFixed(1)}s  ${text}`);
    }, PROGRESS_EVERY_MS);
    try {
      return await until;
    } finally {
      clearInterval(timer);
    }
  }

  /** Waits `ms`; rejects at once if the deadline passes or the demo is interrupted. */
  pause(ms: number): Promise<void> {
    return sleep(ms, this.deadline.signal);
  }

  private stderrTail(): string {
    const lines = this.workers.flatMap((w) => w.stderr.map((l) => `  [${w.id}] ${l}`));
    return lines.length > 0 ? `; worker output:\n${lines.join('\n')}` : '';
  }

  /** SIGTERM every live worker, SIGKILL those still running after 3 s. */
  async stopAll(): Promise<number> {
    const live = this.workers.filter((w) => w.alive);
    for (const w of live) w.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const w of live) if (w.alive) w.child.kill('SIGKILL');
    }, 3_000);
    try {
      await Promise.all(live.map((w) => w.exited));
    } finally {
      clearTimeout(timer);
    }
    return live.length;
  }
}

const seconds = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);

export function runDemo(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand('demo', DEMO_USAGE, argv, io, async () => {
    const { values } = parse(argv, CONNECTION_OPTIONS, { min: 0, max: 0, names: 'no arguments' });
    const external = values.address ?? process.env.CONSUL_HTTP_ADDR;
    let server: DevServer | undefined;
    let coord: Coordinator | undefined;
    let demo: Demo | undefined;
    const observer = new AbortController();
    let observed: Promise<void> | undefined;
    const killedChecks = new Set<string>(); // heartbeat services of the SIGKILLed worker
    const prefix = `consul-recipes-demo/${randomBytes(3).toString('hex')}`;
    let settings = DEV_SETTINGS;
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      interrupted = signal;
      demo?.deadline.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      io.out('consul-recipes demo: leader election and a lock across three worker processes\n');
      let address: string;
      if (external === undefined) {
        server = await startDevServer({ port: 0, host: '127.0.0.1', sessionTtlMin: '1s' });
        address = server.url;
        io.out(`Consul    embedded dev server at ${address} (session_ttl_min lowered to 1s)`);
      } else {
        settings = AGENT_SETTINGS;
        coord = connect(values);
        address = coord.address;
        io.out(`Consul    the agent at ${address} (${values.address !== undefined ? '--address' : 'CONSUL_HTTP_ADDR'})`);
      }
      coord ??= connect({ ...values, address });
      const electionKey = `${prefix}/leader`;
      const lockKey = `${prefix}/job/.lock`;
      io.out(`Keys      ${electionKey} (election), ${lockKey} (lock)`);
      io.out(
        `Settings  session TTL ${settings.ttl}, health-check TTL ${settings.healthCheckTtl} (how fast a crash is noticed), ` +
          `lock-delay ${settings.lockDelay}`,
      );
      io.out(`          expected failover after a crash: about ${settings.healthCheckTtl} + ${settings.lockDelay}; after a clean stop: a few ms\n`);

      // Workers get the address and token through the environment, never on their command line.
      const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: address };
      if (values.token !== undefined) env.CONSUL_HTTP_TOKEN = values.token;
      if (values.datacenter !== undefined) env.CONSUL_DATACENTER = values.datacenter;
      if (values['ca-file'] !== undefined) env.CONSUL_CACERT = values['ca-file'];
      const d = new Demo(io, fileURLToPath(import.meta.url), env);
      demo = d;
      const deadline = setTimeout(() => d.deadline.abort(), DEADLINE_MS);
      deadline.unref();
      if (interrupted) d.deadline.abort();
      d.line(server ? 'dev server ready' : 'agent reachable');

      const holderOf = new Map<string, string>(); // session → worker id
      const describe = (a: Arrival): string | undefined => {
        const r = a.report;
        switch (r.type) {
          case 'started':
            return `${a.worker.id} started (pid ${r.pid})`;
          case 'waiting':
            return `${a.worker.id} waits for the ${r.what} (blocking query)`;
          case 'elected':
            holderOf.set(r.sessionId, a.worker.id);
            return `${a.worker.id} is the LEADER (term ${r.token})`;
          case 'acquired':
            holderOf.set(r.sessionId, a.worker.id);
            return `${a.worker.id} holds the LOCK (fencing token ${r.token})`;
          case 'deposed':
            return `${a.worker.id} deposed (${r.reason})`;
          case 'lost':
            return `${a.worker.id} lost the lock (${r.reason})`;
          case 'stopping':
            return `${a.worker.id} got ${r.signal}: resigning and releasing`;
          case 'stopped':
            return `${a.worker.id} resigned, released, closed its sessions`;
          case 'error':
            return `${a.worker.id} error: ${r.message}`;
        }
      };
      const config = (id: string): DemoWorkerConfig => ({
        id,
        electionKey,
        lockKey,
        ttl: settings.ttl,
        healthCheckTtl: settings.healthCheckTtl,
        lockDelay: settings.lockDelay,
      });
      const is = (type: DemoReport['type'], worker?: Worker) => (a: Arrival) => a.report.type === type && (worker === undefined || a.worker === worker);

      // Consul's own view of the two keys, to show when it lets go of a crashed holder.
      let crashPhase: { victim: Worker } | undefined;
      observed = (async () => {
        const api = coord.api;
        let last = new Map<string, string | undefined>();
        const reads = blockingQuery<KVPair[]>(
          async ({ index, waitMs, signal }) => {
            const { pairs, meta } = await api.kv.list(`${prefix}/`, { index, waitMs, signal });
            return { value: pairs, meta };
          },
          { signal: observer.signal, waitMs: 30_000 },
        );
        for await (const { value } of reads) {
          const now = new Map(value.map((p) => [p.key, p.session]));
          for (const [key, label] of [
            [electionKey, 'the leader key is deleted'],
            [lockKey, 'the lock is released'],
          ] as const) {
            const before = last.get(key);
            if (crashPhase && before !== undefined && holderOf.get(before) === crashPhase.victim.id && now.get(key) !== before) {
              d.line(`Consul invalidated ${crashPhase.victim.id}'s session (health check expired): ${label}`);
            }
          }
          last = now;
        }
      })().catch((err: unknown) => {
        if (!observer.signal.aborted) io.err(`consul-recipes demo: warning: observer stopped: ${explain(err)}`);
      });

      // Step 1: worker-1 alone takes both.
      let from = d.mark();
      const w1 = d.spawn(config('worker-1'), describe);
      const [firstTerm] = await Promise.all([d.waitFor(is('elected', w1), 'election of worker-1', from), d.waitFor(is('acquired', w1), 'lock for worker-1', from)]);

      // Step 2: two more workers queue up behind it.
      from = d.mark();
      const w2 = d.spawn(config('worker-2'), describe);
      const w3 = d.spawn(config('worker-3'), describe);
      await Promise.all(
        [w2, w3].flatMap((w) => [
          d.waitFor((a) => a.worker === w && a.report.type === 'waiting' && a.report.what === 'leadership', `${w.id} waiting for leadership`, from),
          d.waitFor((a) => a.worker === w && a.report.type === 'waiting' && a.report.what === 'lock', `${w.id} waiting for the lock`, from),
        ]),
      );
      d.note(`worker-1 leads (term ${(firstTerm.report as { token: number }).token}) and holds the lock; the others wait on blocking queries.`);
      await d.pause(PAUSE_MS);

      // Step 3: crash the leader.
      for (const id of w1.sessions) {
        // On a real agent a SIGKILLed worker's health checks would stay behind (critical): note them.
        // Best effort: without it a real agent keeps a critical check of the killed worker.
        const { session } = await coord.api.sessions.info(id).catch(() => ({ session: null }));
        for (const check of session?.ServiceChecks ?? []) {
          // The heartbeat check belongs to a service `consul-recipes-session-<uuid>` (see Session).
          if (check.ID.startsWith('consul-recipes:session:')) killedChecks.add(`consul-recipes-session-${check.ID.slice('consul-recipes:session:'.length)}`);
        }
      }
      from = d.mark();
      crashPhase = { victim: w1 };
      const killedAt = d.now();
      w1.child.kill('SIGKILL');
      d.line('SIGKILL worker-1 (leader and lock holder): it cannot resign or release anything', killedAt);
      const others = (a: Arrival): boolean => a.worker !== w1;
      const nextLeader = d.waitFor((a) => others(a) && a.report.type === 'elected', 'a new leader after the crash', from);
      const nextHolder = d.waitFor((a) => others(a) && a.report.type === 'acquired', 'a new lock holder after the crash', from);
      const [elected2, acquired2] = await d.withProgress(
        Promise.all([nextLeader, nextHolder]),
        (ms) =>
          ms < settings.healthCheckTtlMs
            ? `Consul still trusts worker-1's sessions until their health checks expire (${settings.healthCheckTtl} without a heartbeat)`
            : `then Consul refuses the keys for lock-delay (${settings.lockDelay}) so a late write from worker-1 cannot interleave`,
        killedAt,
      );
      crashPhase = undefined;
      const failover = elected2.at - killedAt;
      const lockFailover = acquired2.at - killedAt;
      d.note(`failover after the crash: ${seconds(failover)} to a new leader, ${seconds(lockFailover)} to a new lock holder`);
      await w1.exited;
      await d.pause(PAUSE_MS);

      // Step 4: stop the new leader cleanly.
      const leader2 = elected2.worker;
      const heldLock = acquired2.worker === leader2;
      const last = [w2, w3].find((w) => w !== leader2) as Worker;
      from = d.mark();
      const termAt = d.now();
      leader2.child.kill('SIGTERM');
      d.line(
        `SIGTERM ${leader2.id} (the leader${heldLock ? ' and lock holder' : ''}): it resigns${heldLock ? ' and releases the lock' : ''} before exiting`,
        termAt,
      );
      const handoffs = [d.waitFor(is('elected', last), `${last.id} elected after the SIGTERM`, from)];
      if (heldLock) handoffs.push(d.waitFor(is('acquired', last), `${last.id} holding the lock after the SIGTERM`, from));
      const [elected3, acquired3] = await d.withProgress(Promise.all(handoffs), () => 'waiting for the hand-over', termAt);
      const exit2 = await leader2.exited;
      d.line(`${leader2.id} exited (code ${exit2.code ?? exit2.signal})`);
      const handoff = (elected3 as Arrival).at - termAt;
      const lockHandoff = acquired3 ? acquired3.at - termAt : undefined;
      d.note(
        `hand-over after SIGTERM: ${seconds(handoff)} to the next leader` +
          (lockHandoff !== undefined ? `, ${seconds(lockHandoff)} to the next lock holder` : ` (the lock stayed with ${acquired2.worker.id})`),
      );

      io.out('\nResults');
      const row = (label: string, value: string, why: string): void => io.out(`  ${label.padEnd(32)} ${value.padStart(9)}   ${why}`);
      row('leader failover after SIGKILL', seconds(failover), `health-check TTL ${settings.healthCheckTtl} + lock-delay ${settings.lockDelay} + a retry`);
      row('lock failover after SIGKILL', seconds(lockFailover), 'the same: session invalidated, then lock-delay');
      row('leader hand-over after SIGTERM', seconds(handoff), 'resign deletes the key: no lock-delay, waiters wake at once');
      row('lock hand-over after SIGTERM', lockHandoff !== undefined ? seconds(lockHandoff) : '-', lockHandoff !== undefined ? 'a clean release sets no lock-delay' : `${leader2.id} did not hold the lock`);
      io.out('');
      clearTimeout(deadline);
      return EXIT.OK;
    } catch (err) {
      if (interrupted) {
        io.err(`consul-recipes demo: ${interrupted} received, stopping`);
        return signalExitCode(interrupted);
      }
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (demo?.workers.some((w) => w.alive)) demo.line('stopping the remaining workers (SIGTERM)');
      const stopped = demo ? await demo.stopAll() : 0;
      observer.abort();
      await observed;
      if (coord) {
        if (!server) {
          // A real agent: leave nothing of ours behind.
          // Best effort: a failure here only leaves demo keys or a critical check behind; say so.
          await coord.api.kv.delete(`${prefix}/`, { recurse: true }).catch((err: unknown) => io.err(`consul-recipes demo: warning: could not delete ${prefix}/: ${explain(err)}`));
          // Consul would reap the killed worker's heartbeat services after a minute; do not wait.
          for (const service of killedChecks) {
            await coord.api.services.deregister(service).catch((err: unknown) => io.err(`consul-recipes demo: warning: could not deregister service ${service}: ${explain(err)}`));
          }
        }
        await coord.close();
      }
      if (server) await server.close();
      io.out(`Stopped ${stopped} remaining worker${stopped === 1 ? '' : 's'}${server ? ', closed the dev server' : `, deleted ${prefix}/`}. Nothing is left running.`);
    }
  });
}
