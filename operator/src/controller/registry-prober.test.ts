import pino from 'pino';
import type { RegistryAnswer } from './cluster-status.js';
import { RegistryProber } from './registry-prober.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('probes in the background, answers from the last probe, and queues the cluster only when the answer changes', async () => {
  const answers: RegistryAnswer[] = [
    { ok: false, error: 'ENOTFOUND' },
    { ok: false, error: 'no answer in 3000 ms' },
    { ok: true, slaves: [{ name: 's-0', policyHash: 'h1', inSync: true, state: 'online' }] },
  ];
  let reads = 0;
  const changed: string[] = [];
  const prober = new RegistryProber({
    intervalMs: 30,
    logger: pino({ level: 'silent' }),
    onChange: (k) => changed.push(k),
    read: async () => answers[Math.min(reads++, answers.length - 1)],
  });
  prober.start();
  try {
    expect(prober.latest('ns/c', 'http://m', 't')).toBeUndefined();
    await tick(20);
    expect(prober.latest('ns/c', 'http://m', 't')).toEqual(answers[0]);
    // Another wording of "unreachable" is no change; the slave appearing is.
    const deadline = Date.now() + 5000;
    while (reads < 3 && Date.now() < deadline) await tick(20);
    await tick(10);
    expect({ reads, changed }).toEqual({ reads: 3, changed: ['ns/c', 'ns/c'] });
    expect(prober.latest('ns/c', 'http://m', 't')).toEqual(answers[2]);
    prober.forget('ns/c');
    const before = reads;
    await tick(1200);
    expect(reads).toBe(before);
  } finally {
    prober.stop();
  }
});
