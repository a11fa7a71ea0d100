// globalSetup of the jest `e2e-kube` project: one control plane with a real node for all
// *.kube.test.ts files. Workers inherit the environment set here (real-node-env.ts reads it back);
// globalTeardown (same process) stops it and fails the run if the host is not as it was.
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { snapshotHost, type HostSnapshot } from './host-state.js';
import { REAL_NODE_ENV, type RealNodeEnv } from './real-node-env.js';

declare global {
  var __safesquidRealNodeCluster: { cp: ControlPlane; hostBefore: HostSnapshot } | undefined;
}

export default async function setup(): Promise<void> {
  const hostBefore = snapshotHost();
  const cp = await startControlPlane({
    realNode: true,
    log: process.env.SAFESQUID_CLUSTER_VERBOSE ? (l) => console.log(`cluster: ${l}`) : undefined,
  });
  globalThis.__safesquidRealNodeCluster = { cp, hostBefore };
  const node = cp.realNode;
  if (!node) throw new Error('startControlPlane({ realNode: true }) returned no real node');
  const env: RealNodeEnv = {
    nodeName: node.nodeName,
    nodeIp: node.nodeIp,
    podCidr: node.podCidr,
    serviceCidr: node.serviceCidr,
    clusterDomain: node.clusterDomain,
    dnsServer: node.dnsServer,
    containerdSocket: node.containerdSocket,
    storageClass: node.storageClass,
    images: node.images,
    startupMs: cp.startupMs,
    nodePids: cp.processes.filter((p) => ['containerd', 'kubelet', 'kube-proxy'].includes(p.name)).map((p) => p.pid),
  };
  process.env[REAL_NODE_ENV] = JSON.stringify(env);
  process.env.KUBECONFIG = cp.kubeconfigPath;
  process.env.SAFESQUID_KUBE_SERVER = cp.server;
  process.env.SAFESQUID_CONTAINERD_ADDRESS = node.containerdSocket;
}
