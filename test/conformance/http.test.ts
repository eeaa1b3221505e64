/**
 * Conformance: the HTTP layer shared by every endpoint and malformed input
 * (kv-sessions-blocking.md §0; agent-health-catalog-events.md §1, §12; agent checklist items
 * A16, A17, A52, A59). Item numbers from the agent checklist carry an `A`.
 *
 * After each malformed request the server must keep serving: every test ends with a write and
 * a read round trip.
 */
import { execFile } from 'node:child_process';
import { expect, it } from 'vitest';
import { b64, describeConformance, expectBool, expectError, type ConformanceContext } from '../support/conformance.js';
import { kvPath } from '../support/target.js';

/** The server still answers a write and a read correctly. */
async function expectServing(ctx: ConformanceContext): Promise<void> {
  const key = ctx.key(`alive-${Math.random().toString(36).slice(2, 8)}`);
  expectBool(await ctx.putKey(key, 'alive'), true);
  const { entry } = await ctx.getKey(key);
  expect(entry?.Value).toBe(b64('alive'));
}

const allowSet = (header: string | undefined): string[] => (header ?? '').split(',').sort();

describeConformance('HTTP layer', (ctx) => {
  it('#A17 OPTIONS answers 200 with Allow listing OPTIONS and the route methods, and no body', async () => {
    const cases: Array<[string, string[]]> = [
      ['/v1/agent/check/register', ['OPTIONS', 'PUT']],
      ['/v1/session/create', ['OPTIONS', 'PUT']],
      ['/v1/session/list', ['GET', 'OPTIONS']],
      [kvPath(ctx.key()), ['DELETE', 'GET', 'OPTIONS', 'PUT']],
      ['/v1/txn', ['OPTIONS', 'PUT']],
      ['/v1/status/leader', ['GET', 'OPTIONS']],
    ];
    for (const [path, methods] of cases) {
      const res = await ctx.req('OPTIONS', path);
      expect(res.status, path).toBe(200);
      expect(allowSet(res.header('allow')), path).toEqual(methods);
      expect(res.header('allow')!.startsWith('OPTIONS,'), path).toBe(true);
      expect(res.text, path).toBe('');
    }
    expect((await ctx.getKey(ctx.key())).entry).toBeUndefined();
  });

  it('#A16 a method not on the route answers 405 "method X not allowed" with Allow', async () => {
    const pass = await ctx.req('GET', '/v1/agent/check/pass/whatever');
    expect(pass.status).toBe(405);
    expect(pass.header('allow')).toBe('OPTIONS,PUT');
    expect(pass.text).toBe('method GET not allowed');

    const post = await ctx.req('POST', kvPath(ctx.key()), { body: 'x' });
    expect(post.status).toBe(405);
    expect(allowSet(post.header('allow'))).toEqual(['DELETE', 'GET', 'OPTIONS', 'PUT']);
    expect(post.text).toBe('method POST not allowed');

    const del = await ctx.req('DELETE', '/v1/session/list');
    expect(del.status).toBe(405);
    expect(del.text).toBe('method DELETE not allowed');

    const status = await ctx.req('PUT', '/v1/status/leader');
    expect(status.status).toBe(405);
    expect(status.header('allow')).toBe('OPTIONS,GET');
    expect((await ctx.getKey(ctx.key())).entry).toBeUndefined();
    await expectServing(ctx);
  });

  it('#A59 an unknown /v1/ path answers 404 with the fixed text; a non-API path says to use /v1/', async () => {
    const api = await ctx.req('GET', '/v1/nonsense');
    expect(api.status).toBe(404);
    expect(api.text).toBe('Invalid URL path: not a recognized HTTP API endpoint\n');
    const deep = await ctx.req('PUT', '/v1/kvx/a', { body: 'x' });
    expect(deep.status).toBe(404);
    expect(deep.text).toBe('Invalid URL path: not a recognized HTTP API endpoint\n');
    const other = await ctx.req('GET', '/nonsense');
    expect(other.status).toBe(404);
    expect(other.text).toBe("Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n");
    await expectServing(ctx);
  });

  it('#A52 /v1/status/leader is a host:port JSON string and /v1/status/peers contains it', async () => {
    const leader = await ctx.req('GET', '/v1/status/leader');
    expect(leader.status).toBe(200);
    expect(leader.header('content-type')).toMatch(/^application\/json/);
    expect(leader.text.trim()).toMatch(/^"[^"]+:\d+"$/);
    const address = leader.json() as string;
    const peers = await ctx.req('GET', '/v1/status/peers');
    expect(peers.status).toBe(200);
    expect(peers.json()).toContain(address);
  });

  it('#0 KV reads carry X-Consul-Index, KnownLeader and LastContact; KV writes do not', async () => {
    const key = ctx.key();
    const put = await ctx.putKey(key, 'v');
    expect(put.header('x-consul-index')).toBeUndefined();
    const get = await ctx.req('GET', kvPath(key));
    expect(get.header('x-consul-index')).toMatch(/^[1-9]\d*$/);
    expect(get.header('x-consul-knownleader')).toBe('true');
    expect(get.header('x-consul-lastcontact')).toBe('0');
    const del = await ctx.req('DELETE', kvPath(key));
    expect(del.header('x-consul-index')).toBeUndefined();
    const create = await ctx.req('PUT', '/v1/session/create');
    expect(create.header('x-consul-index')).toBeUndefined();
  });

  it('#0 flag parameters count by presence: ?recurse=false still recurses', async () => {
    const p = ctx.key('p/');
    await ctx.putKey(`${p}a`, 'v');
    await ctx.putKey(`${p}b`, 'v');
    const res = await ctx.req('GET', kvPath(p, 'recurse=false'));
    expect(res.status).toBe(200);
    expect((res.json() as unknown[]).length).toBe(2);
  });

  it('#0 ?pretty still returns valid JSON', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const res = await ctx.req('GET', kvPath(key, 'pretty'));
    expect(res.status).toBe(200);
    expect((res.json() as Array<{ Key: string }>)[0]?.Key).toBe(key);
  });
});

