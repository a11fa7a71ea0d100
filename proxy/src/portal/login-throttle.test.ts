import { LoginThrottle } from './login-throttle.js';

/** A throttle on a clock the test moves. */
function throttle(o: ConstructorParameters<typeof LoginThrottle>[0] = {}) {
  let t = 1_000_000;
  const th = new LoginThrottle({ ...o, now: () => t });
  return { th, advance: (ms: number) => (t += ms) };
}

describe('LoginThrottle', () => {
  it('lets the first failures through, then makes the (client, user) pair wait longer after each', () => {
    const { th, advance } = throttle();
    for (let i = 0; i < 3; i++) {
      expect(th.check('10.0.0.1', 'root').ok).toBe(true);
      th.failed('10.0.0.1', 'root');
    }
    expect(th.check('10.0.0.1', 'root').ok).toBe(true);
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      th.failed('10.0.0.1', 'root');
      const v = th.check('10.0.0.1', 'root');
      if (v.ok) throw new Error('expected a wait');
      waits.push(v.retryAfterS);
      advance(v.retryAfterS * 1000);
      expect(th.check('10.0.0.1', 'root').ok).toBe(true);
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
  });

  it('keeps the same user from another client, and another user from the same client, unaffected', () => {
    const { th } = throttle();
    for (let i = 0; i < 10; i++) th.failed('203.0.113.9', 'root');
    expect(th.check('203.0.113.9', 'root')).toMatchObject({
      ok: false,
      reason: 'too many failed logins for "root" from 203.0.113.9',
    });
    expect(th.check('10.0.0.1', 'root').ok).toBe(true);
    expect(th.check('203.0.113.9', 'alice').ok).toBe(true);
  });

  it('forgets a pair after a success', () => {
    const { th } = throttle();
    for (let i = 0; i < 5; i++) th.failed('10.0.0.1', 'root');
    th.succeeded('10.0.0.1', 'root');
    expect(th.check('10.0.0.1', 'root').ok).toBe(true);
    th.failed('10.0.0.1', 'root');
    expect(th.check('10.0.0.1', 'root').ok).toBe(true);
  });

  it('caps failures across the portal per minute, except for pairs that logged in before', () => {
    const { th, advance } = throttle({ globalFailuresPerMinute: 20 });
    th.succeeded('10.0.0.1', 'root');
    // Guesses spread over many addresses, one each: no pair ever waits.
    for (let i = 0; i < 20; i++) {
      expect(th.check(`198.51.100.${i}`, 'root').ok).toBe(true);
      th.failed(`198.51.100.${i}`, 'root');
      advance(1000);
    }
    const refused = th.check('198.51.100.200', 'root');
    expect(refused).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/too many failed logins to this portal in the last minute/),
    });
    expect(refused.ok === false && refused.retryAfterS).toBe(40);
    // The owner, from where they logged in before, is still checked.
    expect(th.check('10.0.0.1', 'root').ok).toBe(true);
    // Once the oldest failures are a minute old, others are checked again.
    advance(40_000);
    expect(th.check('198.51.100.200', 'root').ok).toBe(true);
  });

  it('forgets a pair half an hour after its last failure', () => {
    const { th, advance } = throttle();
    for (let i = 0; i < 4; i++) th.failed('10.0.0.1', 'root');
    advance(30 * 60_000 + 1);
    th.failed('10.0.0.1', 'root');
    expect(th.check('10.0.0.1', 'root').ok).toBe(true);
  });
});
