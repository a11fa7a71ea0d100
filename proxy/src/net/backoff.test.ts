import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  const opts = { initialMs: 200, maxMs: 10_000 };

  it('doubles per attempt and stays within [half, full] of the step', () => {
    expect(backoffDelay(1, opts, () => 0)).toBe(100);
    expect(backoffDelay(1, opts, () => 1)).toBe(200);
    expect(backoffDelay(4, opts, () => 0)).toBe(800);
    expect(backoffDelay(4, opts, () => 1)).toBe(1600);
  });

  it('is capped at maxMs however many attempts failed', () => {
    expect(backoffDelay(50, opts, () => 1)).toBe(10_000);
    expect(backoffDelay(50, opts, () => 0)).toBe(5_000);
  });
});
