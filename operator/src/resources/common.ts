/**
 * What every child of a SafeSquidCluster shares: names, the `app.kubernetes.io/*` labels, the
 * owner reference that lets garbage collection remove it with its cluster, and the locked-down pod
 * and container security settings. Builders are pure: same input, same object (so an unchanged
 * cluster applies unchanged objects and server-side apply writes nothing).
 */
import { GROUP_VERSION, type ObjectMeta } from '../api/safesquid-cluster.js';
import type { DefaultedClusterSpec } from '../api/validation.js';

/** A defaulted SafeSquidCluster as the builders need it (`uid` for owner references). */
export interface ClusterRef {
  metadata: Required<Pick<ObjectMeta, 'name' | 'namespace' | 'uid'>> & ObjectMeta;
  spec: DefaultedClusterSpec;
}

export type Component = 'master' | 'slave' | 'policy';

/** A Kubernetes object ready for server-side apply. */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
}

export const MANAGED_BY = 'safesquid-operator';

/** Names of the children, all derived from the cluster's name. */
export function childNames(cluster: string) {
  return {
    policyConfigMap: `${cluster}-policy`,
    syncTokenSecret: `${cluster}-sync-token`,
    adminSecret: `${cluster}-admin`,
    master: `${cluster}-master`,
    masterData: `${cluster}-master-data`,
    slave: `${cluster}-slave`,
    proxy: `${cluster}-proxy`,
  } as const;
}

/** Labels selecting a component's pods: stable for the life of the cluster (selectors are immutable). */
export function selectorLabels(cluster: string, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'safesquid',
    'app.kubernetes.io/instance': cluster,
    'app.kubernetes.io/component': component,
  };
}

export function labels(cluster: string, component: Component): Record<string, string> {
  return {
    ...selectorLabels(cluster, component),
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'app.kubernetes.io/part-of': 'safesquid',
  };
}

/** The slave pods' selector as a string: `status.selector` for the scale subresource. */
export function slaveSelector(cluster: string): string {
  return Object.entries(selectorLabels(cluster, 'slave'))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function ownerReference(cluster: ClusterRef): OwnerReference {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'SafeSquidCluster',
    name: cluster.metadata.name,
    uid: cluster.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function metadata(
  cluster: ClusterRef,
  name: string,
  component: Component,
  annotations?: Record<string, string>,
): KubernetesObject['metadata'] {
  return {
    name,
    namespace: cluster.metadata.namespace,
    labels: labels(cluster.metadata.name, component),
    ...(annotations ? { annotations } : {}),
    ownerReferences: [ownerReference(cluster)],
  };
}

/** UID/GID of the images (distroless "nonroot"). */
export const RUN_AS = 65532;

export const podSecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS,
  runAsGroup: RUN_AS,
  fsGroup: RUN_AS,
  fsGroupChangePolicy: 'OnRootMismatch',
  seccompProfile: { type: 'RuntimeDefault' },
} as const;

export const containerSecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
} as const;

/** Node's temp files (and anything else that writes outside the volumes) on a small emptyDir. */
export const tmpVolume = { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } } as const;
export const tmpMount = { name: 'tmp', mountPath: '/tmp' } as const;

export function scrapeAnnotations(port: number, path = '/metrics'): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': path };
}

/** A Secret mounted as files (not subPath, so a rotated Secret reaches the running pod). */
export function secretVolume(name: string, secretName: string, items: { key: string; path: string }[]) {
  return { name, secret: { secretName, items, defaultMode: 0o440 } };
}

export function placement(spec: {
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
    ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
    ...(spec.affinity ? { affinity: spec.affinity } : {}),
  };
}

export function imagePullSecrets(spec: DefaultedClusterSpec): Record<string, unknown> {
  return spec.imagePullSecrets?.length ? { imagePullSecrets: spec.imagePullSecrets } : {};
}
