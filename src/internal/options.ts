/**
 * The unknown-option check every public constructor and method runs first: a misspelt option
 * (`lockdelay`, `timeOut`) must not be silently ignored, since the default it falls back to can
 * be far from what the caller meant.
 */
import { ConfigError } from '../errors.js';
import { describe } from './duration.js';

/**
 * Throws {@link ConfigError} when `options` is not an object, or names an option not in
 * `known`: "unknown option 'bogusOption' for lock(); did you mean 'lockDelay'?". `undefined`
 * passes (no options). `where` names the call (`lock()`, `new Coordinator()`).
 */
export function checkOptions(options: unknown, known: readonly string[], where: string): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`${where} options must be an object, got ${describe(options)}`, 'options');
  }
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const nearest = nearestName(name, known);
    const hint = nearest === undefined ? `valid options: ${known.join(', ')}` : `did you mean '${nearest}'?`;
    throw new ConfigError(`unknown option '${name}' for ${where}; ${hint}`, name);
  }
}

/** The known name closest to `name` (edit distance, case ignored), if any is close enough to be a typo. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  if (best === undefined) return undefined;
  // A typo changes a few letters; beyond that a suggestion is noise.
  return best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * Why recipes held through a session refuse a `dc` option: a Consul session belongs to the
 * datacenter whose servers created it (its TTL timer runs on that datacenter's leader, and it can
 * only lock keys of that datacenter's KV store), so a lock, semaphore or election cannot be held
 * "in" another datacenter from here.
 */
export const SESSION_DATACENTER_REASON =
  "a Consul session belongs to one datacenter (the agent's own), and locks, semaphores, elections and sessions are held through it; " +
  'coordinate across datacenters with one lock per datacenter, or with a Coordinator on an agent of a "home" datacenter (see recipes-docs/multi-datacenter.md)';

/**
 * Throws {@link ConfigError} for a `dc` option on a recipe that cannot honour it, saying why
 * (`reason`), before the generic unknown-option check would call it a typo.
 */
export function refuseDatacenter(options: unknown, where: string, reason: string = SESSION_DATACENTER_REASON): void {
  if (options !== null && typeof options === 'object' && !Array.isArray(options) && 'dc' in options) {
    throw new ConfigError(`option "dc" is not supported by ${where}: ${reason}`, 'dc');
  }
}

/**
 * The options check of a call that stays in the agent's own datacenter: a `dc` option is refused
 * with `reason` (why it cannot be honoured), then every name must be one of `known`.
 */
export function checkLocalOptions(options: unknown, known: readonly string[], where: string, reason: string = SESSION_DATACENTER_REASON): void {
  refuseDatacenter(options, where, reason);
  checkOptions(options, known, where);
}

/**
 * Checks a per-call `dc` option (Consul's `?dc=`): undefined (the agent's datacenter) or a
 * non-empty datacenter name. Throws {@link ConfigError}.
 */
export function resolveDatacenter(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(value)) {
    throw new ConfigError(`option "dc" must be a datacenter name (letters, digits, '-', '_', '.'), got ${describe(value)}`, 'dc');
  }
  return value;
}
