/**
 * Prepared queries: the "prepared-queries" table and the rules around it, after Consul's
 * agent/consul/prepared_query_endpoint.go (`parseQuery`, `execute`, `tagFilter`, `queryFailover`),
 * agent/consul/state/prepared_query.go (`preparedQuerySetTxn`, `PreparedQueryResolve`) and
 * agent/consul/prepared_query/template.go (`Compile`, `Render`). Pure functions over a
 * transaction; the HTTP layer (routes/query.ts) runs the failover across datacenters.
 */
import { randomUUID } from 'node:crypto';
import { checksForInstance, serviceNodes } from './catalog.js';
import type { ReadTx, WriteTx } from './store.js';
import { type CheckRow, type NodeRow, type PreparedQueryRow, type ServiceRow, StateError } from './types.js';

/** structs.QueryTemplateTypeNamePrefixMatch. */
export const TEMPLATE_NAME_PREFIX_MATCH = 'name_prefix_match';

/** structs.ErrQueryNotFound (its text is what the HTTP layer answers with a 404). */
export const QUERY_NOT_FOUND = 'Query not found';

/** prepared_query_endpoint.go redactedToken. */
export const REDACTED_TOKEN = '<hidden>';

const UUID_RE = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;

/** state/prepared_query.go isUUID. */
export function isUuid(text: string): boolean {
  return text.length === 36 && UUID_RE.test(text);
}

/** A query definition as decoded from a request body (every field optional). */
export type PreparedQueryInput = {
  ID?: string;
  Name?: string;
  Session?: string;
  Token?: string;
  Template?: { Type?: string; Regexp?: string; RemoveEmptyTags?: boolean };
  Service?: {
    Service?: string;
    Failover?: { NearestN?: number; Datacenters?: string[] | null };
    IgnoreCheckIDs?: string[] | null;
    OnlyPassing?: boolean;
    Near?: string;
    Tags?: string[] | null;
    NodeMeta?: Record<string, string> | null;
    ServiceMeta?: Record<string, string> | null;
    Connect?: { Enabled?: boolean };
  };
  DNS?: { TTL?: string };
};

