/**
 * Dev server options: documented defaults (Consul's own, from agent/config/default.go and
 * agent/consul/config.go, unless a test needs them smaller) and one `resolveOptions()`.
 */
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import { describe, toMs } from '../../internal/duration.js';

/** Minimal logger; the server logs request lines at debug level and never logs a token. */
export interface DevServerLogger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

export interface DevServerOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Loopback address to bind. @default '127.0.0.1' */
  host?: string;
  /**
   * Smallest accepted session TTL (Consul's `session_ttl_min`). Lower it to make TTL tests fast;
   * the TTL × 2 invalidation rule still applies. @default '10s'
   */
  sessionTtlMin?: string | number;
  /**
   * Enables ACLs with default policy deny; this token is the management token (may do
   * everything). Requests without a token are denied as the anonymous token; any other token is
   * `ACL not found`. @default undefined (ACLs off)
   */
  aclToken?: string;
  /** Agent node name. @default 'dev' */
  nodeName?: string;
  /** Agent node ID (UUID). @default a random UUID */
  nodeId?: string;
  /** @default 'dc1' */
  datacenter?: string;
  /**
   * Node metadata (Consul's `node_meta`), shown in the node's `Meta` next to the
   * `consul-network-segment` and `consul-version` keys Consul adds, matched by `?node-meta=` and
   * `NodeMeta` / `Node.Meta` filter selectors. Keys follow Consul's rules (letters, digits, `-`
   * and `_`, at most 128 characters, no `consul-` prefix); values at most 512 characters; at most
   * 64 pairs. @default {}
   */
  nodeMeta?: Readonly<Record<string, string>>;
  logger?: DevServerLogger;
  /** How long a KV tombstone lives before it is reaped (`TombstoneTTL`). @default '15m' */
  tombstoneTtl?: string | number;
  /** `kv_max_value_size` in bytes. @default 524288 */
  kvMaxValueSize?: number;
  /** `txn_max_req_len` in bytes. @default 524288 */
  txnMaxReqLen?: number;
  /** Most operations in one `/v1/txn` (128 in current Consul, 64 in older releases). @default 128 */
  txnMaxOps?: number;
  /**
   * How long a request needing the leader waits for one before failing with
   * `No cluster leader` (`rpc_hold_timeout`). Real Consul waits 7 s; the dev server answers at
   * once by default so leaderless tests stay fast. @default 0
   */
  rpcHoldTimeout?: string | number;
  /**
   * Validate KV keys as the newest Consul does (`validateKVKey`: only `A-Za-z0-9,-_./`, no
   * file-like extensions). Off by default because older servers accept any key. @default false
   */
  strictKeys?: boolean;
  /** Indent every JSON reply, as `consul agent -dev` does. @default false */
  pretty?: boolean;
  /**
   * The smallest `DeregisterCriticalServiceAfter` a check may use; smaller values are raised to it
   * (Consul's `check_deregister_interval_min`, fixed at 1 min there). Lower it to test the reaper
   * quickly. @default '1m'
   */
  checkDeregisterIntervalMin?: string | number;
  /**
   * How often the agent looks for services whose check has been critical for longer than its
   * `DeregisterCriticalServiceAfter` (Consul's `check_reap_interval`, 30 s). A service is therefore
   * removed between that limit and limit + this interval after turning critical. @default '30s'
   */
  checkReapInterval?: string | number;
  /**
   * Run `Args` (script) checks registered over the HTTP API, as Consul's `enable_script_checks`.
   * Off, such a registration is refused with a 500, as Consul does. @default false
   */
  enableScriptChecks?: boolean;
  /**
   * Serve Consul's DNS interface (UDP and TCP) on this port; 0 picks a free one (`server.dns`).
   * Consul's own default is 8600. @default undefined (no DNS)
   */
  dnsPort?: number;
  /** Consul's `dns_config` settings the DNS interface honours. */
  dnsConfig?: {
    /** `udp_answer_limit`: records in a UDP answer without EDNS (at most 8). @default 3 */
    udpAnswerLimit?: number;
    /** `enable_truncate`: set the TC bit when a UDP answer was trimmed. @default false */
    enableTruncate?: boolean;
    /** `only_passing`: leave out instances with a warning check too. @default false */
    onlyPassing?: boolean;
  };
  /**
   * `telemetry.prometheus_retention_time`: above zero, `/v1/agent/metrics?format=prometheus`
   * answers in the Prometheus text format; at zero (Consul's default, also in `-dev`) it is a 415.
   * @default 0
   */
  prometheusRetentionTime?: string | number;
  /** Serve the web UI at `/ui/` (built into `dist/ui/` by `npm run build`). @default true */
  ui?: boolean;
}

