/**
 * The DNS interface's answers, after agent/dns.go (the `consul.` domain, legacy dispatch):
 *
 * - `<service>.service[.<dc>].consul` and `<tag>.<service>.service…`: A/AAAA of the healthy
 *   instances (no critical check, the node's `serfHealth` included; warning counts as healthy
 *   unless `onlyPassing`), shuffled, one record per distinct address; SRV with Priority 1, the
 *   instance's passing (or, with a warning check, warning) weight, its port, and a target of
 *   `<node>.node.<dc>.consul.` (or `<hex>.addr.<dc>.consul.` for a service address) with the
 *   target's A/AAAA record as additional data.
 * - RFC 2782 `_<service>._<tag>.service…` (`_tcp` means no tag).
 * - `<node>.node[.<dc>].consul`: the node's address.
 * - `<hex>.addr[.<dc>].consul`: the address it encodes.
 * - Unknown names, services without healthy instances, unknown datacenters: NXDOMAIN with the
 *   SOA in the authority section; a known name without records of the asked type: NOERROR, SOA.
 * - Every answer is authoritative, TTLs are 0 (node_ttl / service_ttl default), recursion is
 *   not available. Names outside `consul.` are REFUSED (no recursors: no handler for them).
 * - UDP answers without EDNS keep at most `udpAnswerLimit` (3) records and fit 512 bytes
 *   (trimUDPResponse); the TC bit is set only with `enableTruncate`, as in Consul.
 */
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question, type SrvAnswer, type StringAnswer } from 'dns-packet';
import { isIP } from 'node:net';
import { checksForInstance } from '../state/catalog.js';
import type { ReadTx } from '../state/store.js';
import type { CheckRow, NodeRow, ServiceRow } from '../state/types.js';

export const DNS_DOMAIN = 'consul';

/** miekg/dns rcodes. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const FLAG_AA = 1 << 10;
const FLAG_TC = 1 << 9;
const FLAG_RD = 1 << 8;

/** dns.go defaultMaxUDPSize and maxUDPAnswerLimit. */
const DEFAULT_MAX_UDP_SIZE = 512;
const MAX_UDP_ANSWER_LIMIT = 8;
/** dns.go: TCP answers are cut to what fits 64 KiB. */
const MAX_TCP_SIZE = 65_535;

export interface DnsConfig {
  /** dns_config.udp_answer_limit. @default 3 */
  readonly udpAnswerLimit: number;
  /** dns_config.enable_truncate: set TC when a UDP answer was trimmed. @default false */
  readonly enableTruncate: boolean;
  /** dns_config.only_passing: warning instances are left out too. @default false */
  readonly onlyPassing: boolean;
}

export const DEFAULT_DNS_CONFIG: DnsConfig = { udpAnswerLimit: 3, enableTruncate: false, onlyPassing: false };

export interface DnsView {
  readonly datacenter: string;
  read(): ReadTx;
  /**
   * Executes a prepared query by ID or name (with failover), as `<query>.query.consul` does:
   * the healthy instances and the datacenter that answered; undefined for an unknown query.
   */
  query?(idOrName: string): { instances: readonly Instance[]; datacenter: string } | undefined;
  /**
   * The view of another datacenter of a dev cluster (a lookup with its datacenter label is
   * forwarded there, as dns.go does through the RPC's Datacenter); undefined when unknown or
   * unreachable.
   */
  remote?(datacenter: string): DnsView | undefined;
}

/** dns.go addSOA / soa(): ns and hostmaster under the domain, Consul's default timers. */
function soa(): Answer {
  return {
    type: 'SOA',
    name: `${DNS_DOMAIN}`,
    ttl: 0,
    class: 'IN',
    data: {
      mname: `ns.${DNS_DOMAIN}`,
      rname: `hostmaster.${DNS_DOMAIN}`,
      serial: Math.floor(Date.now() / 1000) >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86_400,
      minimum: 0,
    },
  };
}

interface Draft {
  rcode: number;
  answers: Answer[];
  additionals: Answer[];
  authorities: Answer[];
}

const nx = (): Draft => ({ rcode: RCODE.NXDOMAIN, answers: [], additionals: [], authorities: [soa()] });

