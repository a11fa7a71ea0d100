import bcrypt from 'bcryptjs';
import { argon2id } from 'hash-wasm';
import { randomBytes } from 'node:crypto';
import { HashWorkerPool } from './hash-worker-pool.js';

describe('HashWorkerPool', () => {
  const pool = new HashWorkerPool(2, 100);
  afterAll(() => pool.close());

  it('verifies bcrypt and argon2 off the event loop', async () => {
    const argon = await argon2id({
      password: 'pw',
      salt: randomBytes(16),
      parallelism: 1,
      iterations: 4,
      memorySize: 32 * 1024,
      hashLength: 32,
      outputType: 'encoded',
    });
    const bcryptHash = bcrypt.hashSync('pw', 10);
    let maxGapMs = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
    }, 2);
    const started = performance.now();
    try {
      const results = await Promise.all([
        pool.verify('argon2', 'pw', argon),
        pool.verify('bcrypt', 'pw', bcryptHash),
        pool.verify('argon2', 'nope', argon),
      ]);
      expect(results).toEqual([true, true, false]);
    } finally {
      clearInterval(ticker);
    }
    // The checks take far longer than any stall of this thread may (on its own thread, argon2 would stall for all of it).
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeGreaterThan(3 * maxGapMs);
  });

  it('ends idle workers', async () => {
    await pool.verify('bcrypt', 'pw', bcrypt.hashSync('pw', 4));
    expect(pool.running).toBeGreaterThan(0);
    const end = Date.now() + 3000;
    while (pool.running > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(pool.running).toBe(0);
  });
});
