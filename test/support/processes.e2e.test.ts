import { startChild } from './child-process.js';
import { slaveStarted, startSafesquid } from './safesquid-process.js';

it('a safesquid process that dies during start-up fails with its exit and the end of its log', async () => {
  const start = startSafesquid('slave x', ['slave', '--listen', 'nonsense'], slaveStarted);
  await expect(start).rejects.toThrow(
    /^slave x exited with code [1-9]\d* before it was ready:\n.*--policy FILE is required/s,
  );
});

it('stop() SIGKILLs a process that ignores SIGTERM once the grace period is over', async () => {
  const child = startChild(
    'stubborn',
    process.execPath,
    ['-e', "process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000)"],
    {
      stopGraceMs: 300,
    },
  );
  try {
    await new Promise<void>((resolve) => child.onLine((line) => line === 'up' && resolve()));
    const t0 = Date.now();
    expect(await child.stop()).toBeNull();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(child.exitDescription()).toBe('signal SIGKILL');
    expect(child.stdout()).toContain('ignored');
    expect(() => process.kill(child.pid, 0)).toThrow();
  } finally {
    child.killNow();
  }
});
