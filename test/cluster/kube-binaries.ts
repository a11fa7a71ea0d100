import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Keep in step with build-kube-binaries.sh, which builds exactly these.
export const KUBE_VERSION = 'v1.32.2';
export const KWOK_VERSION = 'v0.7.0';
export const ETCD_VERSION = 'v3.5.16';
export const HELM_VERSION = 'v3.19.0';
export const METRICS_SERVER_VERSION = 'v0.8.0';
export const PROMETHEUS_VERSION = 'v2.54.1';
export const BUILD_COMMAND = 'make kube-binaries  (or: bash test/cluster/build-kube-binaries.sh)';

export interface KubeBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  kubectl: string;
  /** The real node's (real-node.ts); checked only when asked for, like helm. */
  kubelet: string;
  kubeProxy: string;
  /** Serves the metrics API (HPA on real CPU) beside the real node. */
  metricsServer: string;
  /** Prometheus with kubernetes_sd_configs, which Debian's build lacks. */
  prometheus: string;
  helm: string;
}

/** Binaries the kwok-only control plane does not run: their absence is an error only when asked for. */
export type OptionalKubeBinary = 'kubelet' | 'kubeProxy' | 'metricsServer' | 'prometheus' | 'helm';

/** The version-keyed cache directory the build script writes into (outside git). */
export function kubeCacheDir(): string {
  const root = process.env.SAFESQUID_KUBE_CACHE || join(homedir(), '.cache', 'safesquid-kube');
  return join(root, KUBE_VERSION);
}

/**
 * Paths of every binary the control plane runs, plus the `optional` ones asked for (the real node
 * needs kubelet and kube-proxy); throws naming the command that builds missing ones.
 */
export function locateKubeBinaries(optional: OptionalKubeBinary[] = []): KubeBinaries {
  const bin = join(kubeCacheDir(), 'bin');
  const found: KubeBinaries = {
    etcd: process.env.SAFESQUID_ETCD || join(bin, 'etcd'),
    kubeApiserver: join(bin, 'kube-apiserver'),
    kubeControllerManager: join(bin, 'kube-controller-manager'),
    kubeScheduler: join(bin, 'kube-scheduler'),
    kwok: join(bin, 'kwok'),
    kubectl: process.env.SAFESQUID_KUBECTL || '/usr/bin/kubectl',
    kubelet: join(bin, 'kubelet'),
    kubeProxy: join(bin, 'kube-proxy'),
    metricsServer: join(bin, 'metrics-server'),
    prometheus: join(bin, 'prometheus-k8s-sd'),
    helm: join(bin, 'helm'),
  };
  const optionalNames = new Set<string>(['kubelet', 'kubeProxy', 'metricsServer', 'prometheus', 'helm']);
  const checked = Object.entries(found)
    .filter(([name]) => !optionalNames.has(name) || optional.includes(name as OptionalKubeBinary))
    .map(([, path]) => path);
  const missing = checked.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    const hints: string[] = [];
    if (missing.some((p) => p.startsWith(bin))) {
      hints.push(
        `build Kubernetes ${KUBE_VERSION}, etcd ${ETCD_VERSION}, kwok ${KWOK_VERSION}, metrics-server ${METRICS_SERVER_VERSION}, prometheus ${PROMETHEUS_VERSION} and helm ${HELM_VERSION} with: ${BUILD_COMMAND}`,
      );
    }
    if (missing.includes(found.kubectl)) hints.push('install kubectl 1.32 (or set SAFESQUID_KUBECTL)');
    throw new Error(`test control plane: missing ${missing.join(', ')}; ${hints.join('; ')}`);
  }
  return found;
}
