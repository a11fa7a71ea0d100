import type { AuthResult } from './types.js';
import { VerificationCache } from './verification-cache.js';

const OK: AuthResult = { ok: true, user: 'alice', groups: [] };
const NO: AuthResult = { ok: false, reason: 'invalid user name or password' };

describe('VerificationCache', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('reuses a success until the TTL ends', async () => {
    const cache = new VerificationCache(60_000, 10, 1_000, clock);
    let calls = 0;
    const verify = async () => (calls++, OK);
    await expect(cache.resolve('h1', verify)).resolves.toEqual(OK);
    now += 59_000;
    await cache.resolve('h1', verify);
    expect(calls).toBe(1);
    now += 2_000;
    await cache.resolve('h1', verify);
    expect(calls).toBe(2);
  });

  it('answers peek synchronously from fresh entries only', async () => {
    const cache = new VerificationCache(60_000, 10, 1_000, clock);
    expect(cache.peek('h')).toBeUndefined();
    await cache.resolve('h', async () => OK);
    expect(cache.peek('h')).toEqual(OK);
    now += 60_001;
    expect(cache.peek('h')).toBeUndefined();
  });

  it('keeps failures only briefly and never caches back-end errors', async () => {
    const cache = new VerificationCache(60_000, 10, 1_000, clock);
    let calls = 0;
    const fail = async () => (calls++, NO);
    await cache.resolve('bad', fail);
    await cache.resolve('bad', fail);
    expect(calls).toBe(1);
    now += 1_001;
    await cache.resolve('bad', fail);
    expect(calls).toBe(2);

    let errors = 0;
    const down = async () => (
      errors++,
      { ok: false as const, reason: 'authentication service unavailable', cacheable: false }
    );
    await cache.resolve('x', down);
    await cache.resolve('x', down);
    expect(errors).toBe(2);
  });

  it('coalesces concurrent checks of the same header', async () => {
    const cache = new VerificationCache(60_000, 10, 1_000, clock);
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const verify = async () => {
      calls++;
      await gate;
      return OK;
    };
    const all = Promise.all(Array.from({ length: 20 }, () => cache.resolve('same', verify)));
    release();
    expect(await all).toEqual(Array(20).fill(OK));
    expect(calls).toBe(1);
  });

  it('evicts the oldest entries beyond its size bound', async () => {
    const cache = new VerificationCache(60_000, 3, 1_000, clock);
    for (const h of ['a', 'b', 'c', 'd']) await cache.resolve(h, async () => OK);
    expect(cache.size).toBe(3);
    let calls = 0;
    await cache.resolve('a', async () => (calls++, OK));
    await cache.resolve('d', async () => (calls++, OK));
    expect(calls).toBe(1);
  });

  it('drops results of checks that were running when it was cleared', async () => {
    const cache = new VerificationCache(60_000, 10, 1_000, clock);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const running = cache.resolve('h', async () => (await gate, OK));
    cache.clear();
    release();
    await running;
    expect(cache.size).toBe(0);
  });

  it('keys by a digest, never by the header itself', () => {
    const key = VerificationCache.keyOf('Basic YWxpY2U6c2VjcmV0');
    expect(key).not.toContain('YWxpY2U6c2VjcmV0');
    expect(key).toHaveLength(44);
  });
});
