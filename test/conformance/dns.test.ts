/**
 * Conformance: the DNS interface (agent/dns.go, legacy dispatch, default dns_config): service,
 * tag and RFC 2782 lookups over the healthy instances, node and addr lookups, NXDOMAIN with the
 * SOA, authoritative answers with TTL 0, UDP answers trimmed to udp_answer_limit (3) without EDNS,
 * TCP answers whole. Dev server only: it needs `dnsPort`.
 */
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import dnsPacket, { type DecodedPacket, type RecordType, type SoaAnswer, type SrvAnswer } from 'dns-packet';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeConformance, type ConformanceContext } from '../support/conformance.js';

interface Query {
  tcp?: boolean;
  /** EDNS0 UDP payload size to advertise. */
  edns?: number;
}

/** The data of each answer (every record type but OPT has one). */
function data(answers: DecodedPacket['answers']): unknown[] {
  return (answers ?? []).map((a) => ('data' in a ? a.data : undefined));
}

function rcode(p: DecodedPacket): number {
  return (p.flags ?? 0) & 0xf;
}

async function ask(port: number, name: string, type: RecordType, opts: Query = {}): Promise<DecodedPacket> {
  const packet = dnsPacket.encode({
    type: 'query',
    id: Math.floor(Math.random() * 65535),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    ...(opts.edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as never] } : {}),
  });
  if (opts.tcp) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let buf = Buffer.alloc(0);
      socket.on('connect', () => {
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(packet.length);
        socket.write(Buffer.concat([prefix, packet]));
      });
      socket.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          socket.end();
          resolve(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        }
      });
      socket.on('error', reject);
    });
  }
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('message', (msg) => {
      socket.close();
      resolve(dnsPacket.decode(msg));
    });
    socket.once('error', reject);
    socket.send(packet, port, '127.0.0.1');
  });
}

