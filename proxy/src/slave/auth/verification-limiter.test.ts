import { VerificationLimiter } from './verification-limiter.js';

describe('VerificationLimiter', () => {
  it('runs at most maxConcurrent tasks at once and turns callers away beyond the queue', async () => {
    const limiter = new VerificationLimiter(2, 3);
    let active = 0;
    let peak = 0;
    const task = async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 20));
      active--;
      return 'done';
    };
    const results = await Promise.all(Array.from({ length: 6 }, () => limiter.run(task)));
    expect(results).toEqual(['done', 'done', 'done', 'done', 'done', undefined]);
    expect(peak).toBe(2);
    await expect(limiter.run(task)).resolves.toBe('done');
  });

  it('frees its slot when a task fails', async () => {
    const limiter = new VerificationLimiter(1, 0);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limiter.run(async () => 'next')).resolves.toBe('next');
  });
});
