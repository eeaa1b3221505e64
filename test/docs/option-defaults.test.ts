/**
 * Docs cannot drift from code: every `@default` tag of every public options interface (own and
 * inherited members, read with the TypeScript checker from the sources) is either compared with
 * the DEFAULTS constant the code really uses, or listed below as a default that is not a
 * constant (an environment variable, "none", a rule), with the reason. A new `@default` that is
 * in neither list fails the test, so it has to be wired up here.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_WATCHER_DEFAULTS,
  COORDINATOR_DEFAULTS,
  DISCOVERY_DEFAULTS,
  ELECTION_DEFAULTS,
  EVENTS_DEFAULTS,
  FAILOVER_DEFAULTS,
  LOCK_DEFAULTS,
  SEMAPHORE_DEFAULTS,
  SERVICE_DEFAULTS,
  SESSION_DEFAULTS,
  QUEUE_DEFAULTS,
  COUNTER_DEFAULTS,
  BARRIER_DEFAULTS,
  DOUBLE_BARRIER_DEFAULTS,
  RWLOCK_DEFAULTS,
} from '../../src/index.js';
import { toMs } from '../../src/internal/duration.js';

const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

/** The options interfaces of the public API, each with the constants its defaults must equal. */
const CHECKED: Record<string, Record<string, unknown>> = {
  CoordinatorOptions: { timeout: COORDINATOR_DEFAULTS.timeoutMs },
  SessionOptions: {
    name: SESSION_DEFAULTS.name,
    ttl: SESSION_DEFAULTS.ttlMs,
    lockDelay: SESSION_DEFAULTS.lockDelayMs,
    behavior: SESSION_DEFAULTS.behavior,
    checks: SESSION_DEFAULTS.checks,
  },
  LockOptions: {
    ttl: LOCK_DEFAULTS.ttlMs,
    lockDelay: LOCK_DEFAULTS.lockDelayMs,
    sessionName: LOCK_DEFAULTS.sessionName,
    monitorRetries: LOCK_DEFAULTS.monitorRetries,
    waitTime: LOCK_DEFAULTS.waitTimeMs,
    retryTime: LOCK_DEFAULTS.retryTimeMs,
    fair: LOCK_DEFAULTS.fair,
  },
  SemaphoreOptions: {
    ttl: SEMAPHORE_DEFAULTS.ttlMs,
    lockDelay: SEMAPHORE_DEFAULTS.lockDelayMs,
    sessionName: SEMAPHORE_DEFAULTS.sessionName,
    monitorRetries: SEMAPHORE_DEFAULTS.monitorRetries,
    waitTime: SEMAPHORE_DEFAULTS.waitTimeMs,
    checks: [],
    fair: SEMAPHORE_DEFAULTS.fair,
  },
  ElectionOptions: {
    ttl: ELECTION_DEFAULTS.ttlMs,
    lockDelay: ELECTION_DEFAULTS.lockDelayMs,
    sessionName: ELECTION_DEFAULTS.sessionName,
    monitorRetries: ELECTION_DEFAULTS.monitorRetries,
    waitTime: ELECTION_DEFAULTS.waitTimeMs,
    retryTime: ELECTION_DEFAULTS.retryTimeMs,
  },
  ConfigWatcherOptions: { decode: CONFIG_WATCHER_DEFAULTS.decode, wait: CONFIG_WATCHER_DEFAULTS.waitMs },
  ServiceWatcherOptions: { passingOnly: DISCOVERY_DEFAULTS.passingOnly, wait: DISCOVERY_DEFAULTS.waitMs, pollInterval: FAILOVER_DEFAULTS.pollIntervalMs },
  ResolveOptions: { passingOnly: DISCOVERY_DEFAULTS.passingOnly },
  EventWatchOptions: { history: EVENTS_DEFAULTS.history, wait: EVENTS_DEFAULTS.waitMs },
  RegisterServiceOptions: { reconcileInterval: SERVICE_DEFAULTS.reconcileIntervalMs, tags: [], meta: {} },
  AcquireOptions: {},
  ReadyOptions: {},
  QueueOptions: {
    ttl: QUEUE_DEFAULTS.ttlMs,
    lockDelay: QUEUE_DEFAULTS.lockDelayMs,
    sessionName: QUEUE_DEFAULTS.sessionName,
    waitTime: QUEUE_DEFAULTS.waitTimeMs,
    maxAttempts: QUEUE_DEFAULTS.maxAttempts,
  },
  PutOptions: { priority: QUEUE_DEFAULTS.priority, delay: QUEUE_DEFAULTS.delayMs },
  NackOptions: { delay: QUEUE_DEFAULTS.delayMs },
  ConsumeOptions: { concurrency: QUEUE_DEFAULTS.concurrency },
  WaitOptions: {},
  CounterOptions: { maxRetries: COUNTER_DEFAULTS.maxRetries },
  BarrierOptions: { waitTime: BARRIER_DEFAULTS.waitTimeMs },
  ReadWriteLockOptions: {
    ttl: RWLOCK_DEFAULTS.ttlMs,
    lockDelay: RWLOCK_DEFAULTS.lockDelayMs,
    sessionName: RWLOCK_DEFAULTS.sessionName,
    monitorRetries: RWLOCK_DEFAULTS.monitorRetries,
    waitTime: RWLOCK_DEFAULTS.waitTimeMs,
    checks: [],
  },
  DoubleBarrierOptions: {
    ttl: DOUBLE_BARRIER_DEFAULTS.ttlMs,
    sessionName: DOUBLE_BARRIER_DEFAULTS.sessionName,
    waitTime: DOUBLE_BARRIER_DEFAULTS.waitTimeMs,
  },
};

