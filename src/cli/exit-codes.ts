/**
 * Exit codes of `consul-recipes`: part of the CLI's contract, documented in every `--help` and in
 * `recipes-docs/cli.md`. Scripts may rely on them; they never change meaning.
 *
 * The codes above 2 follow the conventions of wrappers such as `timeout(1)` and POSIX shells, so a
 * wrapped command's own small codes (1, 2, 3…) rarely collide with ours:
 * - 124 is what `timeout(1)` returns when the time ran out;
 * - 126 / 127 are the shell's "cannot execute" / "not found";
 * - 128 + N is the shell's "killed by signal N" (130 for SIGINT, 143 for SIGTERM).
 */
import { constants } from 'node:os';

export const EXIT = Object.freeze({
  /** Success; for wrapped commands: the command exited 0. */
  OK: 0,
  /** An error of ours: Consul unreachable or refusing, a key conflict, an unexpected failure. */
  ERROR: 1,
  /** Bad usage: unknown command or option, missing argument, malformed value. */
  USAGE: 2,
  /** `--timeout` passed before the lock, permit or leadership was obtained (as `timeout(1)`). */
  TIMEOUT: 124,
  /** The lock, permit or leadership was lost while the command ran; the command was stopped. */
  LOST: 125,
  /** The command was found but could not be executed (permissions). */
  CANNOT_EXECUTE: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
});

/** 128 + the signal's number, as shells report a process killed by that signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  const n = (constants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}

/** The exit-code section every `--help` ends with; `wrapped` adds the codes of commands that run a child. */
export function exitCodesHelp(wrapped: boolean): string {
  const lines = [
    'Exit codes:',
    wrapped ? '  0        the command exited 0 (otherwise its own exit code is passed through)' : '  0        success',
    '  1        error (Consul unreachable or refusing, key conflict, …)',
    '  2        bad usage',
  ];
  if (wrapped) {
    lines.push(
      '  124      --timeout passed before the command could start',
      '  125      the lock/permit/leadership was lost; the command got SIGTERM (SIGKILL after --grace)',
      '  126/127  the command could not be executed / was not found',
      '  128+N    interrupted by signal N before the command started, or the command died of signal N',
    );
  }
  return `${lines.join('\n')}\n`;
}
