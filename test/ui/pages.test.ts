/**
 * The web UI in a real browser (Debian's chromium through playwright-core) against the dev
 * server: every page shows what the recipes and the agent hold, the KV editor writes with
 * check-and-set and refuses stale or invalid writes, and views follow changes live. Screenshots
 * of every page go to test/ui/screenshots/ for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Coordinator } from '../../src/index.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';
import { waitFor } from '../support/wait.js';
import { launchBrowser, openPage, screenshot } from './support.js';

let server: DevServer;
let browser: Browser;
let page: Page;
let urls: string[];
const coords: Coordinator[] = [];
const waiter = new AbortController();
let lockToken = 0;
let term = 0;
let lockSession = '';
let legacySession = '';

function coordinator(): Coordinator {
  const c = new Coordinator({ address: server.url });
  coords.push(c);
  return c;
}

async function kvPut(key: string, body: string | Buffer, query = ''): Promise<string> {
  const res = await fetch(`${server.url}/v1/kv/${key}${query}`, { method: 'PUT', body });
  return res.text();
}

async function kvGet(key: string): Promise<Buffer | undefined> {
  const res = await fetch(`${server.url}/v1/kv/${key}?raw`);
  return res.status === 404 ? undefined : Buffer.from(await res.arrayBuffer());
}

async function go(path: string): Promise<void> {
  await page.goto(`${server.url}${path}`);
  await page.locator('#page-title').waitFor();
}

/** Text of the element, once `condition` holds for it (the page updates itself). */
async function textOf(selector: string, condition: (text: string) => boolean = () => true, timeout = 10_000): Promise<string> {
  return waitFor(
    async () => {
      const text = (await page.locator(selector).first().textContent({ timeout: 500 })) ?? '';
      return condition(text) ? text : undefined;
    },
    { timeout, message: `text of ${selector}` },
  );
}

beforeAll(async () => {
  server = await startDevServer({ sessionTtlMin: '1s' });
  const a = coordinator();
  const b = coordinator();
  const c = coordinator();
  const web = await a.registerService({ name: 'web', id: 'web-1', address: '127.0.0.1', port: 8080, tags: ['v1', 'primary'], check: { ttl: '30s' } });
  await web.setHealth('passing', 'all good');
  const api = await b.registerService({ name: 'api', id: 'api-1', address: '127.0.0.1', port: 9090, tags: ['internal'], check: { ttl: '30s' } });
  await api.setHealth('critical', 'database unreachable');

  await kvPut('app/greeting', 'hello');
  await kvPut('app/config.json', '{"replicas":3,"region":"eu-west"}');
  await kvPut('app/nested/deep', 'x');
  await kvPut('bin/blob', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x41]));

  const lock = a.lock('locks/orders', { value: { host: 'app-host', pid: 4242, since: new Date().toISOString(), name: 'orders-worker' }, lockDelay: '15s' });
  const handle = await lock.acquire();
  lockToken = handle.fencingToken;
  lockSession = (await fetch(`${server.url}/v1/kv/locks/orders`).then((r) => r.json()) as [{ Session: string }])[0].Session;

  await a.semaphore('semaphores/db', { limit: 2 }).acquire();
  await b.semaphore('semaphores/db', { limit: 2 }).acquire();
  // A third contender waits for a permit until the tests end.
  void c.semaphore('semaphores/db', { limit: 2 }).acquire({ signal: waiter.signal }).catch(() => undefined);
  await waitFor(() => server.state.listKeys('semaphores/db/').length === 4, { message: 'three contender keys and the record' });

  // `consul lock jobs/legacy` (Go's api.Lock): `<prefix>/.lock` with the lock flag, no holder record.
  const legacy = (await fetch(`${server.url}/v1/session/create`, { method: 'PUT', body: JSON.stringify({ Name: 'Consul lock session', TTL: '15s' }) }).then((r) => r.json())) as { ID: string };
  legacySession = legacy.ID;
  expect(await kvPut('jobs/legacy/.lock', '', `?acquire=${legacy.ID}&flags=3304740253564472344`)).toBe('true');

  const election = b.election('elections/billing', { value: { id: 'leader-1' } });
  await election.campaign();
  term = election.fencingToken ?? 0;

  browser = await launchBrowser();
  ({ page, urls } = await openPage(browser));
}, 60_000);

afterAll(async () => {
  waiter.abort();
  await browser?.close();
  await Promise.all(coords.map((c) => c.close()));
  await server?.close();
});