export interface ResolvedOptions {
  readonly port: number;
  readonly host: string;
  readonly sessionTtlMinNs: number;
  readonly aclToken: string | undefined;
  readonly nodeName: string;
  readonly nodeId: string;
  readonly datacenter: string;
  /** Validated `nodeMeta`. */
  readonly nodeMeta: Readonly<Record<string, string>>;
  readonly logger: DevServerLogger;
  readonly tombstoneTtlMs: number;
  /** Tombstone GC granularity (30 s in Consul, smaller when the TTL is). */
  readonly tombstoneGranularityMs: number;
  readonly kvMaxValueSize: number;
  readonly txnMaxReqLen: number;
  readonly txnMaxOps: number;
  readonly rpcHoldTimeoutMs: number;
  readonly strictKeys: boolean;
  readonly pretty: boolean;
  /** default_query_time: a blocking query without `?wait`. */
  readonly defaultQueryTimeMs: number;
  /** max_query_time: the cap on `?wait`. */
  readonly maxQueryTimeMs: number;
  /** Largest body accepted by endpoints without a Consul-defined limit (session create, checks). */
  readonly maxOtherBodyBytes: number;
  /** check_deregister_interval_min. */
  readonly checkDeregisterIntervalMinMs: number;
  /** check_reap_interval. */
  readonly checkReapIntervalMs: number;
  /** enable_script_checks. */
  readonly enableScriptChecks: boolean;
  /** The DNS port (0 = pick), or undefined for no DNS interface. */
  readonly dnsPort: number | undefined;
  readonly dnsConfig: { readonly udpAnswerLimit: number; readonly enableTruncate: boolean; readonly onlyPassing: boolean };
  /** telemetry.prometheus_retention_time. */
  readonly prometheusRetentionTimeMs: number;
  readonly ui: boolean;
}

/** structs.SessionTTLMax. */
export const SESSION_TTL_MAX_NS = 24 * 3600 * 1e9;

function positiveInt(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`option "${option}" must be a positive integer, got ${describe(value)}`, option);
  }
  return value;
}

function nonEmptyString(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(`option "${option}" must be a non-empty string, got ${describe(value)}`, option);
  }
  return value;
}

function resolveDnsPort(port: unknown): number | undefined {
  if (port === undefined) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`option "dnsPort" must be an integer between 0 and 65535, got ${String(port)}`, 'dnsPort');
  }
  return port;
}

