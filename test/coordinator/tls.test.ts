/**
 * https agents: CA bundle, client certificates, server name and the env variables that set them.
 * Certificates are generated for the test with the openssl command line.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsulError, Coordinator } from '../../src/index.js';
import { optionsFromEnv } from '../../src/coordinator.js';
import { makeTestCertificates } from '../support/certs.js';

let dir: string;
let server: https.Server;
let url: string;
const pem = (name: string): Buffer => readFileSync(path.join(dir, name));

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'consul-recipes-tls-'));
  makeTestCertificates(dir);
  server = https.createServer(
    { key: pem('server.key'), cert: pem('server.pem'), ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true },
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('"127.0.0.1:8300"');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function leader(coord: Coordinator): Promise<unknown> {
  try {
    return await coord.api.agent.leader();
  } finally {
    await coord.close();
  }
}

describe('https', () => {
  it('talks to an agent that verifies clients, given the CA, a client certificate and the server name', async () => {
    const coord = new Coordinator({
      address: url,
      ca: pem('ca.pem'),
      cert: pem('client.pem'),
      key: pem('client.key'),
      tlsServerName: 'consul.test',
      retry: { retries: 0 },
    });
    expect(await leader(coord)).toBe('127.0.0.1:8300');
  });

  it('refuses a server whose name does not match, and one signed by an unknown CA', async () => {
    const wrongName = new Coordinator({ address: url, ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key'), retry: { retries: 0 } });
    await expect(leader(wrongName)).rejects.toBeInstanceOf(ConsulError);
    const noCa = new Coordinator({ address: url, cert: pem('client.pem'), key: pem('client.key'), tlsServerName: 'consul.test', retry: { retries: 0 } });
    await expect(leader(noCa)).rejects.toBeInstanceOf(ConsulError);
  });

  it('fails without a client certificate when the agent requires one', async () => {
    const coord = new Coordinator({ address: url, ca: pem('ca.pem'), tlsServerName: 'consul.test', retry: { retries: 0 } });
    await expect(leader(coord)).rejects.toBeInstanceOf(ConsulError);
  });

  it('reads CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME and CONSUL_HTTP_SSL_VERIFY', () => {
    const options = optionsFromEnv({
      CONSUL_HTTP_ADDR: url,
      CONSUL_CACERT: path.join(dir, 'ca.pem'),
      CONSUL_CLIENT_CERT: path.join(dir, 'client.pem'),
      CONSUL_CLIENT_KEY: path.join(dir, 'client.key'),
      CONSUL_TLS_SERVER_NAME: 'consul.test',
      CONSUL_HTTP_SSL_VERIFY: 'false',
    });
    expect(options.ca).toEqual(pem('ca.pem'));
    expect(options.cert).toEqual(pem('client.pem'));
    expect(options.key).toEqual(pem('client.key'));
    expect(options.tlsServerName).toBe('consul.test');
    expect(options.tlsSkipVerify).toBe(true);
  });

  it('with tlsSkipVerify accepts any server certificate', async () => {
    const coord = new Coordinator({ address: url, cert: pem('client.pem'), key: pem('client.key'), tlsSkipVerify: true, retry: { retries: 0 } });
    expect(await leader(coord)).toBe('127.0.0.1:8300');
  });
});

describe('options given as undefined', () => {
  it('do not hide the environment', () => {
    const saved = { addr: process.env.CONSUL_HTTP_ADDR, token: process.env.CONSUL_HTTP_TOKEN };
    process.env.CONSUL_HTTP_ADDR = 'http://127.0.0.1:18500';
    process.env.CONSUL_HTTP_TOKEN = 'from-env';
    try {
      const coord = new Coordinator({ address: undefined, token: undefined });
      expect(coord.address).toBe('http://127.0.0.1:18500');
      expect((coord.api.http as unknown as { token: string }).token).toBe('from-env');
      void coord.close();
      const fromEnv = Coordinator.fromEnv({ token: undefined });
      expect((fromEnv.api.http as unknown as { token: string }).token).toBe('from-env');
      void fromEnv.close();
    } finally {
      if (saved.addr === undefined) delete process.env.CONSUL_HTTP_ADDR;
      else process.env.CONSUL_HTTP_ADDR = saved.addr;
      if (saved.token === undefined) delete process.env.CONSUL_HTTP_TOKEN;
      else process.env.CONSUL_HTTP_TOKEN = saved.token;
    }
  });
});
