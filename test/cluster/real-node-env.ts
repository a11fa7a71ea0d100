// The real node of the e2e-kube project's globalSetup, as its test files see it (they run in
// workers: the setup passes what it started through the environment).
import { loadImage } from './containerd.js';
import { pidsWithArg } from './host-state.js';
import { rssBytes } from './processes.js';
import type { RealNode } from './real-node.js';

export const REAL_NODE_ENV = 'SAFESQUID_REAL_NODE';

export interface RealNodeEnv extends Omit<RealNode, 'loadImage' | 'memoryBytes'> {
  /** From startControlPlane's call to a Ready node with DNS and storage. */
  startupMs: number;
  /** containerd, kubelet, kube-proxy. */
  nodePids: number[];
}

/** The real node started by the e2e-kube globalSetup; throws outside that project. */
export function realNodeFromEnv(): RealNode & { startupMs: number } {
  const raw = process.env[REAL_NODE_ENV];
  if (!raw)
    throw new Error(
      `${REAL_NODE_ENV} is not set: run this test in the jest project e2e-kube (npx jest --selectProjects e2e-kube)`,
    );
  const env = JSON.parse(raw) as RealNodeEnv;
  const { nodePids, ...info } = env;
  return {
    ...info,
    loadImage: (archivePath, name) => loadImage(archivePath, { address: env.containerdSocket, name }),
    memoryBytes: () => [...nodePids, ...pidsWithArg(env.containerdSocket)].reduce((sum, pid) => sum + rssBytes(pid), 0),
  };
}
