import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareKeys } from '../../../src/testing/dev-server/state/store.js';

describe('compareKeys', () => {
  it('orders keys by their UTF-8 bytes, as memdb does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        expect(Math.sign(compareKeys(a, b))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('puts astral characters after U+E000..U+FFFF', () => {
    expect(compareKeys('a\u{1F600}', 'a\uFFFD')).toBeGreaterThan(0);
    expect(compareKeys('a\uE000', 'a\u{10000}')).toBeLessThan(0);
    expect(compareKeys('p/a', 'p/a/b')).toBeLessThan(0);
  });
});
