/** The Consul transport: one HTTP client plus typed endpoint groups over it. */
import { ConsulTransport, type TransportOptions } from './client.js';
import { Agent } from './agent.js';
import { KV } from './kv.js';
import { Sessions } from './session.js';
import { txn, type TxnKVOp, type TxnResult } from './txn.js';
import { Services } from './services.js';
import { Health } from './health.js';
import { Catalog } from './catalog.js';
import { UserEvents } from './events.js';
import { PreparedQueries } from './queries.js';

export * from './client.js';
export type { Agent, KV, Sessions, Services, Health, Catalog, UserEvents, PreparedQueries };
export type { PreparedQueryDefinition, PreparedQueryAnswer } from './queries.js';
export type { KVPair, ReadOptions } from './kv.js';
export type { SessionCreateRequest, SessionEntry } from './session.js';
export type { AgentSelf, CheckRegistration, CheckStatus } from './agent.js';
export type { TxnKVOp, TxnResult, KVVerb } from './txn.js';
export type { ServiceDefinition, ServiceCheckDefinition, AgentService, CheckUpdateResult } from './services.js';
export type { HealthCheck, HealthServiceEntry, HealthServiceOptions } from './health.js';
export type { CatalogServiceNode } from './catalog.js';
export type { UserEventRecord, FireOptions } from './events.js';

/** Typed access to the Consul HTTP API, sharing one connection pool. */
export class ConsulApi {
  readonly http: ConsulTransport;
  readonly kv: KV;
  readonly sessions: Sessions;
  readonly agent: Agent;
  /** Agent service registration, maintenance and TTL check updates. */
  readonly services: Services;
  readonly health: Health;
  readonly catalog: Catalog;
  /** User events (fire, list). */
  readonly events: UserEvents;
  /** Prepared queries (create, read, delete, execute). */
  readonly queries: PreparedQueries;

  constructor(options: TransportOptions) {
    this.http = new ConsulTransport(options);
    this.kv = new KV(this.http, options.timeoutMs);
    this.sessions = new Sessions(this.http, options.timeoutMs);
    this.agent = new Agent(this.http);
    this.services = new Services(this.http);
    this.health = new Health(this.http, options.timeoutMs);
    this.catalog = new Catalog(this.http, options.timeoutMs);
    this.events = new UserEvents(this.http, options.timeoutMs);
    this.queries = new PreparedQueries(this.http);
  }

  /** A KV transaction; `dc` runs it in another datacenter (`?dc=`). */
  txn(ops: readonly TxnKVOp[], signal?: AbortSignal, dc?: string): Promise<TxnResult> {
    return txn(this.http, ops, signal, dc);
  }

  close(): void {
    this.http.close();
  }
}
