import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Keep in step with build-kube-binaries.sh, which builds exactly these.
export const KUBE_VERSION = 'v1.32.2';
export const KWOK_VERSION = 'v0.7.0';
export const ETCD_VERSION = 'v3.5.16';
export const BUILD_COMMAND = 'make kube-binaries  (or: bash test/cluster/build-kube-binaries.sh)';

export interface KubeBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  kubectl: string;
}

/** The version-keyed cache directory the build script writes into (outside git). */
export function kubeCacheDir(): string {
  const root = process.env.SAFESQUID_KUBE_CACHE || join(homedir(), '.cache', 'safesquid-kube');
  return join(root, KUBE_VERSION);
}

/** Paths of every binary the control plane runs; throws naming the command that builds missing ones. */
export function locateKubeBinaries(): KubeBinaries {
  const bin = join(kubeCacheDir(), 'bin');
  const found: KubeBinaries = {
    etcd: process.env.SAFESQUID_ETCD || join(bin, 'etcd'),
    kubeApiserver: join(bin, 'kube-apiserver'),
    kubeControllerManager: join(bin, 'kube-controller-manager'),
    kubeScheduler: join(bin, 'kube-scheduler'),
    kwok: join(bin, 'kwok'),
    kubectl: process.env.SAFESQUID_KUBECTL || '/usr/bin/kubectl',
  };
  const missing = Object.values(found).filter((p) => !existsSync(p));
  if (missing.length > 0) {
    const hints: string[] = [];
    if (missing.some((p) => p.startsWith(bin))) {
      hints.push(`build Kubernetes ${KUBE_VERSION}, etcd ${ETCD_VERSION} and kwok ${KWOK_VERSION} with: ${BUILD_COMMAND}`);
    }
    if (missing.includes(found.kubectl)) hints.push('install kubectl 1.32 (or set SAFESQUID_KUBECTL)');
    throw new Error(`test control plane: missing ${missing.join(', ')}; ${hints.join('; ')}`);
  }
  return found;
}
