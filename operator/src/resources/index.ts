/**
 * Pure builders of a SafeSquidCluster's children: no I/O, same input → same objects, each ready for
 * server-side apply (apiVersion, kind, metadata with the `app.kubernetes.io/*` labels and a
 * controller owner reference, spec). Stable surface:
 * - `buildClusterChildren(input)`: every child in apply order (RBAC, Secrets, policy ConfigMap, PVC,
 *   master Deployment and Service, slave Services, StatefulSet, HPA, PDB, NetworkPolicies);
 * - `absentChildren(cluster)`: children this spec must NOT have (the HPA under a fixed
 *   `slaves.replicas`, the master PVC under PostgreSQL, generated Secrets the spec replaced), for
 *   the controller to delete when the spec changes;
 * - the single builders, `childNames`, `labels`/`selectorLabels`/`slaveSelector`, `masterUrl`,
 *   `autoscaled`, `generatedSecretNames`/`secretRefs`/`generateSecretValue`, `POLICY_HASH_ANNOTATION`;
 * - types `ClusterRef`, `ClusterChildrenInput`, `KubernetesObject`, `SecretValues`, `NetworkPolicyPeer`.
 */
import type { PolicyBundle } from '@safesquid/proxy/policy';
import { childNames, type ClusterRef, type KubernetesObject } from './common.js';
import { buildSecrets, generatedSecretNames, type SecretValues } from './secrets.js';
import { buildPolicyConfigMap } from './policy-configmap.js';
import { buildMasterRbac } from './master-rbac.js';
import { buildMasterPvc } from './master-pvc.js';
import { buildMasterDeployment } from './master-deployment.js';
import { buildMasterService } from './master-service.js';
import { buildProxyService, buildSlaveHeadlessService } from './slave-services.js';
import { autoscaled, buildSlaveStatefulSet } from './slave-statefulset.js';
import { buildSlaveHpa } from './hpa.js';
import { buildSlavePdb } from './pdb.js';
import { buildNetworkPolicies, type NetworkPolicyPeer } from './network-policies.js';

export {
  childNames,
  labels,
  selectorLabels,
  slaveSelector,
  ownerReference,
  MANAGED_BY,
  type ClusterRef,
  type KubernetesObject,
  type Component,
} from './common.js';
export { buildSecrets, generatedSecretNames, secretRefs, generateSecretValue, type SecretValues } from './secrets.js';
export { buildPolicyConfigMap, POLICY_HASH_ANNOTATION, BUNDLE_KEY } from './policy-configmap.js';
export { buildMasterRbac } from './master-rbac.js';
export { buildMasterPvc } from './master-pvc.js';
export { buildMasterDeployment, masterArgs } from './master-deployment.js';
export { buildMasterService, masterUrl } from './master-service.js';
export { buildProxyService, buildSlaveHeadlessService } from './slave-services.js';
export { buildSlaveStatefulSet, slaveArgs, autoscaled } from './slave-statefulset.js';
export { buildSlaveHpa } from './hpa.js';
export { buildSlavePdb } from './pdb.js';
export { buildNetworkPolicies, proxyClientCidrs, LOCALNET, type NetworkPolicyPeer } from './network-policies.js';

export interface ClusterChildrenInput {
  /** The SafeSquidCluster with `applyClusterDefaults` applied to its spec, and its uid. */
  cluster: ClusterRef;
  /** The compiled bundle of the PolicySets it selects (the last good one if a PolicySet is refused). */
  bundle: PolicyBundle;
  /**
   * Values of the generated Secrets (generated once, then read back from the cluster). Absent: the
   * generated Secrets are left out, for a caller that builds them with `buildSecrets` once it knows them.
   */
  secrets?: SecretValues;
  /** Extra peers allowed to the master's portal port (e.g. the operator's pods). */
  portalPeers?: NetworkPolicyPeer[];
}

/** Every child of the cluster, in an order in which each one's dependencies come first. */
export function buildClusterChildren(input: ClusterChildrenInput): KubernetesObject[] {
  const { cluster } = input;
  const optional = (o: KubernetesObject | undefined) => (o ? [o] : []);
  return [
    ...buildMasterRbac(cluster),
    ...(input.secrets ? buildSecrets(cluster, input.secrets) : []),
    buildPolicyConfigMap(cluster, input.bundle),
    ...optional(buildMasterPvc(cluster)),
    buildMasterDeployment(cluster),
    buildMasterService(cluster),
    buildSlaveHeadlessService(cluster),
    buildProxyService(cluster),
    buildSlaveStatefulSet(cluster),
    ...optional(buildSlaveHpa(cluster)),
    buildSlavePdb(cluster),
    ...buildNetworkPolicies(cluster, input.bundle, input.portalPeers),
  ];
}

export interface ChildKey {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
}

/** Children the operator may have created for an earlier spec that this spec must not have. */
export function absentChildren(cluster: ClusterRef): ChildKey[] {
  const names = childNames(cluster.metadata.name);
  const namespace = cluster.metadata.namespace;
  const out: ChildKey[] = [];
  if (!autoscaled(cluster))
    out.push({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: names.slave, namespace });
  if (!cluster.spec.master.storage)
    out.push({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: names.masterData, namespace });
  const generated = generatedSecretNames(cluster);
  if (!generated.syncToken) out.push({ apiVersion: 'v1', kind: 'Secret', name: names.syncTokenSecret, namespace });
  if (!generated.admin) out.push({ apiVersion: 'v1', kind: 'Secret', name: names.adminSecret, namespace });
  return out;
}
