/**
 * Graceful shutdown on process signals, for the election's `resignOnSignals()`.
 *
 * Why it matters: a worker killed by SIGTERM without resigning leaves its key to be freed by
 * Consul — after the session TTL (up to 2×ttl) or the health check TTL, and then lock-delay. A
 * worker that resigns first deletes the key itself, and the next campaigner is elected within a
 * round trip.
 *
 * Rules: the first signal runs the shutdown once; the handlers are removed at once, so a second
 * signal gets Node's default action (terminate) — the usual "press Ctrl-C twice". The shutdown is
 * bounded by a timeout: past it the process exits anyway (Consul expires what was left).
 */
import { constants } from 'node:os';
import { ConfigError } from '../../errors.js';
import { describe, toMs } from '../../internal/duration.js';

/** Defaults, each with its reason. */
export const SHUTDOWN_DEFAULTS = Object.freeze({
  /** The signals a process manager (systemd, Kubernetes, Docker) or a terminal sends to stop. */
  signals: Object.freeze(['SIGTERM', 'SIGINT']) as readonly NodeJS.Signals[],
  /** Below Kubernetes' default 30 s grace period, so we exit before SIGKILL arrives. */
  timeoutMs: 10_000,
  /** The shutdown completed as asked: a success. */
  exitCode: 0,
});

export interface ShutdownOptions {
  /** Exit the process once done (after `beforeExit`). @default true */
  exit?: boolean;
  /** Exit code when `exit` is true. @default 0 */
  exitCode?: number;
  /** Bound on resign + close + `beforeExit` (duration string or ms). @default '10s' */
  timeout?: string | number;
  /** Runs after the election is closed, before exiting (close the Coordinator, flush logs…). */
  beforeExit?: (signal: NodeJS.Signals) => void | Promise<void>;
}

export interface ResolvedShutdownOptions {
  signals: readonly NodeJS.Signals[];
  exit: boolean;
  exitCode: number;
  timeoutMs: number;
  beforeExit: ((signal: NodeJS.Signals) => void | Promise<void>) | undefined;
}

/** Validates the signals and options synchronously; throws {@link ConfigError}. */
export function resolveShutdownOptions(signals: unknown, options: ShutdownOptions = {}): ResolvedShutdownOptions {
  const list = signals ?? SHUTDOWN_DEFAULTS.signals;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== 'string' || !(s in constants.signals))) {
    throw new ConfigError(`signals must be a non-empty array of signal names such as 'SIGTERM', got ${describe(signals)}`, 'signals');
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`shutdown options must be an object, got ${describe(options)}`, 'options');
  }
  const exitCode = options.exitCode ?? SHUTDOWN_DEFAULTS.exitCode;
  if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
    throw new ConfigError(`option "exitCode" must be an integer 0..255, got ${describe(exitCode)}`, 'exitCode');
  }
  if (options.beforeExit !== undefined && typeof options.beforeExit !== 'function') {
    throw new ConfigError(`option "beforeExit" must be a function, got ${describe(options.beforeExit)}`, 'beforeExit');
  }
  return {
    signals: [...(list as NodeJS.Signals[])],
    exit: options.exit ?? true,
    exitCode,
    timeoutMs: options.timeout === undefined ? SHUTDOWN_DEFAULTS.timeoutMs : toMs('timeout', options.timeout, { min: 1 }),
    beforeExit: options.beforeExit,
  };
}

/**
 * Runs `shutdown(signal)` on the first of `signals`, then `beforeExit`, then exits if asked.
 * Returns a function that removes the handlers (when the caller shuts down by other means).
 */
export function installShutdown(
  o: ResolvedShutdownOptions,
  shutdown: (signal: NodeJS.Signals) => Promise<void>,
  report: (err: unknown) => void,
): () => void {
  let started = false;
  const remove = (): void => {
    for (const s of o.signals) process.off(s, handler);
  };
  function handler(signal: NodeJS.Signals): void {
    if (started) return;
    started = true;
    remove();
    const work = (async () => {
      await shutdown(signal);
      await o.beforeExit?.(signal);
    })();
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        report(new Error(`shutdown did not finish within ${o.timeoutMs}ms; exiting anyway`));
        resolve();
      }, o.timeoutMs);
    });
    void Promise.race([work.catch(report), bounded]).then(() => {
      clearTimeout(timer);
      if (o.exit) process.exit(o.exitCode);
    });
  }
  for (const s of o.signals) process.on(s, handler);
  return remove;
}
