// The launcher itself: a second, private control plane beside the project's shared one.
import { existsSync, rmSync } from 'node:fs';
import { startControlPlane } from './control-plane.js';
import { isRunning } from './processes.js';

jest.setTimeout(90_000);

test('stop() ends every process by PID and removes the temp dir', async () => {
  const cp = await startControlPlane({ nodes: 1 });
  try {
    expect(cp.processes.map((p) => p.name)).toEqual([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
    ]);
    expect(cp.processes.every(isRunning)).toBe(true);
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cp.nodeNames).toEqual(['kwok-node-0']);
  } finally {
    await cp.stop();
  }
  expect(cp.processes.filter(isRunning)).toEqual([]);
  expect(existsSync(cp.dir)).toBe(false);
});

test('a component that dies at start-up fails the start with its name, exit code and log', async () => {
  const saved = process.env.SAFESQUID_ETCD;
  process.env.SAFESQUID_ETCD = '/bin/false';
  try {
    const failure = await startControlPlane({ startTimeoutMs: 20_000 }).then(
      () => new Error('started with /bin/false as etcd'),
      (err: Error) => err,
    );
    expect(failure.message).toMatch(
      /etcd exited \(code 1, signal null\) before etcd health; log \/\S+\/logs\/etcd\.log/,
    );
    // The failure keeps its files for whoever reads the message; this test has read it.
    const kept = /files kept in (\S+)\)/.exec(failure.message)?.[1];
    expect(kept && existsSync(`${kept}/logs/etcd.log`)).toBe(true);
    rmSync(kept as string, { recursive: true, force: true });
  } finally {
    if (saved === undefined) delete process.env.SAFESQUID_ETCD;
    else process.env.SAFESQUID_ETCD = saved;
  }
});
