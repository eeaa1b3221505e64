/**
 * recipes-docs/cli.md stays true: every ```sh block is run against the built CLI and a dev server
 * (long-running commands until their first line, then SIGINT), every other block is sample output
 * or a synopsis (```text), the exit-code table lists exactly the codes the CLI defines, every
 * option any command's --help prints is documented, and the page's links resolve.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { startDevServer, type DevServer } from '../../src/testing/index.js';
import { CLI, ROOT, ensureBuilt } from './build.js';
import { startCli } from './support.js';

const DOC = 'recipes-docs/cli.md';
const text = readFileSync(path.join(ROOT, DOC), 'utf8');

interface Block {
  readonly line: number;
  readonly lang: string;
  readonly body: string;
}

function blocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && lines[j] !== '```'; j++) body.push(lines[j] as string);
    if (j === lines.length) throw new Error(`${DOC}:${i + 1}: unterminated block`);
    found.push({ line: i + 1, lang: open[1] as string, body: body.join('\n') });
    i = j;
  }
  return found;
}

interface ShRun {
  /** Must match stdout; for a long-running command, the line to wait for before SIGINT. */
  readonly stdout: RegExp;
  readonly longRunning?: boolean;
}

/** Every ```sh block of the page (by its first line), and what running it must show. */
const SH_RUNS: Readonly<Record<string, ShRun>> = {
  'consul-recipes --help': { stdout: /Usage: consul-recipes <command>[\s\S]*Usage: consul-recipes lock/ },
  "consul-recipes lock --timeout 10s jobs/report -- sh -c 'echo \"report written\"'": { stdout: /^report written\ndone$/m },
  'consul-recipes dev --port 0': { stdout: /listening on http:\/\/127\.0\.0\.1:\d+/, longRunning: true },
  "consul-recipes lock jobs/nightly -- sh -c 'echo \"holding the lock, token $CONSUL_RECIPES_FENCING_TOKEN\"'": { stdout: /^holding the lock, token \d+$/m },
  'consul-recipes semaphore --limit 3 sem/db-migrations -- echo migrating': { stdout: /^migrating$/m },
  "consul-recipes elect elections/billing -- sh -c 'echo \"leading, term $CONSUL_RECIPES_FENCING_TOKEN\"'": { stdout: /^leading, term \d+$/m },
  'consul-recipes watch config config/billing/': { stdout: /watching config under "config\/billing\/"/, longRunning: true },
  'consul-recipes watch service billing': { stdout: /watching service "billing"/, longRunning: true },
  'consul-recipes inspect': { stdout: /nothing held in the whole KV store|^KIND /m },
  'consul-recipes ui --port 0': { stdout: /serving http:\/\/127\.0\.0\.1:\d+\/ui\//, longRunning: true },
  'consul-recipes queue put jobs/thumbnails photo-1.jpg': { stdout: /^9999-\d{16}\n1\nphoto-1\.jpg$/m },
};

let dev: DevServer;
let bin: string;

beforeAll(async () => {
  await ensureBuilt();
  dev = await startDevServer({ port: 0 });
  // `consul-recipes` on PATH, as an installed package puts it.
  bin = mkdtempSync(path.join(tmpdir(), 'consul-recipes-bin-'));
  writeFileSync(path.join(bin, 'consul-recipes'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(path.join(bin, 'consul-recipes'), 0o755);
}, 180_000);

afterAll(async () => {
  await dev?.close();
  if (bin) rmSync(bin, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`, CONSUL_HTTP_ADDR: dev.url, CONSUL_HTTP_TOKEN: '' };
}

describe(`${DOC} code blocks`, () => {
  const all = blocks(text);

  it('are sh (run below) or text (synopses and sample output)', () => {
    expect(all.filter((b) => b.lang !== 'sh' && b.lang !== 'text').map((b) => `${b.line}: ${b.lang}`)).toEqual([]);
  });

  it('has a run for every sh block, and no run for a block that is gone', () => {
    const firstLines = all.filter((b) => b.lang === 'sh').map((b) => b.body.split('\n')[0]);
    expect(firstLines.sort()).toEqual(Object.keys(SH_RUNS).sort());
  });

  for (const block of all.filter((b) => b.lang === 'sh')) {
    const run = SH_RUNS[block.body.split('\n')[0] as string];
    it(`line ${block.line}: ${block.body.split('\n')[0]}`, async () => {
      expect(run, 'no SH_RUNS entry').toBeDefined();
      if (!run) return;
      // A long-running command is exec'd so that SIGINT reaches consul-recipes, not the shell.
      const script = run.longRunning ? `exec ${block.body}` : block.body;
      const child = spawn('sh', ['-e', '-c', script], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      if (run.longRunning) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${run.stdout} within 15 s:\n${stdout}\n${stderr}`)), 15_000);
          const check = (): void => {
            if (!run.stdout.test(stdout)) return;
            clearTimeout(timer);
            resolve();
          };
          child.stdout.on('data', check);
          check();
        });
        child.kill('SIGINT');
      }
      const code = await exited;
      expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
      expect(stdout).toMatch(run.stdout);
      expect(stderr).toBe('');
    });
  }
});

describe(`${DOC} content`, () => {
  it('lists exactly the exit codes the CLI defines', () => {
    const table = [...text.matchAll(/^\| (\d+|128\+N|anything else) \|/gm)].map((m) => m[1]);
    const defined = Object.values(EXIT).map(String);
    expect(table.filter((c) => /^\d+$/.test(c as string)).sort()).toEqual(defined.sort());
    expect(table).toContain('128+N');
  });

  it("documents every option of every command's --help", async () => {
    const commands = [['dev'], ['lock'], ['semaphore'], ['elect'], ['watch', 'config'], ['watch', 'service'], ['inspect'], ['ui'], ['queue'], ['demo']];
    const missing: string[] = [];
    for (const command of commands) {
      const help = (await startCli([...command, '--help'], env()).exited).stdout;
      for (const [option] of help.matchAll(/--[a-z][a-z-]+/g)) {
        if (!new RegExp(`${option}(?![a-z-])`).test(text)) missing.push(`${command.join(' ')} ${option}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('links to anchors and files that exist', () => {
    const anchors = new Set(
      [...text.matchAll(/^#+ (.+)$/gm)].map((m) =>
        (m[1] as string)
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const [, target] of text.matchAll(/\]\(([^)]+)\)/g)) {
      const [file, anchor] = (target as string).split('#');
      if (file) expect(existsSync(path.join(ROOT, 'recipes-docs', file)), `${target}`).toBe(true);
      else expect(anchors.has(anchor as string), `#${anchor}`).toBe(true);
    }
  });
});
