/**
 * ServiceRegistration's options: types, defaults, validation (`resolveServiceOptions`, run once
 * at the boundary) and the agent definition built from the resolved form.
 */
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { describe, formatDurationMs, toMs } from '../../internal/duration.js';
import { checkOptions, checkLocalOptions } from '../../internal/options.js';
import type { CheckStatus, ServiceCheckDefinition, ServiceDefinition } from '../../transport/services.js';

/** The names `registerService()` accepts. */
const SERVICE_OPTION_NAMES = Object.freeze([
  'name',
  'id',
  'address',
  'port',
  'tags',
  'meta',
  'check',
  'deregisterCriticalServiceAfter',
  'initialStatus',
  'reconcileInterval',
  'signal',
]);

/** Defaults, each with its reason. */
export const SERVICE_DEFAULTS = Object.freeze({
  /**
   * Heartbeat every ttl/3: Consul expires the check exactly at its TTL, so two more heartbeats can
   * fail (or arrive late) before it turns critical.
   */
  heartbeatFraction: 1 / 3,
  /** A process that registers is up: TTL checks start passing rather than Consul's critical. */
  initialStatus: 'passing' as CheckStatus,
  /** Agent restarts are rare; checking twice a minute costs one local GET and bounds the outage. */
  reconcileIntervalMs: 30_000,
  /** Failed heartbeats are retried soon: the TTL keeps running. */
  retryMinMs: 100,
  /** A heartbeat request may take this long at least, however short the TTL. */
  minRequestTimeoutMs: 1_000,
});

export const STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];

/** The check the agent keeps on the instance. Exactly one of `ttl`, `http`, `tcp`, `args`. */
export type ServiceCheckOptions =
  | { ttl: string | number; notes?: string }
  | {
      http: string;
      interval: string | number;
      /** @default '10s' (Consul's) */
      timeout?: string | number;
      /** @default 'GET' */
      method?: string;
      header?: Record<string, string[]>;
      tlsSkipVerify?: boolean;
      notes?: string;
    }
  | { tcp: string; interval: string | number; /** @default '10s' (Consul's) */ timeout?: string | number; notes?: string }
  /**
   * A script the agent runs (only when it enables script checks, else the registration fails):
   * exit 0 passing, 1 warning, anything else critical.
   */
  | { args: readonly string[]; interval: string | number; /** @default '30s' (Consul's) */ timeout?: string | number; notes?: string };

export interface RegisterServiceOptions {
  /** Service name (what discovery looks up). Required. */
  name: string;
  /** Instance ID, unique on the agent. @default `<name>-<8 random hex digits>` */
  id?: string;
  /** Address to reach the instance. @default the node's address (Consul fills it in) */
  address?: string;
  /** @default none */
  port?: number;
  /** @default [] */
  tags?: readonly string[];
  /** @default {} */
  meta?: Readonly<Record<string, string>>;
  /** The health check. @default none: the instance always counts as passing */
  check?: ServiceCheckOptions;
  /**
   * Remove the instance once its check has been critical this long (Consul raises it to at least
   * 1 minute and reaps every 30 s). Needs `check`. @default never
   */
  deregisterCriticalServiceAfter?: string | number;
  /**
   * The TTL check's status at registration. HTTP/TCP checks start as Consul decides (critical
   * until the first probe) unless this is given. @default 'passing' for TTL checks
   */
  initialStatus?: CheckStatus;
  /** How often a registration without a TTL check verifies the agent still has it. @default '30s' */
  reconcileInterval?: string | number;
  /** Cancels the registration call (a registration that landed meanwhile is removed again). */
  signal?: AbortSignal;
}

export type ResolvedCheck =
  | { kind: 'ttl'; ttlMs: number; notes: string | undefined }
  | {
      kind: 'http';
      url: string;
      intervalMs: number;
      timeoutMs: number | undefined;
      method: string | undefined;
      header: Record<string, string[]> | undefined;
      tlsSkipVerify: boolean | undefined;
      notes: string | undefined;
    }
  | { kind: 'tcp'; address: string; intervalMs: number; timeoutMs: number | undefined; notes: string | undefined }
  | { kind: 'args'; args: string[]; intervalMs: number; timeoutMs: number | undefined; notes: string | undefined };

export interface ResolvedServiceOptions {
  name: string;
  id: string;
  address: string | undefined;
  port: number | undefined;
  tags: string[];
  meta: Record<string, string>;
  check: ResolvedCheck | undefined;
  deregisterAfterMs: number | undefined;
  initialStatus: CheckStatus | undefined;
  reconcileIntervalMs: number;
  signal: AbortSignal | undefined;
}