/** Fills a decoded body into a row (indexes 0 until stored). */
export function toQueryRow(id: string, q: PreparedQueryInput): PreparedQueryRow {
  const svc = q.Service ?? {};
  return {
    ID: id,
    Name: q.Name ?? '',
    Session: q.Session ?? '',
    Token: q.Token ?? '',
    Template: { Type: q.Template?.Type ?? '', Regexp: q.Template?.Regexp ?? '', RemoveEmptyTags: q.Template?.RemoveEmptyTags ?? false },
    Service: {
      Service: svc.Service ?? '',
      Failover: { NearestN: svc.Failover?.NearestN ?? 0, Datacenters: svc.Failover?.Datacenters ?? null },
      IgnoreCheckIDs: svc.IgnoreCheckIDs ?? null,
      OnlyPassing: svc.OnlyPassing ?? false,
      Near: svc.Near ?? '',
      Tags: svc.Tags ?? null,
      NodeMeta: svc.NodeMeta ?? null,
      ServiceMeta: svc.ServiceMeta ?? null,
      Connect: { Enabled: svc.Connect?.Enabled ?? false },
    },
    DNS: { TTL: q.DNS?.TTL ?? '' },
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

/**
 * prepared_query_endpoint.go parseQuery / parseService / parseDNS, wrapped as Apply wraps them
 * (`Invalid prepared query: …`). Throws {@link StateError}.
 */
export function validateQuery(q: PreparedQueryRow): void {
  const fail = (msg: string): never => {
    throw new StateError(`Invalid prepared query: ${msg}`);
  };
  if (q.Name === '' && q.Template.Type === '' && q.Session === '') fail('Must be bound to a session');
  if (q.Token === REDACTED_TOKEN) fail(`Bad Token '${q.Token}', it looks like a query definition with a redacted token was submitted`);
  if (q.Service.Service === '') fail('Must provide a Service name to query');
  if (q.Service.Failover.NearestN < 0) fail(`Bad NearestN '${q.Service.Failover.NearestN}', must be >= 0`);
  for (const key of Object.keys(q.Service.NodeMeta ?? {})) if (key === '') fail('Couldn\'t load metadata pair: key cannot be blank');
  if (q.DNS.TTL !== '') {
    const m = /^(-?)(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(q.DNS.TTL);
    if (!m) fail(`Bad DNS TTL '${q.DNS.TTL}': time: invalid duration "${q.DNS.TTL}"`);
    else if (m[1] === '-') fail(`DNS TTL '${q.DNS.TTL}', must be >=0`);
  }
}

/**
 * state/prepared_query.go preparedQuerySetTxn: keeps CreateIndex on update; a name must not alias
 * another query's name or ID; only one template may have an empty name; a bound session must
 * exist; a template must compile. Throws {@link StateError}.
 */
export function querySet(tx: WriteTx, q: PreparedQueryRow): PreparedQueryRow {
  const existing = tx.get('queries', q.ID);
  const all = tx.all('queries');
  if (q.Name !== '') {
    const other = all.find((o) => o.Name.toLowerCase() === q.Name.toLowerCase());
    if (other && other.ID !== q.ID) throw new StateError(`name '${q.Name}' aliases an existing query name`);
  } else if (q.Template.Type !== '') {
    const other = all.find((o) => o.Name === '' && o.Template.Type !== '');
    if (other && other.ID !== q.ID) throw new StateError('a query template with an empty name already exists');
  }
  if (isUuid(q.Name) && tx.get('queries', q.Name)) throw new StateError(`name '${q.Name}' aliases an existing query ID`);
  if (q.Session !== '' && !tx.get('sessions', q.Session)) throw new StateError(`invalid session ${JSON.stringify(q.Session)}`);
  if (q.Template.Type !== '') compileTemplate(q);
  const row: PreparedQueryRow = { ...q, CreateIndex: existing?.CreateIndex ?? tx.index, ModifyIndex: tx.index };
  tx.put('queries', q.ID, row);
  return row;
}

/** A fresh query ID that no query uses (Apply's create loop). */
export function newQueryId(tx: ReadTx): string {
  for (;;) {
    const id = randomUUID();
    if (!tx.get('queries', id)) return id;
  }
}

// ---- templates ------------------------------------------------------------------------------

/** HIL interpolations a name_prefix_match template may use (a subset of HIL; see README). */
const INTERPOLATION = /\$\{\s*([^}]*?)\s*\}/g;

/** Every string field of the Service sub-structure, as template.go walks it. */
function mapServiceStrings(service: PreparedQueryRow['Service'], fn: (value: string, path: string) => string): PreparedQueryRow['Service'] {
  const list = (values: readonly string[] | null, path: string): string[] | null => (values === null ? null : values.map((v, i) => fn(v, `${path}[${i}]`)));
  const map = (values: Readonly<Record<string, string>> | null, path: string): Record<string, string> | null =>
    values === null ? null : Object.fromEntries(Object.entries(values).map(([k, v]) => [k, fn(v, `${path}[${k}]`)]));
  return {
    ...service,
    Service: fn(service.Service, '.Service'),
    Failover: { ...service.Failover, Datacenters: list(service.Failover.Datacenters, '.Failover.Datacenters') },
    IgnoreCheckIDs: list(service.IgnoreCheckIDs, '.IgnoreCheckIDs'),
    Near: fn(service.Near, '.Near'),
    Tags: list(service.Tags, '.Tags'),
    NodeMeta: map(service.NodeMeta, '.NodeMeta'),
    ServiceMeta: map(service.ServiceMeta, '.ServiceMeta'),
  };
}

/** Go regexp → JavaScript for the common syntax (named groups `(?P<n>…)` become `(?<n>…)`). */
function compileGoRegexp(source: string): RegExp {
  try {
    return new RegExp(source.replace(/\(\?P</g, '(?<'));
  } catch (err) {
    throw new StateError(`failed compiling template: Bad Regexp: ${(err as Error).message}`);
  }
}

/** template.go Compile: checks the type, the regexp and every interpolation (by a test render). */
export function compileTemplate(q: PreparedQueryRow): void {
  if (q.Template.Type !== TEMPLATE_NAME_PREFIX_MATCH) throw new StateError(`failed compiling template: Bad Template.Type '${q.Template.Type}'`);
  if (q.Template.Regexp !== '') compileGoRegexp(q.Template.Regexp);
  renderTemplate(q, q.Name, 'failed compiling template: ');
}

/**
 * template.go Render: `${name.full}`, `${name.prefix}`, `${name.suffix}`, `${agent.segment}`
 * (always "" in Consul CE) and `${match(N)}` (the Nth submatch of `Template.Regexp` on the full
 * name, "" when out of range) in every string of the Service sub-structure; with
 * `RemoveEmptyTags`, tags that render empty are dropped.
 */
export function renderTemplate(q: PreparedQueryRow, name: string, errorPrefix = ''): PreparedQueryRow {
  const matches = q.Template.Regexp === '' ? null : compileGoRegexp(q.Template.Regexp).exec(name);
  const vars: Record<string, string> = {
    'name.full': name,
    'name.prefix': q.Name,
    'name.suffix': name.startsWith(q.Name) ? name.slice(q.Name.length) : name,
    'agent.segment': '',
  };
  const service = mapServiceStrings(q.Service, (value, path) =>
    value.replace(INTERPOLATION, (_whole, expr: string) => {
      if (expr in vars) return vars[expr]!;
      const m = /^match\(\s*(\d+)\s*\)$/.exec(expr);
      if (m) return matches?.[Number(m[1])] ?? '';
      throw new StateError(`${errorPrefix}Bad format '${value}' in Service${path}: unknown variable accessed: ${expr}`);
    }),
  );
  const tags = q.Template.RemoveEmptyTags && service.Tags ? service.Tags.filter((t) => t !== '') : service.Tags;
  return { ...q, Service: { ...service, Tags: tags } };
}

/**
 * state/prepared_query.go PreparedQueryResolve: by ID when the text looks like a UUID (a template
 * cannot be run by ID), then by exact name (case-insensitively, as the lowercase name index),
 * then the template with the longest name prefix. Undefined when nothing matches.
 */
export function queryResolve(tx: ReadTx, idOrName: string): PreparedQueryRow | undefined {
  if (idOrName === '') throw new StateError('Missing query ID');
  const render = (q: PreparedQueryRow): PreparedQueryRow => (q.Template.Type === '' ? q : renderTemplate(q, idOrName));
  if (isUuid(idOrName)) {
    const byId = tx.get('queries', idOrName.toLowerCase()) ?? tx.get('queries', idOrName);
    if (byId) {
      if (byId.Template.Type !== '') throw new StateError('prepared query templates can only be resolved up by name, not by ID');
      return byId;
    }
  }
  const all = tx.all('queries');
  const exact = all.find((q) => q.Name !== '' && q.Name.toLowerCase() === idOrName.toLowerCase());
  if (exact) return render(exact);
  let best: PreparedQueryRow | undefined;
  for (const q of all) {
    if (q.Template.Type === '' || !idOrName.startsWith(q.Name)) continue;
    if (!best || q.Name.length > best.Name.length) best = q;
  }
  return best ? render(best) : undefined;
}

// ---- execution ------------------------------------------------------------------------------

export interface QueryInstance {
  readonly service: ServiceRow;
  readonly node: NodeRow;
  readonly checks: readonly CheckRow[];
}

/**
 * prepared_query_endpoint.go execute (one datacenter, no failover): the service's instances,
 * minus unhealthy ones (`FilterIgnore`: any critical check, or with OnlyPassing any non-passing
 * one, checks in IgnoreCheckIDs not counted), then the NodeMeta, ServiceMeta and tag filters.
 */
export function executeLocal(tx: ReadTx, q: PreparedQueryRow): QueryInstance[] {
  const { services } = serviceNodes(tx, q.Service.Service, undefined, true);
  const ignore = new Set(q.Service.IgnoreCheckIDs ?? []);
  let out: QueryInstance[] = [];
  for (const s of services) {
    const node = tx.get('nodes', s.Node);
    if (!node) continue;
    const checks = checksForInstance(tx, s);
    const unhealthy = checks.some((c) => !ignore.has(c.CheckID) && (c.Status === 'critical' || (q.Service.OnlyPassing && c.Status !== 'passing')));
    if (!unhealthy) out.push({ service: s, node, checks });
  }
  const nodeMeta = Object.entries(q.Service.NodeMeta ?? {});
  if (nodeMeta.length > 0) out = out.filter((i) => nodeMeta.every(([k, v]) => i.node.Meta?.[k] === v));
  const serviceMeta = Object.entries(q.Service.ServiceMeta ?? {});
  if (serviceMeta.length > 0) out = out.filter((i) => serviceMeta.every(([k, v]) => i.service.ServiceMeta?.[k] === v));
  if (q.Service.Tags && q.Service.Tags.length > 0) out = tagFilter(q.Service.Tags, out);
  return out;
}

/** prepared_query_endpoint.go tagFilter: every required tag, none of the `!`-prefixed ones, case-insensitively. */
export function tagFilter(tags: readonly string[], instances: readonly QueryInstance[]): QueryInstance[] {
  const must: string[] = [];
  const not: string[] = [];
  for (const raw of tags) {
    const tag = raw.toLowerCase();
    if (tag.startsWith('!')) not.push(tag.slice(1));
    else must.push(tag);
  }
  return instances.filter((i) => {
    const have = new Set(i.service.ServiceTags.map((t) => t.toLowerCase()));
    return must.every((t) => have.has(t)) && !not.some((t) => have.has(t));
  });
}

/**
 * queryFailover's candidate list: the NearestN nearest other datacenters (by RTT), then the
 * listed Datacenters not already chosen; unknown ones are skipped.
 */
export function failoverTargets(q: PreparedQueryRow, othersByDistance: readonly string[]): string[] {
  const known = new Set(othersByDistance);
  const out: string[] = [];
  if (q.Service.Failover.NearestN > 0) out.push(...othersByDistance.slice(0, q.Service.Failover.NearestN));
  for (const dc of q.Service.Failover.Datacenters ?? []) {
    if (known.has(dc) && !out.includes(dc)) out.push(dc);
  }
  return out;
}

/** Fisher–Yates (CheckServiceNodes.Shuffle). */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
