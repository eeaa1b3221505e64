/**
 * Every code block in the docs is exercised by a test, so the docs cannot drift from the code.
 *
 * - A ```ts / ```js block in README.md or recipes-docs/*.md must appear verbatim (whitespace
 *   normalised line by line) as a contiguous run of lines in some file under examples/docs/.
 * - Every examples/docs/*.ts file runs as a child process (`node --import tsx file`) against an
 *   embedded dev server whose address it gets from CONSUL_HTTP_ADDR, and must exit 0 by itself,
 *   leaving no session, service or check behind on the server.
 * - Every command in a ```sh block is either run here (against the built CLI and the same dev
 *   server) or listed in SH_NOT_RUN with the reason it cannot run inside a test.
 * - Other blocks must say what they are (text, json, hcl, go); json must parse.
 * - Relative links between the docs point at files and headings that exist.
 *
 * Why the examples import '../../src/index.js' while the docs show 'consul-recipes': the package
 * name resolves to itself only through package.json `exports`, that is to dist/, and TypeScript
 * refuses to resolve a self-reference of this project from files it type-checks (TS2209: the
 * project root is ambiguous), so `tsc --noEmit` would fail and a stale dist/ would test old code.
 * Importing the sources by path keeps the examples type-checked by `npm run typecheck` against
 * the real API, runnable with no build, and always current. The docs show the package name a user
 * writes; the comparison below rewrites exactly these two specifiers, and a test checks that
 * package.json and tsup really map the package name to those two source files.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../src/testing/index.js';
import { ensureBuilt } from '../cli/build.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES_DIR = path.join(ROOT, 'examples/docs');

/** The CLI reference is written and tested with the CLI (test/cli/**), which runs its commands. */
const OWNED_ELSEWHERE = new Set(['recipes-docs/cli.md']);

const DOC_FILES = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'recipes-docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `recipes-docs/${f}`)
    .filter((f) => !OWNED_ELSEWHERE.has(f))
    .sort(),
];

const EXAMPLE_FILES = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.ts'))
  .sort();

/** The only rewrites between an example file and the docs: source path → package name. */
const PUBLIC_SPECIFIERS: Readonly<Record<string, string>> = {
  '../../src/index.js': 'consul-recipes',
  '../../src/testing/index.js': 'consul-recipes/testing',
};

/** Where the docs link to repository files the npm package does not ship (examples, sources). */
const REPOSITORY_FILES = 'https://github.com/consul-recipes/consul-recipes/blob/main/';

/**
 * Whether a repository path is in the npm package (package.json `files`): README.md and
 * recipes-docs/ ship, so their relative links must stay inside what ships too.
 */
function shipped(file: string): boolean {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  if (file === 'package.json') return true;
  return pkg.files.filter((f) => !f.startsWith('!')).some((entry) => file === entry || file.startsWith(`${entry.replace(/\/$/, '')}/`));
}

const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript']);
const SHELL_LANGS = new Set(['sh', 'bash', 'shell']);
/** Blocks that are not code to run, and why that is enough. */
const OTHER_LANGS: Readonly<Record<string, string>> = {
  text: 'diagrams and sample output: nothing to run',
  json: 'data: parsed below',
  hcl: 'ACL policies: applying them needs a Consul server with ACLs (the dev server has only a management token)',
  go: 'Go clients: no Go toolchain here; wire compatibility with api.Lock/api.Semaphore is tested by test/recipes/lock-interop.test.ts',
};

/**
 * Shell commands from the docs that this file does not run, each with the reason. Everything else
 * in a ```sh block must be in SH_RUNS.
 */
