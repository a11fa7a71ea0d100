import { LogThrottle } from './log-throttle.js';

describe('LogThrottle', () => {
  it('passes a burst per window and reports what it held back', () => {
    let now = 0;
    const throttle = new LogThrottle(2, 1000, () => now);
    const lines: number[] = [];
    for (let i = 0; i < 5; i++) throttle.log((held) => lines.push(held));
    expect(lines).toEqual([0, 0]);
    now = 1000;
    throttle.log((held) => lines.push(held));
    expect(lines).toEqual([0, 0, 3]);
  });
});
