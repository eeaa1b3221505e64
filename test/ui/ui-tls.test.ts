/**
 * `consul-recipes ui` forwards to an https agent with the CLI's TLS options: `--ca-file`, the
 * client certificate variables and the server name. The agent here is a small https server that
 * requires a client certificate (certificates made with the openssl command line, as in
 * test/coordinator/tls.test.ts) and echoes what it received.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../cli/build.js';
import { startCli, type CliProcess } from '../cli/support.js';
import { makeTestCertificates } from '../support/certs.js';

let dir: string;
let agent: https.Server;
let agentUrl: string;
const running: CliProcess[] = [];
const pem = (name: string): Buffer => readFileSync(path.join(dir, name));

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(path.join(tmpdir(), 'consul-recipes-ui-tls-'));
  makeTestCertificates(dir);
  agent = https.createServer({ key: pem('server.key'), cert: pem('server.pem'), ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': '7' });
    res.end(JSON.stringify({ path: req.url, token: req.headers['x-consul-token'] ?? null }));
  });
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
  agentUrl = `https://127.0.0.1:${(agent.address() as AddressInfo).port}`;
}, 60_000);

afterEach(async () => {
  for (const cli of running.splice(0)) {
    cli.kill('SIGTERM');
    await cli.exited;
  }
});

afterAll(async () => {
  agent.closeAllConnections();
  await new Promise<void>((r) => agent.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function startUi(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { CONSUL_HTTP_ADDR: _a, CONSUL_HTTP_TOKEN: _t, CONSUL_CACERT: _c, ...rest } = process.env;
  const cli = startCli(['ui', '--consul', agentUrl, '--port', '0', ...args], { ...rest, ...env });
  running.push(cli);
  await cli.waitForOutput(/serving http:\/\/\S+\/ui\//, 'stdout');
  return /serving (http:\/\/\S+)\/ui\//.exec(cli.stdout())![1]!;
}

describe('consul-recipes ui over https', () => {
  it('forwards with --ca-file, the client certificate and the server name, adding the token as a header', async () => {
    const base = await startUi(['--ca-file', path.join(dir, 'ca.pem')], {
      CONSUL_CLIENT_CERT: path.join(dir, 'client.pem'),
      CONSUL_CLIENT_KEY: path.join(dir, 'client.key'),
      CONSUL_TLS_SERVER_NAME: 'consul.test',
      CONSUL_HTTP_TOKEN: 'tls-secret',
    });
    const res = await fetch(`${base}/v1/kv/a?index=3`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-consul-index')).toBe('7');
    expect(await res.json()).toEqual({ path: '/v1/kv/a?index=3', token: 'tls-secret' });
  });

  it('refuses an agent whose certificate it cannot verify (502, nothing forwarded)', async () => {
    const base = await startUi([], { CONSUL_CLIENT_CERT: path.join(dir, 'client.pem'), CONSUL_CLIENT_KEY: path.join(dir, 'client.key'), CONSUL_TLS_SERVER_NAME: 'consul.test' });
    const res = await fetch(`${base}/v1/kv/a`);
    expect(res.status).toBe(502);
    expect(await res.text()).toMatch(/Cannot reach Consul at https:\/\/127\.0\.0\.1:\d+: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT)/);
  });

  it('a --ca-file it cannot read is a usage error (exit 2)', async () => {
    const cli = startCli(['ui', '--consul', agentUrl, '--port', '0', '--ca-file', path.join(dir, 'missing.pem')], process.env);
    const result = await cli.exited;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--ca-file: cannot read');
  });
});
