import { WorkQueue } from './work-queue.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('queues a key added several times while waiting once', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k), { concurrency: 1 });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.depth).toBe(2);
    q.start();
    await q.idle();
    expect(seen).toEqual(['a', 'b']);
  });

  it('never runs one key twice at once, and runs it again when it changed meanwhile', async () => {
    const gate = deferred();
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        if (calls === 1) await gate.promise;
        running--;
      },
      { concurrency: 4 },
    );
    q.start();
    q.add('a');
    await tick();
    q.add('a');
    q.add('a');
    await tick();
    expect(maxRunning).toBe(1);
    expect(q.depth).toBe(0);
    gate.resolve();
    await tick(10);
    await q.idle();
    expect(calls).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('bounds concurrency across keys', async () => {
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick(5);
        running--;
      },
      { concurrency: 3 },
    );
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    q.start();
    await tick(1);
    expect(q.active).toBe(3);
    await q.idle();
    expect(maxRunning).toBe(3);
  });

  it('retries a failing key with growing per-key backoff and forgets it after a success', async () => {
    const times: number[] = [];
    const errors: number[] = [];
    const q = new WorkQueue(
      async () => {
        times.push(Date.now());
        if (times.length <= 3) throw new Error('boom');
      },
      {
        baseDelayMs: 20,
        maxDelayMs: 1000,
        random: () => 1,
        onError: (_k, _e, attempt, delay) => errors.push(attempt * 10_000 + delay),
      },
    );
    q.start();
    q.add('a');
    const deadline = Date.now() + 3000;
    while (times.length < 4 && Date.now() < deadline) await tick(5);
    expect(times).toHaveLength(4);
    // random() = 1: the full exponential delay: 20, 40, 80 ms.
    expect(errors).toEqual([10_020, 20_040, 30_080]);
    expect(times[3] - times[2]).toBeGreaterThanOrEqual(75);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(35);
    expect(q.attempts('a')).toBe(0);
  });

  it('keeps the earliest of several delayed adds, and an immediate add cancels the delay', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k));
    q.start();
    q.addAfter('a', 10_000);
    q.addAfter('a', 20);
    q.addAfter('a', 30_000);
    expect(q.delayed).toBe(1);
    await tick(60);
    expect(seen).toEqual(['a']);
    q.addAfter('b', 10_000);
    q.add('b');
    await q.idle();
    expect(seen).toEqual(['a', 'b']);
    expect(q.delayed).toBe(0);
  });

  it('requeues after the interval a handler asks for', async () => {
    let calls = 0;
    const q = new WorkQueue(async () => (++calls < 3 ? { requeueAfterMs: 10 } : undefined));
    q.start();
    q.add('a');
    const deadline = Date.now() + 2000;
    while (calls < 3 && Date.now() < deadline) await tick(5);
    expect(calls).toBe(3);
    await tick(40);
    expect(calls).toBe(3);
    await q.stop();
  });

  it('stop waits for handlers in progress and takes no new keys', async () => {
    const gate = deferred();
    const seen: string[] = [];
    const q = new WorkQueue(
      async (k) => {
        seen.push(k);
        await gate.promise;
      },
      { concurrency: 1 },
    );
    q.start();
    q.add('a');
    q.add('b');
    await tick();
    const stopped = q.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await tick(5);
    expect(done).toBe(false);
    gate.resolve();
    await stopped;
    expect(seen).toEqual(['a']);
  });
});
