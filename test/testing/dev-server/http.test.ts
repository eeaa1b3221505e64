import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../../src/testing/index.js';
import { raw } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
});
afterAll(async () => {
  await server.close();
});

function rawSocket(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, server.host, () => socket.end(text));
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('HTTP layer', () => {
  it('answers a wrong method with 405 and Allow, OPTIONS with 200 and Allow', async () => {
    const res = await raw(server, 'GET', '/v1/session/create');
    expect([res.status, res.text, res.headers.allow]).toEqual([405, 'method GET not allowed', 'OPTIONS,PUT']);
    const kv = await raw(server, 'POST', '/v1/kv/x');
    expect(kv.headers.allow).toBe('OPTIONS,GET,PUT,DELETE');
    const opt = await raw(server, 'OPTIONS', '/v1/agent/check/register');
    expect([opt.status, opt.text, opt.headers.allow]).toEqual([200, '', 'OPTIONS,PUT']);
  });

  it('answers unknown paths with the Index 404 text', async () => {
    const res = await raw(server, 'GET', '/v1/nonsense');
    expect([res.status, res.text]).toEqual([404, 'Invalid URL path: not a recognized HTTP API endpoint\n']);
    expect((await raw(server, 'GET', '/v1/kv')).status).toBe(301);
    const other = await raw(server, 'GET', '/nonsense');
    expect(other.text).toBe("Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n");
  });

  it('answers non-printable path characters with a bare 400', async () => {
    for (const path of ['/v1/kv/a%00b', '/v1/kv/a%0A']) {
      const res = await raw(server, 'PUT', path, { body: 'x' });
      expect([res.status, res.text]).toEqual([400, '']);
    }
  });

  it('survives malformed encodings and requests', async () => {
    expect((await raw(server, 'GET', '/v1/kv/%zz')).status).toBe(400);
    expect((await raw(server, 'GET', '/v1/kv/x?index=%zz')).status).toBe(500);
    expect((await raw(server, 'GET', '/v1/kv/x?a=1;b=2')).status).toBe(500);
    const garbage = await rawSocket('THIS IS NOT HTTP\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    expect((await raw(server, 'GET', '/v1/status/leader')).status).toBe(200);
  });

  it('rejects oversized bodies without buffering them, and stays up', async () => {
    const res = await raw(server, 'PUT', '/v1/session/create', { body: Buffer.alloc(3 << 20, 32), chunked: true, headers: { 'Content-Length': String(3 << 20) } });
    expect(res.status).toBe(413);
    const txn = await raw(server, 'PUT', '/v1/txn', { body: Buffer.alloc(600_000, 32), chunked: true });
    expect([txn.status, txn.text]).toEqual([413, 'Request body too large, max size: 524288 bytes']);
    expect((await raw(server, 'GET', '/v1/status/peers')).json()).toEqual(['127.0.0.1:8300']);
  });

  it('answers a foreign datacenter with No path to datacenter', async () => {
    const res = await raw(server, 'GET', '/v1/kv/x?dc=elsewhere');
    expect([res.status, res.text]).toEqual([500, 'No path to datacenter']);
  });

  it('indents JSON with ?pretty', async () => {
    const res = await raw(server, 'GET', '/v1/status/peers?pretty');
    expect(res.text).toBe('[\n    "127.0.0.1:8300"\n]\n');
  });

  it('reports itself in /v1/agent/self', async () => {
    const self = (await raw(server, 'GET', '/v1/agent/self')).json<{ Config: Record<string, unknown>; Member: Record<string, unknown> }>();
    expect(self.Config).toMatchObject({ NodeName: 'dev', Datacenter: 'dc1', Server: true });
    expect(self.Member).toMatchObject({ Name: 'dev', Status: 1 });
  });
});
