// Runs after the e2e-kube project's tests whether they passed or failed: stops the control plane
// and its real node, then fails the run if the host differs from before the node started.
import { diffHostSnapshots, snapshotHost } from './host-state.js';

export default async function teardown(): Promise<void> {
  const started = globalThis.__safesquidRealNodeCluster;
  globalThis.__safesquidRealNodeCluster = undefined;
  if (!started) return;
  await started.cp.stop();
  const left = diffHostSnapshots(started.hostBefore, snapshotHost());
  if (left.length > 0) throw new Error(`the real node's teardown left the host changed:\n  ${left.join('\n  ')}`);
}
