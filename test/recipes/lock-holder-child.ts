/**
 * Child process for the crash tests: acquires a lock and holds it until killed.
 * argv: <consul url> <key> <options JSON>. Prints `held <session id>` once it holds the lock.
 */
import { Coordinator } from '../../src/coordinator.js';
import { Lock, type LockOptions } from '../../src/recipes/lock/lock.js';

const [url, key, json] = process.argv.slice(2);
const coord = new Coordinator({ address: url });
const lock = new Lock(coord, key as string, JSON.parse(json ?? '{}') as LockOptions);
const handle = await lock.acquire({ timeout: '10s' });
process.stdout.write(`held ${handle.session.id}\n`);
// Hold until SIGKILL; keep the event loop alive (the session's timers are unref()ed).
setInterval(() => undefined, 60_000);