/** Builds the reply to one query packet. `network` decides the trimming rules. */
export function answer(view: DnsView, query: DecodedPacket, network: 'udp' | 'tcp', config: DnsConfig = DEFAULT_DNS_CONFIG): Buffer {
  const question = query.questions?.[0];
  const rd = query.flag_rd ? FLAG_RD : 0;
  const reply = (d: Draft, trimmed = false): Buffer => {
    const packet: Packet = {
      type: 'response',
      id: query.id ?? 0,
      flags: FLAG_AA | rd | (trimmed && config.enableTruncate ? FLAG_TC : 0) | d.rcode,
      questions: question ? [question] : [],
      answers: d.answers,
      additionals: d.additionals,
      authorities: d.authorities,
    };
    return encode(packet);
  };
  if (!question) return reply({ rcode: RCODE.FORMERR, answers: [], additionals: [], authorities: [] });
  const name = question.name.toLowerCase().replace(/\.$/, '');
  if (name !== DNS_DOMAIN && !name.endsWith(`.${DNS_DOMAIN}`)) {
    return reply({ rcode: RCODE.REFUSED, answers: [], additionals: [], authorities: [] });
  }
  const draft = handleQuery(view, question, name, config);
  const trimmed = network === 'udp' ? trimUdp(draft, query, config) : trimTcp(draft, query);
  return reply(draft, trimmed);
}

function encode(packet: Packet): Buffer {
  return dnsPacket.encode(packet);
}

/** dns.go handleQuery: SOA and NS for any name in the domain, AXFR not implemented, else dispatch. */
function handleQuery(view: DnsView, q: Question, name: string, config: DnsConfig): Draft {
  if (q.type === 'SOA' || q.type === 'NS') {
    const { ns, glue } = nameservers(view);
    if (q.type === 'SOA') return { rcode: RCODE.NOERROR, answers: [soa()], authorities: ns, additionals: glue };
    return { rcode: RCODE.NOERROR, answers: ns, authorities: [], additionals: glue };
  }
  if (q.type === 'AXFR') return { rcode: RCODE.NOTIMP, answers: [], additionals: [], authorities: [] };
  return dispatch(view, q, name, config);
}

/** dns.go nameservers: an NS record per server (nodes with the `consul` service), with glue. */
function nameservers(view: DnsView): { ns: Answer[]; glue: Answer[] } {
  const tx = view.read();
  const ns: Answer[] = [];
  const glue: Answer[] = [];
  for (const s of tx.all('services')) {
    if (s.ServiceID !== 'consul') continue;
    const node = tx.get('nodes', s.Node);
    if (!node) continue;
    const fqdn = `${node.Node}.node.${view.datacenter}.${DNS_DOMAIN}`;
    ns.push({ type: 'NS', name: DNS_DOMAIN, ttl: 0, class: 'IN', data: fqdn } as StringAnswer);
    glue.push(...addressRecords(fqdn, node.Address, isIP(node.Address) === 6 ? 'AAAA' : 'A'));
  }
  return { ns, glue };
}

/** dns.go dispatch: the labels before the domain, read from the right. */
function dispatch(view: DnsView, q: Question, name: string, config: DnsConfig): Draft {
  const labels = name === DNS_DOMAIN ? [] : name.slice(0, -(DNS_DOMAIN.length + 1)).split('.');
  // Find the query type label, the datacenter (if any) follows it.
  for (let i = labels.length - 1; i >= 0; i--) {
    const kind = labels[i];
    if (kind !== 'service' && kind !== 'node' && kind !== 'addr' && kind !== 'query') continue;
    const after = labels.slice(i + 1);
    if (after.length > 1) return nx();
    const dc = after[0] ?? view.datacenter;
    if (dc !== view.datacenter) {
      const other = view.remote?.(dc);
      if (!other) return nx();
      return dispatch(other, q, [...labels.slice(0, i + 1), DNS_DOMAIN].join('.'), config);
    }
    const before = labels.slice(0, i);
    if (kind === 'service') return serviceLookup(view, q, before, config);
    if (kind === 'query') return before.length >= 1 ? preparedQueryLookup(view, q, before.join('.')) : nx();
    if (kind === 'node') return before.length === 1 ? nodeLookup(view, q, before[0]!) : nx();
    return before.length === 1 ? addrLookup(q, before[0]!) : nx();
  }
  return nx();
}

