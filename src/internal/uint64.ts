/**
 * Lossless uint64 handling. Consul's KV `Flags` (and, in principle, every index) is a uint64;
 * Consul's lock flag 0x2ddccbc058a50c18 is above 2^53 and would be silently rounded by
 * `JSON.parse`. We keep such values as `bigint` and read/write their exact decimal digits.
 */

export const UINT64_MAX = (1n << 64n) - 1n;

/** Parses exact decimal digits into a uint64 bigint; `undefined` if not a valid uint64. */
export function parseUint64(text: string): bigint | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const v = BigInt(text);
  return v <= UINT64_MAX ? v : undefined;
}

/** Accepts a bigint, a safe non-negative integer or a decimal string; returns a uint64 bigint. */
export function toUint64(value: bigint | number | string): bigint | undefined {
  if (typeof value === 'bigint') return value >= 0n && value <= UINT64_MAX ? value : undefined;
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined;
  }
  return parseUint64(value);
}

/** Formats a uint64 as `0x…` hex, as Go code writes flag constants. */
export function toHex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/**
 * `JSON.parse` that keeps the named integer fields exact: every `"Field": 123…` number in the
 * text is turned into a string before parsing, then into a bigint afterwards. Only the listed
 * field names are touched; other numbers parse as usual.
 */
export function parseJsonWithUint64<T = unknown>(text: string, fields: readonly string[] = ['Flags']): T {
  const pattern = new RegExp(`("(?:${fields.join('|')})"\\s*:\\s*)(-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)`, 'g');
  const quoted = text.replace(pattern, '$1"__u64:$2"');
  return JSON.parse(quoted, (_key, value: unknown) => {
    if (typeof value === 'string' && value.startsWith('__u64:')) {
      const digits = value.slice(6);
      return /^\d+$/.test(digits) ? BigInt(digits) : Number(digits);
    }
    return value;
  }) as T;
}

/**
 * `JSON.stringify` that writes bigint values as bare decimal numbers (exact digits), which is how
 * Consul writes uint64 fields.
 */
export function stringifyJsonWithUint64(value: unknown, space?: number): string {
  const marker = '__u64big:';
  const text = JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === 'bigint' ? `${marker}${v.toString()}` : v),
    space,
  );
  return text.replace(new RegExp(`"${marker}(\\d+)"`, 'g'), '$1');
}
