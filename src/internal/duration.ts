/**
 * Durations. Options accept a Go/Consul duration string ('15s', '250ms', '1m30s') or a number
 * of milliseconds; both are converted once, at the boundary, into a `…Ms` number.
 * The parser follows Go's `time.ParseDuration` (units ns, us, µs, ms, s, m, h; decimals;
 * compounds; a lone "0"), because Consul parses with it.
 */
import { ConfigError } from '../errors.js';

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const PART = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Parses a Go duration string into nanoseconds. Returns `undefined` when the text is not a
 * valid Go duration (Go's rules: a sign is allowed, a unit is required except for "0").
 */
export function parseGoDurationNs(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  while (s.length > 0) {
    const m = PART.exec(s);
    if (!m) return undefined;
    const [whole, int = '', frac = '', unit = ''] = m;
    if (int === '' && frac === '') return undefined; // ".s" or "s" alone
    const scale = UNIT_NS[unit];
    if (scale === undefined) return undefined;
    const value = Number(`${int || '0'}.${frac || '0'}`);
    total += value * scale;
    s = s.slice(whole.length);
  }
  if (!Number.isFinite(total)) return undefined;
  return sign * Math.round(total);
}

/** Formats milliseconds as a Go duration string Consul accepts ('15s', '250ms', '0s'). */
export function formatDurationMs(ms: number): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new ConfigError(`a duration must be a finite number of milliseconds, got ${describe(ms)}`, 'ms');
  }
  if (ms === 0) return '0s';
  if (Number.isInteger(ms / 1000)) return `${ms / 1000}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return `${Math.round(ms * 1e6)}ns`;
}

export interface DurationRule {
  /** Smallest accepted value in ms (inclusive). @default 0 */
  min?: number;
  /** Largest accepted value in ms (inclusive). */
  max?: number;
}

/**
 * Converts an option value (duration string or ms number) into milliseconds, throwing
 * {@link ConfigError} naming the option when it is neither, negative, or out of range.
 *
 * The one rule for durations, shared by the library and the CLI: text is a Go duration with a
 * unit ('500ms', '15s', '1m30s'; '0' alone), as Consul parses it, so `'5'` is refused rather than
 * guessed (5 ms? 5 s?). Only a JavaScript number, which cannot carry a unit, means milliseconds.
 * `option` is named as given: `ttl` reads `option "ttl"`; a flag such as `--ttl` reads `--ttl`.
 */
export function toMs(option: string, value: unknown, rule: DurationRule = {}): number {
  const label = optionLabel(option);
  let ms: number | undefined;
  if (typeof value === 'number') {
    ms = Number.isFinite(value) ? value : undefined;
  } else if (typeof value === 'string') {
    const text = value.trim();
    const ns = parseGoDurationNs(text);
    if (ns === undefined) {
      const bare = /^[-+]?(\d+(?:\.\d*)?|\.\d+)$/.test(text) ? ` (a number needs a unit: '${text}s' is ${text} seconds, '${text}ms' ${text} milliseconds)` : '';
      throw new ConfigError(`${label} must be a duration with a unit, such as '500ms', '15s' or '1m30s', got ${describe(value)}${bare}`, option);
    }
    ms = ns / 1e6;
  }
  if (ms === undefined) {
    throw new ConfigError(`${label} must be a duration string like '15s' or a number of milliseconds, got ${describe(value)}`, option);
  }
  const min = rule.min ?? 0;
  if (ms < min || (rule.max !== undefined && ms > rule.max)) {
    const range = rule.max !== undefined ? `between ${min}ms and ${rule.max}ms` : `at least ${min}ms`;
    throw new ConfigError(`${label} must be ${range}, got ${describe(value)}`, option);
  }
  return ms;
}

/** `ttl` → `option "ttl"`; a command-line flag (`--ttl`) is shown as typed. */
function optionLabel(option: string): string {
  return option.startsWith('-') ? option : `option "${option}"`;
}

/** Like {@link toMs} but passes `undefined` through (for optional durations). */
export function toMsOptional(option: string, value: unknown, rule?: DurationRule): number | undefined {
  return value === undefined ? undefined : toMs(option, value, rule);
}

/** Short, token-free description of a received value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || value === undefined || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
