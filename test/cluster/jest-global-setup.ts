// globalSetup of the jest `cluster` project: one control plane for all *.cluster.test.ts files.
// Workers inherit KUBECONFIG; globalTeardown (same process) stops it through the handle below.
import { startControlPlane, type ControlPlane } from './control-plane.js';

declare global {
  var __safesquidControlPlane: ControlPlane | undefined;
}

export default async function setup(): Promise<void> {
  const cp = await startControlPlane({
    log: process.env.SAFESQUID_CLUSTER_VERBOSE ? (l) => console.log(`cluster: ${l}`) : undefined,
  });
  globalThis.__safesquidControlPlane = cp;
  process.env.KUBECONFIG = cp.kubeconfigPath;
  process.env.SAFESQUID_KUBE_SERVER = cp.server;
}
