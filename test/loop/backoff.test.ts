import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/loop/backoff.js';

describe('backoffDelay', () => {
  const policy = { minMs: 100, maxMs: 1000 };
  it('doubles per attempt and stays within [d/2, d]', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(50);
    expect(backoffDelay(1, policy, () => 0.999999)).toBe(100);
    expect(backoffDelay(3, policy, () => 0)).toBe(200);
  });
  it('is capped at maxMs', () => {
    expect(backoffDelay(50, policy, () => 0.999999)).toBe(1000);
    expect(backoffDelay(1e6, policy, () => 0.5)).toBeLessThanOrEqual(1000);
  });
});