describe('UI pages against the dev server', () => {
  it('/ui/ opens the services of the agent’s datacenter, with health and tags', async () => {
    await page.goto(`${server.url}/ui/`);
    await page.waitForURL('**/ui/dc1/services');
    const web = await textOf('tr[data-service="web"]', (t) => t.includes('passing'));
    expect(web).toContain('1 passing');
    expect(web).toContain('primary');
    expect(await textOf('tr[data-service="api"]')).toContain('1 critical');
    expect(await textOf('[data-testid="services"]')).toContain('consul');
    await screenshot(page, 'services');
  });

  it('a service page lists instances with address:port, tags and each check with its output', async () => {
    await page.click('a:text-is("web")');
    await page.waitForURL('**/ui/dc1/services/web');
    const instance = await textOf('[data-instance="web-1"]', (t) => t.includes('all good'));
    expect(instance).toContain('127.0.0.1:8080');
    expect(instance).toContain('v1');
    expect(instance).toContain('passing');
    await screenshot(page, 'service-web');
  });

  it('a check change shows on the open service page without a reload', async () => {
    const reloads: string[] = [];
    page.on('framenavigated', (f) => reloads.push(f.url()));
    await fetch(`${server.url}/v1/agent/check/update/service:web-1`, { method: 'PUT', body: JSON.stringify({ Status: 'warning', Output: 'slow responses' }) });
    const instance = await textOf('[data-instance="web-1"]', (t) => t.includes('slow responses'), 2_000);
    expect(instance).toContain('warning');
    expect(reloads).toEqual([]);
  });

  it('nodes list the agent’s node; a node page shows its checks, services and sessions', async () => {
    await go('/ui/dc1/nodes');
    expect(await textOf('tr[data-node="dev"]')).toContain('127.0.0.1');
    await screenshot(page, 'nodes');
    await page.click('a:text-is("dev")');
    await page.waitForURL('**/ui/dc1/nodes/dev');
    const body = await textOf('main', (t) => t.includes('Serf Health Status'));
    expect(body).toContain('web-1');
    expect(body).toContain('api-1');
    await screenshot(page, 'node-dev');
  });

  it('the KV root and folders list keys and sub-folders', async () => {
    await go('/ui/dc1/kv/');
    const root = await textOf('[data-testid="kv-list"]');
    for (const name of ['app/', 'bin/', 'locks/', 'semaphores/', 'elections/']) expect(root).toContain(name);
    await screenshot(page, 'kv-root');
    await page.click('a:has-text("app/")');
    await page.waitForURL('**/ui/dc1/kv/app/');
    const folder = await textOf('[data-testid="kv-list"]');
    expect(folder).toContain('greeting');
    expect(folder).toContain('nested/');
  });

  it('a JSON value shows pretty-printed, with flags and indexes', async () => {
    await go('/ui/dc1/kv/app/config.json');
    expect(await textOf('[data-testid="value"]')).toContain('"replicas": 3');
    expect(await page.getAttribute('[data-testid="value"]', 'data-mode')).toBe('json');
    const created = server.state.getKey('app/config.json')!;
    expect(await textOf('[data-testid="modify-index"]')).toBe(String(created.modifyIndex));
    expect(await textOf('[data-testid="flags"]')).toContain('0');
    await page.click('button:text-is("Text")');
    expect(await textOf('[data-testid="value"]')).toBe('{"replicas":3,"region":"eu-west"}');
    await screenshot(page, 'kv-json');
  });

  it('a value that is not valid UTF-8 shows as hex, and text view is not offered', async () => {
    await go('/ui/dc1/kv/bin/blob');
    expect(await textOf('[data-testid="value"]')).toContain('ff fe 00 01 41');
    expect(await page.getAttribute('[data-testid="value"]', 'data-mode')).toBe('hex');
    expect(await textOf('[data-testid="binary-note"]')).toContain('not valid UTF-8');
    expect(await page.isDisabled('button:text-is("Text")')).toBe(true);
    await screenshot(page, 'kv-hex');
  });

  it('a lock key shows the lock flag', async () => {
    await go('/ui/dc1/kv/locks/orders');
    expect(await textOf('[data-testid="flags"]')).toContain('3304740253564472344');
    expect(await textOf('[data-testid="flags"]')).toContain('api.LockFlagValue');
  });

  it('edits a key through the UI with check-and-set', async () => {
    await go('/ui/dc1/kv/app/greeting');
    await textOf('[data-testid="value"]', (t) => t === 'hello');
    await page.click('button:text-is("Edit")');
    await page.fill('#edit-value', 'hello, world');
    await page.click('button:text-is("Save")');
    expect(await textOf('[data-testid="notice"]')).toBe('Saved.');
    expect(await textOf('[data-testid="value"]', (t) => t === 'hello, world')).toBe('hello, world');
    expect((await kvGet('app/greeting'))?.toString()).toBe('hello, world');
  });

  it('refuses an edit made from a stale index and says so', async () => {
    await page.click('button:text-is("Edit")');
    await page.fill('#edit-value', 'my stale edit');
    // Someone else writes meanwhile.
    await kvPut('app/greeting', 'changed elsewhere');
    await page.click('button:text-is("Save")');
    const notice = await textOf('[data-testid="notice"]');
    expect(notice).toContain('Not saved');
    expect(notice).toContain('changed by someone else');
    expect((await kvGet('app/greeting'))?.toString()).toBe('changed elsewhere');
    await screenshot(page, 'kv-stale-edit');
    await page.click('button:text-is("Cancel")');
    expect(await textOf('[data-testid="value"]', (t) => t === 'changed elsewhere')).toBe('changed elsewhere');
  });

  it('a key changed elsewhere updates the open page live', async () => {
    await kvPut('app/greeting', 'live update');
    expect(await textOf('[data-testid="value"]', (t) => t === 'live update', 2_000)).toBe('live update');
  });

  it('creating a key with an invalid name or a value over 512 KiB writes nothing and says why', async () => {
    await go('/ui/dc1/kv/app/');
    await page.click('button:text-is("Create key or folder")');
    await page.fill('#new-key', '../escape');
    await page.fill('#new-value', 'v');
    await page.click('button:text-is("Create")');
    expect(await textOf('[data-testid="notice"]')).toContain("must not contain a '..' segment");
    await page.fill('#new-key', 'big');
    await page.fill('#new-value', 'x'.repeat(512 * 1024 + 1));
    await page.click('button:text-is("Create")');
    const notice = await textOf('[data-testid="notice"]', (t) => t.includes('512 KiB'));
    expect(notice).toContain('Nothing was written');
    expect(await kvGet('app/big')).toBeUndefined();
    expect(await kvGet('escape')).toBeUndefined();
    await page.fill('#new-key', 'fresh');
    await page.fill('#new-value', 'new value');
    await page.click('button:text-is("Create")');
    await page.waitForURL('**/ui/dc1/kv/app/fresh');
    expect((await kvGet('app/fresh'))?.toString()).toBe('new value');
  });

  it('deletes a key, and a folder recursively after a confirmation', async () => {
    await kvPut('trash/a', '1');
    await kvPut('trash/b', '2');
    await kvPut('trash/sub/c', '3');
    await go('/ui/dc1/kv/trash/');
    await page.click('button:text-is("Delete folder…")');
    expect(await textOf('[data-testid="confirm"]')).toContain('3 keys');
    await screenshot(page, 'kv-delete-folder');
    await page.click('[data-testid="confirm"] button:text-is("Cancel")');
    expect(await kvGet('trash/a')).toBeDefined();
    await page.click('button:text-is("Delete folder…")');
    await page.click('[data-testid="confirm"] button:text-is("Delete 3 keys")');
    await page.waitForURL('**/ui/dc1/kv/');
    expect(server.state.listKeys('trash/')).toEqual([]);

    await go('/ui/dc1/kv/app/fresh');
    await page.click('button:text-is("Delete…")');
    await page.click('[data-testid="confirm"] button:text-is("Delete")');
    await textOf('[data-testid="missing"]');
    expect(await kvGet('app/fresh')).toBeUndefined();
  });

  it('sessions show name, node, TTL, behavior, lock-delay, checks and what each holds', async () => {
    await go('/ui/dc1/sessions');
    const row = await textOf(`tr[data-session="${lockSession}"]`);
    expect(row).toContain('locks/orders');
    expect(row).toContain('dev');
    expect(row).toContain('15s');
    expect(row).toContain('release');
    expect(row).toContain('serfHealth');
    expect(await textOf('[data-testid="sessions"]')).toContain('semaphores/db/');
    await screenshot(page, 'sessions');
  });

  it('coordination shows the lock, the semaphore with holders and a waiter, and the leader', async () => {
    await go('/ui/dc1/coordination');
    const lock = await textOf('[data-kind="lock"][data-key="locks/orders"]');
    expect(lock).toContain('held');
    expect(lock).toContain('orders-worker');
    expect(await textOf('[data-kind="lock"][data-key="locks/orders"] [data-testid="token"]')).toBe(String(lockToken));
    expect(lock).toContain('dev');
    const sem = await textOf('[data-kind="semaphore"][data-key="semaphores/db"]');
    expect(await textOf('[data-kind="semaphore"] [data-testid="permits"]')).toBe('2 of 2 permits used');
    expect(await page.locator('[data-kind="semaphore"] [data-testid="waiting"] li').count()).toBe(1);
    expect(sem).toContain('Holders');
    const election = await textOf('[data-kind="election"][data-key="elections/billing"]');
    expect(await textOf('[data-kind="election"] [data-testid="token"]')).toBe(String(term));
    expect(election).toContain('leader-1');
    const legacy = await textOf('[data-kind="lock"][data-key="jobs/legacy/.lock"]');
    expect(legacy).toContain('Consul lock session');
    expect(legacy).toContain(legacySession.slice(0, 8));
    expect(legacy).toContain('(seen here)');
    await screenshot(page, 'coordination');
  });

  it('a voluntary release frees the lock on the open page and starts no lock-delay', async () => {
    const handle = await coords[0]!.lock('locks/polite', { lockDelay: '15s' }).acquire();
    await textOf('[data-kind="lock"][data-key="locks/polite"]', (t) => t.includes('held'));
    await handle.release();
    await textOf('[data-kind="lock"][data-key="locks/polite"]', (t) => t.includes('free'));
    // The holder's session is destroyed after the release: Consul sets no lock-delay then.
    await waitFor(() => !server.state.listSessions().some((x) => x.name === 'consul-recipes lock' && x.id !== lockSession), { message: 'the polite session is gone' });
    // The page has seen everything up to the session's removal.
    const seen = server.state.index;
    await textOf('[data-testid="index"]', (t) => Number(t) >= seen);
    expect(server.state.lockDelayMs('locks/polite')).toBe(0);
    expect(await page.locator('[data-testid="lock-delays"]').count()).toBe(0);
  });

  it('coordination follows a session invalidation live and shows the lock-delay it starts', async () => {
    expect(server.invalidateSession(lockSession)).toBe(true);
    const lock = await textOf('[data-kind="lock"][data-key="locks/orders"]', (t) => t.includes('free'), 2_000);
    expect(lock).toContain('Nobody holds it');
    const delays = await textOf('[data-testid="lock-delays"]');
    expect(delays).toContain('locks/orders');
    expect(delays).toContain('lock-delay 15s');
    expect(server.state.lockDelayMs('locks/orders')).toBeGreaterThan(0);
    await screenshot(page, 'coordination-lock-delay');
  });

  it('is readable at 390 px wide', async () => {
    const small = await openPage(browser, 390);
    for (const [path, name] of [
      ['/ui/dc1/services', 'services-390'],
      ['/ui/dc1/coordination', 'coordination-390'],
      ['/ui/dc1/kv/app/config.json', 'kv-json-390'],
      ['/ui/dc1/sessions', 'sessions-390'],
    ] as const) {
      await small.page.goto(`${server.url}${path}`);
      await small.page.locator('.live').waitFor();
      // Nothing wider than the screen: no sideways scrolling of the page itself.
      const width = await small.page.evaluate(() => document.documentElement.scrollWidth);
      expect(width, path).toBeLessThanOrEqual(390);
      await screenshot(small.page, name);
    }
    await small.page.context().close();
  });

  it('is usable from the keyboard: a skip link, then the section links in order', async () => {
    await go('/ui/dc1/services');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Nodes');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/ui/dc1/nodes');
    // Every form field has a label.
    await go('/ui/dc1/kv/');
    await page.click('button:text-is("Create key or folder")');
    const unlabeled = await page.evaluate(() =>
      Array.from(document.querySelectorAll('input, textarea')).filter((el) => !document.querySelector(`label[for="${el.id}"]`)).length,
    );
    expect(unlabeled).toBe(0);
  });

  it('raised no page error', () => {
    expect(urls.filter((u) => u.startsWith('pageerror'))).toEqual([]);
  });
});