/** Defaults that are not constants, and why. */
const NOT_CONSTANTS: Record<string, string> = {
  'CoordinatorOptions.address': 'the environment first (CONSUL_HTTP_ADDR), then Consul’s own default; tested in test/coordinator',
  'CoordinatorOptions.token': 'the environment',
  'CoordinatorOptions.datacenter': 'the agent’s',
  'CoordinatorOptions.ca': 'the environment',
  'CoordinatorOptions.cert': 'the environment',
  'CoordinatorOptions.key': 'the environment',
  'CoordinatorOptions.tlsServerName': 'the environment',
  'CoordinatorOptions.tlsSkipVerify': 'the environment',
  'CoordinatorOptions.logger': 'silent',
  'CoordinatorOptions.retry': 'an object; compared member by member below',
  'SessionOptions.healthCheckTtl': 'none',
  'LockOptions.value': 'empty',
  'LockOptions.session': 'a new session per acquisition',
  'LockOptions.healthCheckTtl': 'none',
  'LockOptions.checks': 'a rule (defaultHolderChecks), tested in test/recipes/holder-checks',
  'SemaphoreOptions.value': 'empty',
  'SemaphoreOptions.session': 'a new session per acquisition',
  'SemaphoreOptions.healthCheckTtl': 'none',
  'ElectionOptions.value': 'empty',
  'ElectionOptions.decode': "'auto', a rule of the leader-key decoder",
  'ElectionOptions.session': 'a new session per campaign',
  'ElectionOptions.healthCheckTtl': 'none',
  'ElectionOptions.checks': 'a rule (defaultHolderChecks), tested in test/recipes/holder-checks',
  'ConfigWatcherOptions.signal': 'none',
  'ConfigWatcherOptions.dc': 'the Coordinator’s datacenter (no ?dc=)',
  'ServiceWatcherOptions.dc': 'the Coordinator’s datacenter (no ?dc=)',
  'ServiceWatcherOptions.failover': 'no failover',
  'ResolveOptions.dc': 'the Coordinator’s datacenter (no ?dc=)',
  'ResolveOptions.failover': 'no failover',
  'ServiceWatcherOptions.tag': 'none',
  'ServiceWatcherOptions.signal': 'none',
  'ResolveOptions.tag': 'none',
  'ResolveOptions.timeout': 'no overall deadline',
  'RegisterServiceOptions.id': 'derived from the name',
  'RegisterServiceOptions.address': 'the node’s address',
  'RegisterServiceOptions.port': 'none',
  'RegisterServiceOptions.check': 'none',
  'RegisterServiceOptions.deregisterCriticalServiceAfter': 'never',
  'RegisterServiceOptions.initialStatus': 'a rule by check kind',
  'AcquireOptions.timeout': 'no timeout',
  'ReadyOptions.timeout': 'no limit',
  'QueueOptions.healthCheckTtl': 'none',
  'QueueOptions.checks': 'a rule (defaultHolderChecks), tested in test/recipes/holder-checks',
  'QueueOptions.deadLetter': 'derived from the prefix',
  'WaitOptions.timeout': 'no timeout',
  'DoubleBarrierOptions.healthCheckTtl': 'none',
  'ReadWriteLockOptions.healthCheckTtl': 'none',
};