const SH_NOT_RUN: Readonly<Record<string, string>> = {
  'npm ci && npm run demo': 'reinstalls node_modules under the running tests; the demo itself is run by test/cli/demo.test.ts',
  'npm ci && npm test': 'it is this test suite (.ci/run runs it)',
  'npm test': 'it is this test suite',
  'CONSUL_HTTP_ADDR=127.0.0.1:8500 npm test': 'the whole suite against a real agent: needs one',
  'CONSUL_TEST_CONTAINER=1 npm test': 'the whole suite against hashicorp/consul in Docker: needs Docker',
  'CONSUL_HTTP_ADDR=127.0.0.1:8500 npm run bench:failover': 'a benchmark against a real agent: minutes, and needs one',
  'npm run bench:failover': 'three workers × four settings × ten rounds: minutes; its worker fixture is the process tests\' (test/process/)',
  'npm run bench': 'the full suite: minutes; every one of its scenarios runs at smoke size in .ci/run (npm run bench:smoke)',
  'npm run bench:smoke': 'run by .ci/run after the tests, so the suite\'s scripts cannot rot',
  'npm run bench:peers': 'needs etcd and redis-server installed, and minutes',
  'export CONSUL_HTTP_ADDR=https://consul.internal:8501': 'configures a shell for a real cluster',
  'export CONSUL_HTTP_TOKEN=00000000-0000-0000-0000-000000000000': 'configures a shell for a real cluster',
  'export CONSUL_CACERT=/etc/consul.d/tls/consul-agent-ca.pem': 'configures a shell for a real cluster',
  'consul acl policy create -name billing-worker -rules @billing-worker.hcl': 'needs the consul binary and a cluster with ACLs',
  'consul acl token create -description "billing worker" -policy-name billing-worker': 'needs the consul binary and a cluster with ACLs',
  "consul lock jobs/nightly node -e 'console.log(process.env.CONSUL_LOCK_HELD)'": 'needs the consul binary; its Go lock is emulated by test/recipes/go-recipes.ts',
  'consul lock -n 2 jobs/reindex ./reindex.sh': 'needs the consul binary; its Go semaphore is emulated by test/recipes/go-recipes.ts',
  'RELIABILITY_SECONDS=240 npx vitest run test/reliability/nemesis.test.ts': 'four minutes of nemesis trials; npm test runs its 30 s fixed-seed trial',
  'RELIABILITY_SEED=716778408 RELIABILITY_SECONDS=60 npx vitest run test/reliability/nemesis.test.ts': 'a minute of one recorded seed; npm test runs its 30 s fixed-seed trial',
};

interface ShRun {
  /** Expected exit code. @default 0 */
  readonly code?: number;
  /** Must match stdout (or, for long-running commands, the line to wait for before SIGINT). */
  readonly stdout: RegExp;
  /** A long-running command: wait for `stdout`, then stop it with SIGINT; it must exit 0. */
  readonly longRunning?: boolean;
  /** Skip when this TCP port is taken (a real agent on the developer's machine). */
  readonly needsPort?: number;
}

/** Shell commands from the docs that this file runs, with what they must do. */
const SH_RUNS: Readonly<Record<string, ShRun>> = {
  'npx consul-recipes --help': { stdout: /Usage: consul-recipes <command>/ },
  'npx consul-recipes dev --port 8500': { stdout: /listening on http:\/\/127\.0\.0\.1:8500/, longRunning: true, needsPort: 8500 },
  "npx consul-recipes lock jobs/nightly -- node -e 'console.log(process.env.CONSUL_LOCK_HELD)'": { stdout: /^true$/m },
  'npx consul-recipes inspect jobs/': { stdout: /jobs\// },
  'npm run docs': { stdout: /html generated at/ },
  'npm run bench:lock -- --rounds 20 --delay-rounds 2': { stdout: /ratios \(Go double ÷ ours, p50\)/ },
  'npm run bench:queue -- --messages 50': { stdout: /idle wake-up: one put with N consumers waiting/ },
  // README "Try it in one line": the CommonJS and ES module builds, each against its own dev server.
  "node -e \"require('consul-recipes/testing').startDevServer().then(async (server) => { const { Coordinator } = require('consul-recipes'); const coord = new Coordinator({ address: server.url }); const token = await coord.withLock('locks/demo', async ({ fencingToken }) => fencingToken); console.log('held locks/demo, fencing token', token); await coord.close(); await server.close(); })\"":
    { stdout: /^held locks\/demo, fencing token \d+$/m },
  "node --input-type=module -e \"const { startDevServer } = await import('consul-recipes/testing'); const { Coordinator } = await import('consul-recipes'); const server = await startDevServer(); const coord = new Coordinator({ address: server.url }); const election = coord.election('elections/demo', { value: { id: 'me' } }); await election.campaign(); console.log('leader:', JSON.stringify(await election.leader())); await coord.close(); await server.close();\"":
    { stdout: /^leader: \{"value":\{"id":"me"\},"sessionId":"[0-9a-f-]{36}","fencingToken":\d+\}$/m },
};

// -------------------------------------------------------------------------------------------------
// Parsing

interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly text: string;
}

