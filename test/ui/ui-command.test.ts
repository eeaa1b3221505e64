/**
 * `consul-recipes ui` against a dev server treated as a remote agent with ACLs, and the UI address
 * of `consul-recipes dev`. Runs the built binary (dist/cli/main.js) and drives chromium. The ACL
 * token never appears in a URL: it stays in the `ui` process, or the page keeps the one typed into
 * its token box in session storage and sends it as a header.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Coordinator } from '../../src/index.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';
import { startCli, type CliProcess } from '../cli/support.js';
import { waitFor } from '../support/wait.js';
import { launchBrowser, openPage, screenshot } from './support.js';

const TOKEN = 'c0ffee00-ui-test-secret-token';
let agent: DevServer;
let browser: Browser;
const running: CliProcess[] = [];

function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { CONSUL_HTTP_ADDR: _a, CONSUL_HTTP_TOKEN: _t, ...rest } = process.env;
  return { ...rest, ...extra };
}

/** Starts `consul-recipes ui` on a free port; resolves with its printed base URL. */
async function startUi(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ cli: CliProcess; base: string }> {
  const cli = startCli(['ui', '--consul', agent.url, '--port', '0', ...args], cleanEnv(env));
  running.push(cli);
  await cli.waitForOutput(/serving http:\/\/\S+\/ui\//, 'stdout');
  const base = /serving (http:\/\/\S+)\/ui\//.exec(cli.stdout())![1]!;
  return { cli, base };
}

async function text(page: Page, selector: string, condition: (t: string) => boolean = () => true): Promise<string> {
  return waitFor(
    async () => {
      const t = (await page.locator(selector).first().textContent({ timeout: 500 })) ?? '';
      return condition(t) ? t : undefined;
    },
    { timeout: 5_000, message: `text of ${selector}` },
  );
}

beforeAll(async () => {
  agent = await startDevServer({ aclToken: TOKEN });
  browser = await launchBrowser();
}, 60_000);

afterEach(async () => {
  for (const cli of running.splice(0)) {
    cli.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }
});

afterAll(async () => {
  await browser?.close();
  await agent?.close();
});

describe('consul-recipes ui', () => {
  it('serves every page for a remote agent with the token kept server-side, never in a URL', async () => {
    const coord = new Coordinator({ address: agent.url, token: TOKEN });
    try {
      const reg = await coord.registerService({ name: 'billing', id: 'billing-1', address: '10.0.0.7', port: 7000, tags: ['blue'], check: { ttl: '30s' } });
      await reg.setHealth('passing', 'ok');
      await coord.lock('jobs/nightly', { value: 'runner-a' }).acquire();
      await fetch(`${agent.url}/v1/kv/cfg/mode`, { method: 'PUT', body: 'on', headers: { 'X-Consul-Token': TOKEN } });

      const { cli, base } = await startUi({ CONSUL_HTTP_TOKEN: TOKEN });
      expect(cli.stdout()).not.toContain(TOKEN);
      const { page, urls } = await openPage(browser);
      await page.goto(`${base}/ui/`);
      await page.waitForURL('**/ui/dc1/services');
      expect(await text(page, 'tr[data-service="billing"]', (t) => t.includes('passing'))).toContain('blue');

      await page.goto(`${base}/ui/dc1/services/billing`);
      expect(await text(page, '[data-instance="billing-1"]', (t) => t.includes('10.0.0.7:7000'))).toContain('ok');
      await page.goto(`${base}/ui/dc1/nodes/dev`);
      expect(await text(page, 'main', (t) => t.includes('billing-1'))).toContain('Serf Health Status');
      await page.goto(`${base}/ui/dc1/sessions`);
      expect(await text(page, '[data-testid="sessions"]', (t) => t.includes('jobs/nightly'))).toContain('dev');

      await page.goto(`${base}/ui/dc1/coordination`);
      const lock = await text(page, '[data-kind="lock"][data-key="jobs/nightly"]');
      expect(lock).toContain('held');
      expect(lock).toContain('runner-a');
      await screenshot(page, 'ui-command-coordination');

      // An edit through the proxy, then a stale one refused.
      await page.goto(`${base}/ui/dc1/kv/cfg/mode`);
      await text(page, '[data-testid="value"]', (t) => t === 'on');
      await page.click('button:text-is("Edit")');
      await page.fill('#edit-value', 'off');
      await page.click('button:text-is("Save")');
      await text(page, '[data-testid="value"]', (t) => t === 'off');
      await page.click('button:text-is("Edit")');
      await fetch(`${agent.url}/v1/kv/cfg/mode`, { method: 'PUT', body: 'elsewhere', headers: { 'X-Consul-Token': TOKEN } });
      await page.fill('#edit-value', 'stale');
      await page.click('button:text-is("Save")');
      expect(await text(page, '[data-testid="notice"]')).toContain('Not saved');
      expect(agent.state.getKey('cfg/mode')?.value?.toString()).toBe('elsewhere');

      expect(urls.some((u) => u.includes('/v1/kv/'))).toBe(true);
      expect(urls.filter((u) => u.includes(TOKEN) || /[?&]token=/.test(u))).toEqual([]);
      expect(urls.filter((u) => u.startsWith('pageerror'))).toEqual([]);
      await page.context().close();
    } finally {
      await coord.close();
    }
  });

  it('without a server-side token the page asks for one and keeps it in session storage', async () => {
    const { base } = await startUi({});
    const { page, urls } = await openPage(browser);
    await page.goto(`${base}/ui/dc1/kv/`);
    expect(await text(page, '[data-testid="acl-banner"]')).toContain('Access denied by ACLs');
    await page.click('button:text-is("ACL token")');
    await page.fill('#token-input', TOKEN);
    await screenshot(page, 'ui-command-token-box');
    await page.click('button:text-is("Use token")');
    expect(await text(page, '[data-testid="kv-list"]', (t) => t.includes('cfg/'))).toContain('cfg/');
    expect(await page.locator('[data-testid="acl-banner"]').count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('consul-recipes-ui-token'))).toBe(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(urls.filter((u) => u.includes(TOKEN))).toEqual([]);
    await page.context().close();
  });

  it('refuses a token in the URL, unknown host names and cross-site requests', async () => {
    const { base } = await startUi({ CONSUL_HTTP_TOKEN: TOKEN });
    expect((await fetch(`${base}/v1/kv/cfg/mode?token=${TOKEN}`)).status).toBe(400);
    expect((await fetch(`${base}/v1/kv/cfg/mode`)).status).toBe(200);
    const port = new URL(base).port;
    const { request } = await import('node:http');
    const status = (headers: Record<string, string>): Promise<number> =>
      new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/v1/kv/cfg/mode', headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
    expect(await status({ Host: `evil.example:${port}` })).toBe(421);
    expect(await status({ Origin: 'http://evil.example' })).toBe(403);
    expect(await status({ 'Sec-Fetch-Site': 'cross-site' })).toBe(403);
  });

  it('reports an agent it cannot reach as 502 with the address', async () => {
    const cli = startCli(['ui', '--consul', '127.0.0.1:1', '--port', '0'], cleanEnv());
    running.push(cli);
    await cli.waitForOutput(/serving http:\/\/\S+\/ui\//, 'stdout');
    const base = /serving (http:\/\/\S+)\/ui\//.exec(cli.stdout())![1]!;
    const res = await fetch(`${base}/v1/agent/self`);
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('Cannot reach Consul at http://127.0.0.1:1');
  });
});

describe('consul-recipes dev', () => {
  it('prints the UI address and serves it; --no-ui turns it off', async () => {
    const dev = startCli(['dev', '--port', '0'], cleanEnv());
    running.push(dev);
    await dev.waitForOutput(/UI at (http:\/\/\S+\/ui\/)/, 'stdout');
    const url = /UI at (http:\/\/\S+\/ui\/)/.exec(dev.stdout())![1]!;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('/ui/app.js');
    expect((await fetch(url.replace(/\/ui\/$/, '/ui/app.js'))).headers.get('content-type')).toContain('javascript');

    const off = startCli(['dev', '--port', '0', '--no-ui'], cleanEnv());
    running.push(off);
    await off.waitForOutput(/listening on (http:\/\/\S+)/, 'stdout');
    expect(off.stdout()).not.toContain('UI at');
    const offUrl = /listening on (http:\/\/\S+)/.exec(off.stdout())![1]!;
    expect((await fetch(`${offUrl}/ui/`)).status).toBe(404);
  });
});
