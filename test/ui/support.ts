/**
 * Browser helpers for the UI tests: Debian's chromium (`/usr/bin/chromium`, or
 * `CHROMIUM_PATH`) driven by playwright-core, with no browser download. The built UI must be in
 * `dist/ui/` (the global setup builds `dist/` when it is stale; `ensureBuilt()` here does the same
 * for a file run on its own).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildUiBundle } from '../../src/ui/build-app.js';
import { findUiDir } from '../../src/ui/static.js';
import { ROOT, ensureBuilt } from '../cli/build.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'test/ui/screenshots');

export async function launchBrowser(): Promise<Browser> {
  await ensureBuilt();
  // A dist/ built before the UI existed: add the UI bundle alone.
  if (findUiDir() === undefined) await buildUiBundle(path.join(ROOT, 'dist/ui'));
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  // --no-sandbox: CI containers run as root, where chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
}

/** A page at 1280×800 (or `width`), with every requested URL recorded (to assert no token in URLs). */
export async function openPage(browser: Browser, width = 1280): Promise<{ page: Page; urls: string[] }> {
  const context = await browser.newContext({ viewport: { width, height: width > 600 ? 800 : 844 } });
  const page = await context.newPage();
  const urls: string[] = [];
  page.on('request', (req) => urls.push(req.url()));
  page.on('pageerror', (err) => urls.push(`pageerror: ${err.message}`));
  return { page, urls };
}

/** Saves `test/ui/screenshots/<name>.png` (the whole page) for a person to look at. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