function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigError(`option "${option}" must be a non-empty string, got ${describe(value)}`, option);
  }
  return value;
}

const CHECK_OPTION_NAMES = Object.freeze({
  ttl: ['ttl', 'notes', 'interval'],
  http: ['http', 'interval', 'timeout', 'method', 'header', 'tlsSkipVerify', 'notes'],
  tcp: ['tcp', 'interval', 'timeout', 'notes'],
  args: ['args', 'interval', 'timeout', 'notes'],
});

function resolveCheck(check: unknown): ResolvedCheck | undefined {
  if (check === undefined) return undefined;
  if (check === null || typeof check !== 'object') {
    throw new ConfigError(`option "check" must be an object, got ${describe(check)}`, 'check');
  }
  const c = check as Record<string, unknown>;
  const kinds = (['ttl', 'http', 'tcp', 'args'] as const).filter((k) => c[k] !== undefined);
  if (kinds.length !== 1) {
    throw new ConfigError(`option "check" must have exactly one of ttl, http, tcp or args, got ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`, 'check');
  }
  // `interval` is known to a TTL check only to be refused below with a better message.
  checkOptions(c, CHECK_OPTION_NAMES[kinds[0] as keyof typeof CHECK_OPTION_NAMES], `registerService() check (${kinds[0]})`);
  const notes = optionalString('check.notes', c.notes);
  if (kinds[0] === 'ttl') {
    if (c.interval !== undefined) throw new ConfigError('option "check.interval" cannot be combined with "check.ttl"', 'check.interval');
    return { kind: 'ttl', ttlMs: toMs('check.ttl', c.ttl, { min: 1 }), notes };
  }
  if (c.interval === undefined) {
    throw new ConfigError(`option "check.interval" is required for ${kinds[0]} checks`, 'check.interval');
  }
  const intervalMs = toMs('check.interval', c.interval, { min: 1 });
  const timeoutMs = c.timeout === undefined ? undefined : toMs('check.timeout', c.timeout, { min: 1 });
  if (kinds[0] === 'http') {
    const url = optionalString('check.http', c.http) as string;
    if (!/^https?:\/\//i.test(url)) throw new ConfigError(`option "check.http" must be an http(s) URL, got ${describe(url)}`, 'check.http');
    if (c.header !== undefined && (c.header === null || typeof c.header !== 'object')) {
      throw new ConfigError('option "check.header" must map header names to arrays of values', 'check.header');
    }
    if (c.tlsSkipVerify !== undefined && typeof c.tlsSkipVerify !== 'boolean') {
      throw new ConfigError('option "check.tlsSkipVerify" must be a boolean', 'check.tlsSkipVerify');
    }
    return {
      kind: 'http',
      url,
      intervalMs,
      timeoutMs,
      method: optionalString('check.method', c.method),
      header: c.header as Record<string, string[]> | undefined,
      tlsSkipVerify: c.tlsSkipVerify as boolean | undefined,
      notes,
    };
  }
  if (kinds[0] === 'args') {
    const args = c.args;
    if (!Array.isArray(args) || args.length === 0 || args.some((a) => typeof a !== 'string')) {
      throw new ConfigError(`option "check.args" must be a non-empty array of strings, got ${describe(args)}`, 'check.args');
    }
    return { kind: 'args', args: [...(args as string[])], intervalMs, timeoutMs, notes };
  }
  const address = optionalString('check.tcp', c.tcp) as string;
  if (!/^.+:\d+$/.test(address)) throw new ConfigError(`option "check.tcp" must be "host:port", got ${describe(address)}`, 'check.tcp');
  return { kind: 'tcp', address, intervalMs, timeoutMs, notes };
}

/** Validates and converts registration options synchronously; throws {@link ConfigError}. */
export function resolveServiceOptions(options: RegisterServiceOptions): ResolvedServiceOptions {
  checkLocalOptions(options, SERVICE_OPTION_NAMES, 'registerService()', 'a service registers with the local agent, which syncs it to its own datacenter; register it through an agent of the other datacenter');
  const name = optionalString('name', options.name);
  if (name === undefined || name.includes('/')) {
    throw new ConfigError(`option "name" must be a non-empty string without '/', got ${describe(options.name)}`, 'name');
  }
  const id = optionalString('id', options.id) ?? `${name}-${randomUUID().slice(0, 8)}`;
  if (id.includes('/')) throw new ConfigError(`option "id" must not contain '/', got ${describe(id)}`, 'id');
  const address = optionalString('address', options.address);
  if (address === '0.0.0.0' || address === '::') {
    throw new ConfigError(`option "address" must be a reachable address, got ${describe(address)} (Consul refuses it)`, 'address');
  }
  const port = options.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new ConfigError(`option "port" must be an integer between 0 and 65535, got ${describe(port)}`, 'port');
  }
  const tags = options.tags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) {
    throw new ConfigError(`option "tags" must be an array of strings, got ${describe(tags)}`, 'tags');
  }
  const meta = options.meta ?? {};
  if (meta === null || typeof meta !== 'object' || Object.values(meta).some((v) => typeof v !== 'string')) {
    throw new ConfigError('option "meta" must map keys to string values', 'meta');
  }
  const check = resolveCheck(options.check);
  let deregisterAfterMs: number | undefined;
  if (options.deregisterCriticalServiceAfter !== undefined) {
    if (!check) throw new ConfigError('option "deregisterCriticalServiceAfter" needs option "check"', 'deregisterCriticalServiceAfter');
    deregisterAfterMs = toMs('deregisterCriticalServiceAfter', options.deregisterCriticalServiceAfter, { min: 1 });
  }
  const initialStatus = options.initialStatus ?? (check?.kind === 'ttl' ? SERVICE_DEFAULTS.initialStatus : undefined);
  if (initialStatus !== undefined && !STATUSES.includes(initialStatus)) {
    throw new ConfigError(`option "initialStatus" must be 'passing', 'warning' or 'critical', got ${describe(initialStatus)}`, 'initialStatus');
  }
  if (initialStatus !== undefined && check === undefined) {
    throw new ConfigError('option "initialStatus" needs option "check"', 'initialStatus');
  }
  return {
    name,
    id,
    address,
    port,
    tags: [...tags],
    meta: { ...meta },
    check,
    deregisterAfterMs,
    initialStatus,
    reconcileIntervalMs:
      options.reconcileInterval === undefined
        ? SERVICE_DEFAULTS.reconcileIntervalMs
        : toMs('reconcileInterval', options.reconcileInterval, { min: 1 }),
    signal: options.signal,
  };
}

