/**
 * Child process for the crash tests: registers a service instance with a TTL check, prints one
 * JSON line `{ "id": … }` once registered, then heartbeats until it is SIGKILLed (no cleanup runs).
 * Usage: node --import tsx service-crash-child.ts <address> <options JSON>
 */
import { Coordinator } from '../../src/coordinator.js';
import { registerService, type RegisterServiceOptions } from '../../src/recipes/service/service.js';

const [address, optionsJson] = process.argv.slice(2);
if (!address || !optionsJson) {
  process.stderr.write('usage: service-crash-child.ts <address> <options JSON>\n');
  process.exit(2);
}
const coord = new Coordinator({ address });
const registration = await registerService(coord, JSON.parse(optionsJson) as RegisterServiceOptions);
registration.on('error', (err) => process.stderr.write(`heartbeat error: ${String(err)}\n`));
process.stdout.write(`${JSON.stringify({ id: registration.id })}\n`);
// Heartbeat timers are unref()ed; keep the process alive until it is killed.
setInterval(() => {}, 1 << 30);
