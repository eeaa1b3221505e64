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