/** The agent's check ID for the instance's one check (also Consul's default for a single check). */
export function serviceCheckId(serviceId: string): string {
  return `service:${serviceId}`;
}

/** How often a TTL check is heartbeated. */
export function heartbeatIntervalMs(ttlMs: number): number {
  return ttlMs * SERVICE_DEFAULTS.heartbeatFraction;
}

/**
 * The registration body. `status` is the check's status to register with (a TTL check's current
 * health on re-registration); Consul keeps an existing check's status regardless.
 */
export function buildServiceDefinition(o: ResolvedServiceOptions, status: CheckStatus | undefined): ServiceDefinition {
  const definition: ServiceDefinition = { ID: o.id, Name: o.name, Tags: [...o.tags], Meta: { ...o.meta } };
  if (o.address !== undefined) definition.Address = o.address;
  if (o.port !== undefined) definition.Port = o.port;
  const c = o.check;
  if (c) {
    const check: ServiceCheckDefinition = { CheckID: serviceCheckId(o.id), Name: `Service '${o.name}' check` };
    if (c.notes !== undefined) check.Notes = c.notes;
    if (status !== undefined) check.Status = status;
    if (c.kind === 'ttl') {
      check.TTL = formatDurationMs(c.ttlMs);
    } else {
      if (c.kind === 'http') {
        check.HTTP = c.url;
        if (c.method !== undefined) check.Method = c.method;
        if (c.header !== undefined) check.Header = c.header;
        if (c.tlsSkipVerify !== undefined) check.TLSSkipVerify = c.tlsSkipVerify;
      } else if (c.kind === 'args') {
        check.Args = [...c.args];
      } else {
        check.TCP = c.address;
      }
      check.Interval = formatDurationMs(c.intervalMs);
      if (c.timeoutMs !== undefined) check.Timeout = formatDurationMs(c.timeoutMs);
    }
    if (o.deregisterAfterMs !== undefined) {
      // Sent as given: the agent raises it to its own floor (1 minute on a standard agent).
      check.DeregisterCriticalServiceAfter = formatDurationMs(o.deregisterAfterMs);
    }
    definition.Check = check;
  }
  return definition;
}