/** Fenced blocks of a markdown file (``` at the start of a line, possibly indented). */
function fencedBlocks(file: string): Block[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*(`{3,})\s*([^\s`]*)/.exec(lines[i] as string);
    if (!open) continue;
    const fence = open[1] as string;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j] as string); j++) body.push(lines[j] as string);
    if (j === lines.length) throw new Error(`${file}:${i + 1}: unterminated code block`);
    blocks.push({ file, line: i + 1, lang: (open[2] as string).toLowerCase(), text: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** Lines trimmed, inner runs of whitespace collapsed, blank lines dropped. */
function normalisedLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '');
}

/** An example file as the docs may quote it: its source-path imports shown as the package name. */
function asDocumented(source: string): string {
  let text = source;
  for (const [from, to] of Object.entries(PUBLIC_SPECIFIERS)) text = text.replaceAll(`'${from}'`, `'${to}'`);
  return text;
}

function containsRun(haystack: readonly string[], needle: readonly string[]): boolean {
  if (needle.length === 0) return false;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

/** Commands of a shell block: comments and blank lines dropped, `\` continuations joined. */
function shellCommands(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => withoutComment(l).trim())
    .filter((l) => l !== '');
}

/** Cuts a `# comment` that starts a word outside quotes. */
function withoutComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1] as string))) return line.slice(0, i);
  }
  return line;
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes. */
function anchors(file: string): Set<string> {
  const set = new Set<string>();
  let inFence = false;
  for (const line of readFileSync(path.join(ROOT, file), 'utf8').split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const m = !inFence && /^#{1,6}\s+(.*)$/.exec(line);
    if (m) {
      set.add(
        (m[1] as string)
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
    }
  }
  return set;
}

const ALL_BLOCKS = DOC_FILES.flatMap(fencedBlocks);
const EXAMPLE_LINES = new Map(EXAMPLE_FILES.map((f) => [f, normalisedLines(asDocumented(readFileSync(path.join(EXAMPLES_DIR, f), 'utf8')))]));
const where = (b: Block): string => `${b.file}:${b.line}`;

// -------------------------------------------------------------------------------------------------
// Static checks

describe('code blocks in README.md and recipes-docs/*.md', () => {
  it('finds the docs and their blocks', () => {
    expect(DOC_FILES).toContain('README.md');
    expect(ALL_BLOCKS.filter((b) => CODE_LANGS.has(b.lang)).length).toBeGreaterThan(20);
  });

  it('labels every block with a language this test knows how to check', () => {
    const unknown = ALL_BLOCKS.filter((b) => !CODE_LANGS.has(b.lang) && !SHELL_LANGS.has(b.lang) && !(b.lang in OTHER_LANGS));
    expect(unknown.map((b) => `${where(b)} \`\`\`${b.lang || '(none)'}`)).toEqual([]);
  });

  it('quotes every ts/js block verbatim from a file in examples/docs/', () => {
    const missing = ALL_BLOCKS.filter((b) => CODE_LANGS.has(b.lang)).filter((b) => {
      const wanted = normalisedLines(b.text);
      return ![...EXAMPLE_LINES.values()].some((lines) => containsRun(lines, wanted));
    });
    expect(missing.map((b) => `${where(b)} is in no examples/docs file:\n${b.text}`)).toEqual([]);
  });

  it('quotes every example file somewhere in the docs', () => {
    const used = new Set<string>();
    for (const b of ALL_BLOCKS.filter((x) => CODE_LANGS.has(x.lang))) {
      for (const [file, lines] of EXAMPLE_LINES) if (containsRun(lines, normalisedLines(b.text))) used.add(file);
    }
    expect(EXAMPLE_FILES.filter((f) => !used.has(f))).toEqual([]);
  });

  it('lets examples import only node builtins and the two public entry points', () => {
    const bad: string[] = [];
    for (const file of EXAMPLE_FILES) {
      const source = readFileSync(path.join(EXAMPLES_DIR, file), 'utf8');
      for (const m of source.matchAll(/^\s*import\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1] as string;
        if (!spec.startsWith('node:') && !(spec in PUBLIC_SPECIFIERS)) bad.push(`${file}: ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('maps the package name to exactly the sources the examples import', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      name: string;
      exports: Record<string, { import: { default: string } }>;
    };
    expect(pkg.name).toBe('consul-recipes');
    expect(pkg.exports['.']?.import.default).toBe('./dist/index.js');
    expect(pkg.exports['./testing']?.import.default).toBe('./dist/testing/index.js');
    const tsup = readFileSync(path.join(ROOT, 'tsup.config.ts'), 'utf8');
    expect(tsup).toMatch(/\bindex:\s*'src\/index\.ts'/);
    expect(tsup).toMatch(/'testing\/index':\s*'src\/testing\/index\.ts'/);
  });

  it('parses every json block', () => {
    for (const b of ALL_BLOCKS.filter((x) => x.lang === 'json')) {
      expect(() => JSON.parse(b.text), where(b)).not.toThrow();
    }
  });

  it('runs or explicitly skips every sh command, and lists no command the docs lack', () => {
    const commands = ALL_BLOCKS.filter((b) => SHELL_LANGS.has(b.lang)).flatMap((b) => shellCommands(b.text).map((c) => ({ c, at: where(b) })));
    const unaccounted = commands.filter(({ c }) => !(c in SH_RUNS) && !(c in SH_NOT_RUN));
    expect(unaccounted.map(({ c, at }) => `${at}: ${c}`)).toEqual([]);
    const inDocs = new Set(commands.map(({ c }) => c));
    const stale = [...Object.keys(SH_RUNS), ...Object.keys(SH_NOT_RUN)].filter((c) => !inDocs.has(c));
    expect(stale).toEqual([]);
  });

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of DOC_FILES) {
      const text = readFileSync(path.join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1] as string;
        if (href.startsWith(REPOSITORY_FILES)) {
          // A file of the repository that the package does not ship: it must exist here.
          const target = href.slice(REPOSITORY_FILES.length).split('#')[0] as string;
          if (!existsSync(path.join(ROOT, target))) broken.push(`${file}: ${href} (no such file in the repository)`);
          continue;
        }
        if (/^[a-z]+:/i.test(href)) continue; // http(s), mailto
        const [target = '', anchor] = href.split('#');
        const resolved = target === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), target));
        if (OWNED_ELSEWHERE.has(resolved) && !existsSync(path.join(ROOT, resolved))) continue; // written with the CLI
        if (!existsSync(path.join(ROOT, resolved))) broken.push(`${file}: ${href}`);
        else if (!shipped(resolved)) broken.push(`${file}: ${href} (not in the npm package: link to ${REPOSITORY_FILES}${resolved})`);
        else if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) broken.push(`${file}: ${href} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------------
// Running

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment of a child: the dev server, no ambient token or CA, no npm registry look-ups. */
function childEnv(server: DevServer, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: server.url, npm_config_offline: 'true', NO_COLOR: '1', ...extra };
  for (const name of ['CONSUL_HTTP_TOKEN', 'CONSUL_CACERT', 'CONSUL_HTTP_SSL', 'CONSUL_DATACENTER']) delete env[name];
  for (const [name, value] of Object.entries(extra)) if (value === undefined) delete env[name];
  return env;
}

/**
 * Runs a command to completion (or, with `until`, until stdout matches, then SIGINT). Rejects
 * if it has not finished within `timeoutMs`: every example must end by itself.
 */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, { timeoutMs = 30_000, until }: { timeoutMs?: number; until?: RegExp } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a signal reaches the shell and everything it started, as Ctrl-C
    // reaches a terminal's foreground job.
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // already gone
      }
    };
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (until && !interrupted && until.test(stdout)) {
        interrupted = true;
        signalGroup('SIGINT');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      signalGroup('SIGKILL');
      reject(new Error(`${[command, ...args].join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** At most `n` children at once: two shared cores. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active += 1;
    try {
      return await task();
    } finally {
      active -= 1;
      queue.shift()?.();
    }
  };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

const explain = (r: Run): string => `exit ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

/** Extra runs of a file with a changed environment (undefined removes a variable). */
const VARIANTS: Readonly<Record<string, readonly { name: string; env: NodeJS.ProcessEnv }[]>> = {
  'testing-switch.ts': [{ name: 'without CONSUL_HTTP_ADDR (starts its own dev server)', env: { CONSUL_HTTP_ADDR: undefined } }],
};

describe('examples/docs/*.ts run to completion against a dev server', () => {
  let server: DevServer;
  const slot = limiter(3);

  beforeAll(async () => {
    server = await startDevServer({ port: 0 });
  });

  afterAll(async () => {
    // Every example closes what it opened: nothing of theirs is left on the server.
    try {
      expect(server.state.listSessions()).toEqual([]);
      expect(server.state.listServices().filter((s) => s.source === 'agent')).toEqual([]);
      expect(server.state.listChecks().filter((c) => c.source === 'agent')).toEqual([]);
    } finally {
      await server.close();
    }
  });

  const cases = EXAMPLE_FILES.flatMap((file) => [
    { file, name: file, env: {} as NodeJS.ProcessEnv },
    ...(VARIANTS[file] ?? []).map((v) => ({ file, name: `${file} ${v.name}`, env: v.env })),
  ]);

  it.concurrent.each(cases)('$name exits 0', async ({ file, env }) => {
    const result = await slot(() => run(process.execPath, ['--import', 'tsx', path.join('examples/docs', file)], childEnv(server, env)));
    expect(result.code, explain(result)).toBe(0);
  });
});

describe('sh commands in the docs', () => {
  let server: DevServer;

  beforeAll(async () => {
    server = await startDevServer({ port: 0 });
    // `npx consul-recipes` runs this package's own bin, dist/cli/main.js: build it if stale.
    await ensureBuilt();
  }, 180_000);

  afterAll(async () => {
    try {
      expect(server.state.listSessions()).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it.each(Object.entries(SH_RUNS))('%s', async (command, spec) => {
    if (spec.needsPort !== undefined && !(await portFree(spec.needsPort))) {
      console.warn(`skipped "${command}": port ${spec.needsPort} is taken on this machine`);
      return;
    }
    const result = await run('sh', ['-c', command], childEnv(server), { timeoutMs: 60_000, ...(spec.longRunning ? { until: spec.stdout } : {}) });
    expect(result.stdout, explain(result)).toMatch(spec.stdout);
    if (spec.longRunning) {
      // Ctrl-C: npm re-raises SIGINT, so the shell ends by that signal (a terminal shows 130);
      // what matters is that the command stopped by itself and let go of its port.
      expect(result.code === 0 || result.signal === 'SIGINT', explain(result)).toBe(true);
      if (spec.needsPort !== undefined) expect(await portFree(spec.needsPort)).toBe(true);
    } else {
      expect(result.code, explain(result)).toBe(spec.code ?? 0);
    }
  }, 90_000);
});