describeConformance(
  'DNS interface (agent/dns.go)',
  (ctx: ConformanceContext) => {
    let port = 0;
    let services: string[] = [];
    beforeAll(() => {
      port = ctx.target.dev!.dns!.port;
    });
    afterEach(async () => {
      for (const id of services.splice(0)) await ctx.req('PUT', `/v1/agent/service/deregister/${id}`);
    });
    let n = 0;
    /** A service name unique to the test (DNS labels: lower case, no slashes). */
    const svcName = (label: string): string => `${label}-${(n += 1)}-${ctx.base.replace(/[^a-z0-9]/gi, '').slice(-8).toLowerCase()}`;
    async function register(body: Record<string, unknown>): Promise<void> {
      const res = await ctx.req('PUT', '/v1/agent/service/register', { body });
      expect(res.status, res.text).toBe(200);
      services.push(body.ID as string);
    }

    it('<service>.service.consul answers A records of the healthy instances, authoritative, TTL 0', async () => {
      const name = svcName('web');
      await register({ ID: `${name}-1`, Name: name, Address: '127.0.0.11', Port: 81 });
      await register({ ID: `${name}-2`, Name: name, Address: '127.0.0.12', Port: 82 });
      // A third instance whose check is critical is left out (health filter).
      await register({ ID: `${name}-3`, Name: name, Address: '127.0.0.13', Port: 83, Check: { TTL: '30s', Status: 'critical' } });
      const res = await ask(port, `${name}.service.consul`, 'A');
      expect(rcode(res)).toBe(0);
      expect(res.flag_aa).toBe(true);
      expect(res.flag_ra).toBe(false);
      expect(data(res.answers).sort()).toEqual(['127.0.0.11', '127.0.0.12']);
      expect(res.answers?.every((a) => a.type === 'A' && a.ttl === 0)).toBe(true);
    });

    it('answers are shuffled across queries', async () => {
      const name = svcName('shuf');
      for (let i = 1; i <= 3; i++) await register({ ID: `${name}-${i}`, Name: name, Address: `127.0.0.${20 + i}`, Port: 80 });
      const firsts = new Set<unknown>();
      for (let i = 0; i < 30 && firsts.size < 2; i++) firsts.add(data((await ask(port, `${name}.service.consul`, 'A')).answers)[0]);
      expect(firsts.size).toBeGreaterThan(1);
    });

    it('UDP without EDNS keeps 3 records (udp_answer_limit) and no TC bit; TCP and EDNS get them all', async () => {
      const name = svcName('many');
      for (let i = 1; i <= 5; i++) await register({ ID: `${name}-${i}`, Name: name, Address: `127.0.1.${i}`, Port: 80 });
      const udp = await ask(port, `${name}.service.consul`, 'A');
      expect(udp.answers).toHaveLength(3);
      expect(udp.flag_tc).toBe(false);
      expect((await ask(port, `${name}.service.consul`, 'A', { tcp: true })).answers).toHaveLength(5);
      expect((await ask(port, `${name}.service.consul`, 'A', { edns: 4096 })).answers).toHaveLength(5);
    });

    it('<tag>.<service> and RFC 2782 _<service>._<tag> filter on the tag; _tcp means no tag', async () => {
      const name = svcName('tagged');
      await register({ ID: `${name}-1`, Name: name, Address: '127.0.0.31', Port: 9001, Tags: ['primary'] });
      await register({ ID: `${name}-2`, Name: name, Address: '127.0.0.32', Port: 9002, Tags: ['replica'] });
      expect(data((await ask(port, `primary.${name}.service.consul`, 'A')).answers)).toEqual(['127.0.0.31']);
      const srv = await ask(port, `_${name}._primary.service.consul`, 'SRV');
      expect(srv.answers).toHaveLength(1);
      const record = srv.answers![0] as SrvAnswer;
      // A service address becomes a <hex>.addr.<dc>.consul target, with its A record as extra.
      expect(record.data).toEqual({ priority: 1, weight: 1, port: 9001, target: '7f00001f.addr.dc1.consul' });
      expect(data(srv.additionals?.filter((a) => a.name === '7f00001f.addr.dc1.consul'))).toEqual(['127.0.0.31']);
      expect((await ask(port, `_${name}._tcp.service.consul`, 'SRV')).answers).toHaveLength(2);
      expect(rcode(await ask(port, `nosuchtag.${name}.service.consul`, 'A'))).toBe(3);
    });

    it('SRV of an instance without address targets <node>.node.<dc>.consul; the datacenter label is accepted', async () => {
      const name = svcName('plain');
      await register({ ID: `${name}-1`, Name: name, Port: 7000, Weights: { Passing: 5, Warning: 1 } });
      const srv = await ask(port, `${name}.service.dc1.consul`, 'SRV');
      const record = srv.answers![0] as SrvAnswer;
      expect(record.data).toMatchObject({ priority: 1, weight: 5, port: 7000, target: `${ctx.target.dev!.nodeName}.node.dc1.consul` });
      expect(srv.additionals?.[0]).toMatchObject({ type: 'A', name: `${ctx.target.dev!.nodeName}.node.dc1.consul`, data: '127.0.0.1' });
      // Another datacenter cannot be reached: NXDOMAIN.
      expect(rcode(await ask(port, `${name}.service.dc9.consul`, 'A'))).toBe(3);
    });

    it('<node>.node.consul answers the node’s address', async () => {
      const node = ctx.target.dev!.nodeName;
      expect(data((await ask(port, `${node}.node.consul`, 'A')).answers)).toEqual(['127.0.0.1']);
      expect(data((await ask(port, `${node}.node.dc1.consul`, 'A')).answers)).toEqual(['127.0.0.1']);
      // No AAAA for an IPv4 node: NOERROR, no answer, the SOA as authority.
      const aaaa = await ask(port, `${node}.node.consul`, 'AAAA');
      expect(rcode(aaaa)).toBe(0);
      expect(aaaa.answers).toEqual([]);
      expect(aaaa.authorities?.[0]?.type).toBe('SOA');
    });

    it('unknown names are NXDOMAIN with Consul’s SOA (ns/hostmaster, 3600/600/86400/0) in the authority section', async () => {
      for (const q of ['missing-svc.service.consul', 'nope.node.consul', 'what.ever.consul']) {
        const res = await ask(port, q, 'A');
        expect(rcode(res), q).toBe(3);
        expect(res.answers).toEqual([]);
        const soa = res.authorities?.[0] as SoaAnswer;
        expect(soa.type).toBe('SOA');
        expect(soa.name).toBe('consul');
        expect(soa.ttl).toBe(0);
        expect(soa.data).toMatchObject({ mname: 'ns.consul', rname: 'hostmaster.consul', refresh: 3600, retry: 600, expire: 86_400, minimum: 0 });
      }
    });

    it('names outside the consul domain are refused (no recursors)', async () => {
      expect(rcode(await ask(port, 'example.com', 'A'))).toBe(5);
    });

    it('Node’s dns.Resolver pointed at the port resolves services and SRV records', async () => {
      const name = svcName('resolver');
      await register({ ID: `${name}-1`, Name: name, Address: '127.0.0.41', Port: 4141 });
      const resolver = new Resolver();
      resolver.setServers([`127.0.0.1:${port}`]);
      expect(await resolver.resolve4(`${name}.service.consul`)).toEqual(['127.0.0.41']);
      expect(await resolver.resolveSrv(`_${name}._tcp.service.consul`)).toEqual([
        { name: '7f000029.addr.dc1.consul', port: 4141, priority: 1, weight: 1 },
      ]);
      await expect(resolver.resolve4('nothing-here.service.consul')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    });
  },
  { dev: { dnsPort: 0 }, devOnly: true },
);
