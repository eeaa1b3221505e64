/** The queue report checker used by the process test must reject what it claims to rule out. */
import { describe, expect, it } from 'vitest';
import { checkAtLeastOnce, type Delivery } from './queue-checker.js';

const d = (payload: string, messageId = `id-${payload}`): Delivery => ({ payload, messageId });

describe('checkAtLeastOnce', () => {
  it('accepts every message delivered, some twice, each acked once', () => {
    expect(checkAtLeastOnce([d('a'), d('b')], [d('a'), d('b'), d('a')], [d('b'), d('a')])).toBe(1);
  });

  it('rejects a lost message, a double ack, a missing ack, an ack under another ID, a phantom', () => {
    expect(() => checkAtLeastOnce([d('a'), d('b')], [d('a')], [d('a')])).toThrow(/b was never delivered/);
    expect(() => checkAtLeastOnce([d('a')], [d('a'), d('a')], [d('a'), d('a')])).toThrow(/acked 2 times/);
    expect(() => checkAtLeastOnce([d('a')], [d('a')], [])).toThrow(/acked 0 times/);
    expect(() => checkAtLeastOnce([d('a')], [d('a')], [d('a', 'other')])).toThrow(/under ID other/);
    expect(() => checkAtLeastOnce([d('a')], [d('a'), d('x')], [d('a')])).toThrow(/x, which nobody put/);
  });
});
