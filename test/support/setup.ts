// Any unhandled rejection or uncaught exception fails the run: the library promises never to
// leave a rejection unobserved (background failures become state changes and 'error' events).
const failures: unknown[] = [];
process.on('unhandledRejection', (reason) => {
  failures.push(reason);
  throw reason instanceof Error ? reason : new Error(`unhandled rejection: ${String(reason)}`);
});
