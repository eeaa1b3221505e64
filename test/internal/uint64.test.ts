import { describe, expect, it } from 'vitest';
import { parseJsonWithUint64, parseUint64, stringifyJsonWithUint64, toHex, UINT64_MAX } from '../../src/internal/uint64.js';

const LOCK_FLAG = 0x2ddccbc058a50c18n;

describe('uint64 flags', () => {
  it('parses Consul lock flags exactly, where JSON.parse would round them', () => {
    const text = `[{"Key":"k","Flags":${LOCK_FLAG.toString()},"LockIndex":1}]`;
    expect(BigInt(JSON.parse(text)[0].Flags)).not.toBe(LOCK_FLAG);
    const parsed = parseJsonWithUint64<Array<{ Flags: bigint; LockIndex: number }>>(text);
    expect(parsed[0]!.Flags).toBe(LOCK_FLAG);
    expect(parsed[0]!.LockIndex).toBe(1);
    expect(toHex(parsed[0]!.Flags)).toBe('0x2ddccbc058a50c18');
  });

  it('round-trips the largest uint64 through stringify and parse', () => {
    const text = stringifyJsonWithUint64({ Flags: UINT64_MAX, Other: 3 });
    expect(text).toBe('{"Flags":18446744073709551615,"Other":3}');
    expect(parseJsonWithUint64<{ Flags: bigint }>(text).Flags).toBe(UINT64_MAX);
  });

  it('leaves look-alike text inside strings alone', () => {
    const text = '{"Key":"a\\"Flags\\":5","Flags":7}';
    const parsed = parseJsonWithUint64<{ Key: string; Flags: bigint }>(text);
    expect(parsed.Key).toBe('a"Flags":5');
    expect(parsed.Flags).toBe(7n);
  });

  it('validates uint64 text', () => {
    expect(parseUint64('18446744073709551615')).toBe(UINT64_MAX);
    expect(parseUint64('18446744073709551616')).toBeUndefined();
    expect(parseUint64('-1')).toBeUndefined();
    expect(parseUint64('1e3')).toBeUndefined();
  });
});