describeConformance('Malformed input', (ctx) => {
  it('#34 bad JSON bodies answer 400 with the endpoint prefix', async () => {
    expectError(await ctx.req('PUT', '/v1/session/create', { body: '{bad' }), 400, 'Request decode failed');
    expectError(await ctx.req('PUT', '/v1/session/create', { body: '[1,2]' }), 400, 'Request decode failed');
    expectError(await ctx.req('PUT', '/v1/agent/check/register', { body: '{bad' }), 400, 'Request decode failed:');
    expectError(await ctx.req('PUT', '/v1/txn', { body: '{"KV":' }), 400, 'Failed to parse body');
    await expectServing(ctx);
  });

  it('#A22 an empty check registration body answers 400 Request decode failed: EOF', async () => {
    expectError(await ctx.req('PUT', '/v1/agent/check/register'), 400, 'Request decode failed: EOF');
    await expectServing(ctx);
  });

  it('#17 a 10 MB KV body answers 413 and the server keeps serving', async () => {
    const key = ctx.key();
    const res = await ctx.req('PUT', kvPath(key), { body: Buffer.alloc(10 * 1024 * 1024, 0x62) });
    expectError(res, 413, `Request body(${10 * 1024 * 1024} bytes) too large, max size: 524288 bytes.`);
    expect((await ctx.getKey(key)).entry).toBeUndefined();
    await expectServing(ctx);
  });

  it('#17 a plain HTTP client in another process reads the 413 for a 10 MB upload', async () => {
    // Go's server half-closes and lingers after answering without reading the body
    // (closeWriteAndWait), so the answer is not lost to a TCP reset while the client is still
    // uploading. A server that closes at once loses it about half the time; four tries show it.
    const script = `
      const http = require('node:http');
      const u = new URL(process.argv[1]);
      const body = Buffer.alloc(10 * 1024 * 1024, 97);
      const req = http.request({ host: u.hostname, port: u.port, method: 'PUT', path: process.argv[2],
        headers: { 'Content-Length': body.length }, agent: false });
      req.on('response', (r) => { r.resume(); r.on('end', () => { console.log('STATUS ' + r.statusCode); process.exit(0); }); });
      req.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(0); });
      req.end(body);`;
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      outcomes.push(
        await new Promise<string>((resolve) =>
          execFile(process.execPath, ['-e', script, ctx.target.url, kvPath(ctx.key(`big${i}`))], { timeout: 20_000 }, (_err, stdout) =>
            resolve(String(stdout).trim()),
          ),
        ),
      );
    }
    expect(outcomes).toEqual(['STATUS 413', 'STATUS 413', 'STATUS 413', 'STATUS 413']);
    await expectServing(ctx);
  });

  it('#67 a 10 MB transaction body answers 413 and the server keeps serving', async () => {
    const ops = `[${Array.from({ length: 10 }, () => `{"KV":{"Verb":"set","Key":"${ctx.key('big')}","Value":"${'A'.repeat(1024 * 1024)}"}}`).join(',')}]`;
    const res = await ctx.req('PUT', '/v1/txn', { body: ops });
    expect(res.status).toBe(413);
    expect(res.text).toMatch(/too large, max size: 524288 bytes/);
    expect((await ctx.getKey(ctx.key('big'))).entry).toBeUndefined();
    await expectServing(ctx);
  });

  it('#0 an invalid percent-escape in the path answers 400 Bad Request', async () => {
    const res = await ctx.req('GET', `/v1/kv/${ctx.key('bad')}%ZZ`);
    expect(res.status).toBe(400);
    expect(res.text).toBe('400 Bad Request');
    await expectServing(ctx);
  });

  it('#0 a non-printable character in the path answers 400', async () => {
    // go-cleanhttp's PrintablePathCheckHandler wraps Consul's mux: 400 and no body.
    const res = await ctx.req('PUT', `/v1/kv/${ctx.key('nul')}%00x`, { body: 'x' });
    expect(res.status).toBe(400);
    expect(res.text).toBe('');
    const ctl = await ctx.req('GET', `/v1/kv/${ctx.key('ctl')}%0A`);
    expect(ctl.status).toBe(400);
    await expectServing(ctx);
  });

  it('#0 an invalid percent-escape in the query answers 500 with an empty body', async () => {
    const key = ctx.key();
    const res = await ctx.req('PUT', kvPath(key, 'flags=%ZZ'), { body: 'x' });
    expect(res.status).toBe(500);
    expect(res.text).toBe('');
    expect((await ctx.getKey(key)).entry).toBeUndefined();
    await expectServing(ctx);
  });

  it('#0 percent-encoded key bytes are decoded: a%2Fb is the key a/b', async () => {
    const base = ctx.key('enc');
    expectBool(await ctx.req('PUT', `/v1/kv/${base}%2Fx%2Dy`, { body: 'v' }), true);
    expect((await ctx.getKey(`${base}/x-y`)).entry?.Value).toBe(b64('v'));
  });

  it('#7 bad numeric query parameters on writes answer 500 (parse error)', async () => {
    const key = ctx.key();
    expect((await ctx.putKey(key, 'v', 'cas=abc')).status).toBe(500);
    expect((await ctx.putKey(key, 'v', 'cas=-5')).status).toBe(500);
    await ctx.putKey(key, 'v');
    expect((await ctx.req('DELETE', kvPath(key, 'cas=xyz'))).status).toBe(500);
    expect((await ctx.getKey(key)).entry).toBeDefined();
    await expectServing(ctx);
  });

  it('#61 bad blocking parameters answer 400 and the server keeps serving', async () => {
    const key = ctx.key();
    expectError(await ctx.req('GET', kvPath(key, 'wait=forever')), 400, 'Invalid wait time');
    expectError(await ctx.req('GET', kvPath(key, 'wait=-')), 400, 'Invalid wait time');
    expectError(await ctx.req('GET', kvPath(key, 'index=1.5')), 400, 'Invalid index');
    expectError(await ctx.req('GET', kvPath(key, 'max_stale=soon')), 400, 'Invalid max_stale value');
    await expectServing(ctx);
  });

  it('#A13 strict decoding also applies to check registration: unknown fields and bad durations answer 400', async () => {
    expectError(
      await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: 'x', TTL: '10s', Nope: 1 } }),
      400,
      'Request decode failed:',
    );
    expectError(
      await ctx.req('PUT', '/v1/agent/check/register', { body: { Name: 'x', TTL: 'soon' } }),
      400,
      'Request decode failed:',
    );
    await expectServing(ctx);
  });

  it('#0 a body on GET is ignored', async () => {
    const key = ctx.key();
    await ctx.putKey(key, 'v');
    const res = await ctx.req('GET', kvPath(key), { body: '{"junk": true}' });
    expect(res.status).toBe(200);
    await expectServing(ctx);
  });
});