interface Documented {
  readonly name: string;
  readonly text: string;
}

/** Every member of every checked interface with its `@default` text (inherited members included). */
function documentedDefaults(): Map<string, Documented[]> {
  const program = ts.createProgram([entry], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  if (!source) throw new Error('src/index.ts not found');
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error('src/index.ts has no exports');
  const found = new Map<string, Documented[]>();
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    if (!(exported.name in CHECKED)) continue;
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const members: Documented[] = [];
    for (const property of checker.getPropertiesOfType(type)) {
      const tag = property.getJsDocTags(checker).find((t) => t.name === 'default');
      if (!tag) continue;
      members.push({ name: property.name, text: ts.displayPartsToString(tag.text).trim() });
    }
    found.set(exported.name, members);
  }
  return found;
}

/** The value a `@default` text stands for: a duration in ms, a number, a boolean, a string, an array, an object. */
function parseDefault(text: string, expected: unknown): unknown {
  const literal = text.split(/\s+\(|\s+—/)[0]!.trim();
  if (typeof expected === 'number' && /^'.*'$/.test(literal)) return toMs('default', literal.slice(1, -1));
  if (/^'.*'$/.test(literal)) return literal.slice(1, -1);
  return JSON.parse(literal.replace(/'/g, '"'));
}

const documented = documentedDefaults();

describe('every @default of the public options', () => {
  it('finds every options interface it checks', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(CHECKED).sort());
  });

  for (const [iface, constants] of Object.entries(CHECKED)) {
    describe(iface, () => {
      it('documents the value the code uses, for each default that is a constant', () => {
        const members = documented.get(iface) ?? [];
        for (const { name, text } of members) {
          const key = `${iface}.${name}`;
          if (key in NOT_CONSTANTS) continue;
          expect(constants, `${key}: @default ${text} has no constant to compare with`).toHaveProperty([name]);
          expect(parseDefault(text, constants[name]), `${key}: @default ${text}`).toEqual(constants[name]);
        }
        for (const name of Object.keys(constants)) {
          expect(members.map((m) => m.name), `${iface}.${name} has no @default tag`).toContain(name);
        }
      });
    });
  }

  it('documents the Coordinator retry policy the code uses', () => {
    const retry = documented.get('CoordinatorOptions')?.find((m) => m.name === 'retry');
    const { retries, minTimeoutMs, maxTimeoutMs } = COORDINATOR_DEFAULTS.retry;
    expect(retry?.text).toBe(`{ retries: ${retries}, minTimeout: ${minTimeoutMs}, maxTimeout: ${maxTimeoutMs} }`);
  });

  it('lists no exemption for an option that is gone', () => {
    for (const key of Object.keys(NOT_CONSTANTS)) {
      const [iface, name] = key.split('.') as [string, string];
      expect(documented.get(iface)?.map((m) => m.name), key).toContain(name);
    }
  });
});
