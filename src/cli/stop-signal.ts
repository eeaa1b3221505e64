/** For commands that serve until stopped (`dev`, `ui`). */
import type { CommandIo } from './args.js';

/**
 * Resolves at the first SIGINT or SIGTERM, after saying so. Install it before printing an address:
 * whoever reads the address may signal at once.
 */
export function untilStopSignal(io: CommandIo, command: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.out(`consul-recipes ${command}: ${signal} received, shutting down`);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