/** A or AAAA for an IP (or a CNAME for a host name), as the question type allows. */
function addressRecords(owner: string, address: string, qtype: string): Answer[] {
  const family = isIP(address);
  if (family === 4 && (qtype === 'A' || qtype === 'ANY')) return [{ type: 'A', name: owner, ttl: 0, class: 'IN', data: address } as StringAnswer];
  if (family === 6 && (qtype === 'AAAA' || qtype === 'ANY')) {
    return [{ type: 'AAAA', name: owner, ttl: 0, class: 'IN', data: address } as StringAnswer];
  }
  if (family === 0 && address !== '') return [{ type: 'CNAME', name: owner, ttl: 0, class: 'IN', data: address } as StringAnswer];
  return [];
}

function nodeLookup(view: DnsView, q: Question, node: string): Draft {
  const row = view.read().all('nodes').find((n) => n.Node.toLowerCase() === node);
  if (!row) return nx();
  const answers = addressRecords(q.name, row.Address, q.type);
  if (answers.length === 0) return { rcode: RCODE.NOERROR, answers: [], additionals: [], authorities: [soa()] };
  return { rcode: RCODE.NOERROR, answers, additionals: [], authorities: [] };
}

/** `<hex>.addr.consul`: 8 hex digits are an IPv4 address, 32 an IPv6 one. */
function addrLookup(q: Question, hex: string): Draft {
  let address: string | undefined;
  if (/^[0-9a-f]{8}$/.test(hex)) address = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
  else if (/^[0-9a-f]{32}$/.test(hex)) address = hex.match(/.{4}/g)!.join(':');
  if (address === undefined) return nx();
  const answers = addressRecords(q.name, address, q.type);
  return { rcode: RCODE.NOERROR, answers, additionals: [], authorities: answers.length === 0 ? [soa()] : [] };
}

function hexAddress(address: string): string {
  if (isIP(address) === 4) return address.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  return address;
}

export interface Instance {
  readonly service: ServiceRow;
  readonly node: NodeRow;
  readonly checks: readonly CheckRow[];
}

