/**
 * Script checks (`Args`), after agent/checks/check.go CheckMonitor: the command runs in its own
 * process group (lib/exec: Setpgid), stdout and stderr go into one buffer that keeps the last
 * `OutputMaxSize` bytes (circbuf), exit 0 is passing, exit 1 warning, anything else (another
 * code, a signal, a failure to start) critical. A run longer than the timeout (30 s unless the
 * check sets `Timeout`) kills the whole group (KillCommandSubtree) and reports critical.
 */
import { spawn } from 'node:child_process';
import { formatGoDuration } from '../options.js';
import { type ProbeResult, TailBuffer, settleOnce } from './checks.js';

/** CheckMonitor's timeout when the definition has none. */
export const DEFAULT_SCRIPT_TIMEOUT_MS = 30_000;

/** agent.go addCheck: the error for an `Args` check registered over HTTP without enable_script_checks. */
export const REMOTE_SCRIPTS_DISABLED =
  "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true";

export interface ScriptSpec {
  readonly args: readonly string[];
  readonly timeoutMs: number;
}

/** truncateAndLogOutput: the captured tail, prefixed with a note when output was dropped. */
function captured(out: TailBuffer): string {
  const text = out.toString();
  if (out.total > out.max) return `Captured ${out.max} of ${out.total} bytes\n...\n${text}`;
  return text;
}

/** Kills the check's process group (the script and everything it started). */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** CheckMonitor.check: one run of the script. Aborting the signal kills it (the check stopped). */
export function probeScript(spec: ScriptSpec, outputMax: number, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const out = new TailBuffer(outputMax);
    const [file, ...args] = spec.args;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file!, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ status: 'critical', output: (err as Error).message });
      return;
    }
    let timedOut = false;
    const finish = settleOnce(
      resolve,
      signal,
      spec.timeoutMs,
      () => {
        timedOut = true;
        killGroup(child.pid);
      },
      () => killGroup(child.pid),
    );
    child.stdout?.on('data', (c: Buffer) => out.write(c));
    child.stderr?.on('data', (c: Buffer) => out.write(c));
    child.once('error', (err: NodeJS.ErrnoException) => {
      // Go's exec error for a missing binary: exec: "name": executable file not found in $PATH.
      const text = err.code === 'ENOENT' ? `exec: ${JSON.stringify(file)}: executable file not found in $PATH` : err.message;
      finish({ status: 'critical', output: text });
    });
    child.once('close', (code) => {
      if (timedOut) {
        const body = captured(out);
        const msg = `Timed out (${formatGoDuration(spec.timeoutMs * 1e6)}) running check`;
        finish({ status: 'critical', output: body.length > 0 ? `${msg}\n\n${body}` : msg });
        return;
      }
      const output = captured(out);
      if (code === 0) finish({ status: 'passing', output });
      else if (code === 1) finish({ status: 'warning', output });
      else finish({ status: 'critical', output });
    });
  });
}