export function resolveOptions(options: DevServerOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`dev server options must be an object, got ${describe(options)}`, 'options');
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`option "port" must be an integer between 0 and 65535, got ${describe(port)}`, 'port');
  }
  const ttlMinMs = toMs('sessionTtlMin', options.sessionTtlMin ?? '10s', { min: 1 });
  const tombstoneTtlMs = toMs('tombstoneTtl', options.tombstoneTtl ?? '15m', { min: 1 });
  if (options.aclToken !== undefined && options.aclToken === '') {
    throw new ConfigError('option "aclToken" must not be empty', 'aclToken');
  }
  return {
    port,
    host: nonEmptyString('host', options.host, '127.0.0.1'),
    sessionTtlMinNs: Math.round(ttlMinMs * 1e6),
    aclToken: options.aclToken,
    nodeName: nonEmptyString('nodeName', options.nodeName, 'dev'),
    nodeId: nonEmptyString('nodeId', options.nodeId, randomUUID()),
    datacenter: nonEmptyString('datacenter', options.datacenter, 'dc1'),
    nodeMeta: resolveNodeMeta(options.nodeMeta),
    logger: options.logger ?? {},
    tombstoneTtlMs,
    tombstoneGranularityMs: Math.min(30_000, tombstoneTtlMs),
    kvMaxValueSize: positiveInt('kvMaxValueSize', options.kvMaxValueSize, 524_288),
    txnMaxReqLen: positiveInt('txnMaxReqLen', options.txnMaxReqLen, 524_288),
    txnMaxOps: positiveInt('txnMaxOps', options.txnMaxOps, 128),
    rpcHoldTimeoutMs: toMs('rpcHoldTimeout', options.rpcHoldTimeout ?? 0),
    strictKeys: options.strictKeys ?? false,
    pretty: options.pretty ?? false,
    defaultQueryTimeMs: 300_000,
    maxQueryTimeMs: 600_000,
    maxOtherBodyBytes: 1 << 20,
    checkDeregisterIntervalMinMs: toMs('checkDeregisterIntervalMin', options.checkDeregisterIntervalMin ?? '1m', { min: 1 }),
    checkReapIntervalMs: toMs('checkReapInterval', options.checkReapInterval ?? '30s', { min: 1 }),
    enableScriptChecks: options.enableScriptChecks ?? false,
    dnsPort: resolveDnsPort(options.dnsPort),
    dnsConfig: {
      udpAnswerLimit: positiveInt('dnsConfig.udpAnswerLimit', options.dnsConfig?.udpAnswerLimit, 3),
      enableTruncate: options.dnsConfig?.enableTruncate ?? false,
      onlyPassing: options.dnsConfig?.onlyPassing ?? false,
    },
    prometheusRetentionTimeMs: toMs('prometheusRetentionTime', options.prometheusRetentionTime ?? 0),
    ui: options.ui ?? true,
  };
}

/** structs.ValidateNodeMetadata (validateMetaPair, reserved prefix not allowed). */
function resolveNodeMeta(meta: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> {
  if (meta === undefined) return {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new ConfigError(`option "nodeMeta" must be an object of strings, got ${String(meta)}`, 'nodeMeta');
  }
  const entries = Object.entries(meta);
  if (entries.length > 64) throw new ConfigError('option "nodeMeta": Node metadata cannot contain more than 64 key/value pairs', 'nodeMeta');
  for (const [key, value] of entries) {
    let problem: string | undefined;
    if (typeof value !== 'string') problem = 'Value must be a string';
    else if (key === '') problem = 'Key cannot be blank';
    else if (!/^[a-zA-Z0-9_-]+$/.test(key)) problem = 'Key contains invalid characters';
    else if (key.length > 128) problem = 'Key is too long (limit: 128 characters)';
    else if (key.startsWith('consul-')) problem = "Key prefix 'consul-' is reserved for internal use";
    else if (value.length > 512) problem = 'Value is too long (limit: 512 characters)';
    if (problem !== undefined) {
      throw new ConfigError(`option "nodeMeta": Couldn't load metadata pair ('${key}', '${String(value)}'): ${problem}`, 'nodeMeta');
    }
  }
  return Object.freeze({ ...meta });
}

/** Go's time.Duration.String, for error texts that print durations with %v. */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(Math.round(ns));
  const sign = neg ? '-' : '';
  const frac = (value: number, unit: number): string => {
    const whole = Math.floor(value / unit);
    const rest = value % unit;
    if (rest === 0) return String(whole);
    const digits = String(unit).length - 1;
    return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
  };
  if (n < 1e3) return `${sign}${n}ns`;
  if (n < 1e6) return `${sign}${frac(n, 1e3)}µs`;
  if (n < 1e9) return `${sign}${frac(n, 1e6)}ms`;
  const h = Math.floor(n / 3600e9);
  n -= h * 3600e9;
  const m = Math.floor(n / 60e9);
  n -= m * 60e9;
  const s = frac(n, 1e9);
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