/** Health.ServiceNodes + CheckServiceNodes.Filter(onlyPassing) + Shuffle. */
function healthyInstances(view: DnsView, service: string, tag: string, config: DnsConfig): Instance[] {
  const tx = view.read();
  const out: Instance[] = [];
  for (const s of tx.all('services')) {
    if (s.ServiceName.toLowerCase() !== service) continue;
    if (tag !== '' && !s.ServiceTags.some((t) => t.toLowerCase() === tag)) continue;
    const node = tx.get('nodes', s.Node);
    if (!node) continue;
    const checks = checksForInstance(tx, s);
    if (checks.some((c) => c.Status === 'critical' || (config.onlyPassing && c.Status !== 'passing'))) continue;
    out.push({ service: s, node, checks });
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** dns.go serviceLookup: parse the labels, find the healthy instances, build A/AAAA or SRV. */
function serviceLookup(view: DnsView, q: Question, labels: readonly string[], config: DnsConfig): Draft {
  let service: string;
  let tag = '';
  if (labels.length === 2 && labels[0]!.startsWith('_') && labels[1]!.startsWith('_')) {
    service = labels[0]!.slice(1);
    tag = labels[1]!.slice(1);
    // "Treat _name._tcp.service.consul as a default, no need to filter on that tag".
    if (tag === 'tcp') tag = '';
  } else if (labels.length === 2) {
    tag = labels[0]!;
    service = labels[1]!;
  } else if (labels.length === 1) {
    service = labels[0]!;
  } else {
    return nx();
  }
  return instancesAnswer(q, healthyInstances(view, service, tag, config), view.datacenter);
}

/**
 * dns.go preparedQueryLookup: `<id or name>.query.consul` executes the query (with its failover);
 * the records name the datacenter that answered. An unknown query or an empty answer is NXDOMAIN.
 */
function preparedQueryLookup(view: DnsView, q: Question, idOrName: string): Draft {
  const result = view.query?.(idOrName);
  if (!result) return nx();
  return instancesAnswer(q, [...result.instances], result.datacenter);
}

/** The A/AAAA or SRV records of a list of healthy instances (services and prepared queries). */
function instancesAnswer(q: Question, instances: readonly Instance[], dc: string): Draft {
  if (instances.length === 0) return nx();
  const draft: Draft = { rcode: RCODE.NOERROR, answers: [], additionals: [], authorities: [] };
  if (q.type === 'SRV') {
    const seen = new Set<string>();
    for (const { service: s, node, checks } of instances) {
      const address = s.ServiceAddress !== '' ? s.ServiceAddress : node.Address;
      const key = `${address}:${s.ServicePort}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const target =
        s.ServiceAddress === ''
          ? `${node.Node}.node.${dc}.${DNS_DOMAIN}`
          : isIP(s.ServiceAddress) !== 0
            ? `${hexAddress(s.ServiceAddress)}.addr.${dc}.${DNS_DOMAIN}`
            : s.ServiceAddress;
      const warning = checks.some((c) => c.Status === 'warning');
      const srv: SrvAnswer = {
        type: 'SRV',
        name: q.name,
        ttl: 0,
        class: 'IN',
        data: { priority: 1, weight: warning ? s.ServiceWeights.Warning : s.ServiceWeights.Passing, port: s.ServicePort, target },
      };
      draft.answers.push(srv);
      if (target !== s.ServiceAddress) draft.additionals.push(...addressRecords(target, address, isIP(address) === 6 ? 'AAAA' : 'A'));
    }
    return draft;
  }
  const seen = new Set<string>();
  for (const { service: s, node } of instances) {
    const address = s.ServiceAddress !== '' ? s.ServiceAddress : node.Address;
    if (seen.has(address)) continue;
    seen.add(address);
    draft.answers.push(...addressRecords(q.name, address, q.type));
  }
  if (draft.answers.length === 0) draft.authorities.push(soa());
  return draft;
}

function encodedLength(d: Draft): number {
  return dnsPacket.encodingLength({ type: 'response', questions: [], answers: d.answers, additionals: d.additionals, authorities: d.authorities }) + 64;
}

/** The EDNS0 UDP size the client advertised, if any. */
function ednsSize(query: DecodedPacket): number | undefined {
  const opt = query.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  return opt?.udpPayloadSize;
}

/** Keeps only the additionals that still belong to an answer (syncExtra). */
function syncExtra(d: Draft): void {
  const targets = new Set(d.answers.filter((a): a is SrvAnswer => a.type === 'SRV').map((a) => a.data.target));
  d.additionals = d.additionals.filter((a) => targets.has(a.name));
}

/** trimUDPResponse: at most min(8, udp_answer_limit) records without EDNS, then fit the size. */
function trimUdp(d: Draft, query: DecodedPacket, config: DnsConfig): boolean {
  const before = d.answers.length;
  const edns = ednsSize(query);
  const maxSize = edns !== undefined && edns > DEFAULT_MAX_UDP_SIZE ? edns : DEFAULT_MAX_UDP_SIZE;
  const maxAnswers = Math.min(MAX_UDP_ANSWER_LIMIT, config.udpAnswerLimit);
  if (maxSize === DEFAULT_MAX_UDP_SIZE && d.answers.length > maxAnswers) {
    d.answers = d.answers.slice(0, maxAnswers);
    syncExtra(d);
  }
  while (d.answers.length > 0 && encodedLength(d) > maxSize) {
    d.answers = d.answers.slice(0, -1);
    syncExtra(d);
  }
  return d.answers.length < before;
}

/** trimTCPResponse: fit 64 KiB. */
function trimTcp(d: Draft, _query: DecodedPacket): boolean {
  const before = d.answers.length;
  while (d.answers.length > 0 && encodedLength(d) > MAX_TCP_SIZE) {
    d.answers = d.answers.slice(0, -1);
    syncExtra(d);
  }
  return d.answers.length < before;
}
