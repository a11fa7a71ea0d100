import type { KubeObject } from './client.js';

/** Where a kind lives in the API: enough to build its URLs without a discovery round trip. */
export interface ResourceType {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const t = (apiVersion: string, kind: string, plural: string, namespaced = true): ResourceType => ({
  apiVersion,
  kind,
  plural,
  namespaced,
});

/** Every kind the operator reads or writes. */
export const RESOURCES = {
  SafeSquidCluster: t('safesquid.io/v1alpha1', 'SafeSquidCluster', 'safesquidclusters'),
  PolicySet: t('safesquid.io/v1alpha1', 'PolicySet', 'policysets'),
  ConfigMap: t('v1', 'ConfigMap', 'configmaps'),
  Secret: t('v1', 'Secret', 'secrets'),
  Service: t('v1', 'Service', 'services'),
  ServiceAccount: t('v1', 'ServiceAccount', 'serviceaccounts'),
  PersistentVolumeClaim: t('v1', 'PersistentVolumeClaim', 'persistentvolumeclaims'),
  Pod: t('v1', 'Pod', 'pods'),
  Event: t('v1', 'Event', 'events'),
  Deployment: t('apps/v1', 'Deployment', 'deployments'),
  StatefulSet: t('apps/v1', 'StatefulSet', 'statefulsets'),
  HorizontalPodAutoscaler: t('autoscaling/v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers'),
  PodDisruptionBudget: t('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets'),
  NetworkPolicy: t('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies'),
  Lease: t('coordination.k8s.io/v1', 'Lease', 'leases'),
  Role: t('rbac.authorization.k8s.io/v1', 'Role', 'roles'),
  RoleBinding: t('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings'),
} as const satisfies Record<string, ResourceType>;

export type KnownKind = keyof typeof RESOURCES;

export function resourceOf(obj: Pick<KubeObject, 'apiVersion' | 'kind'>): ResourceType {
  const r = (RESOURCES as Record<string, ResourceType>)[obj.kind ?? ''];
  if (!r || r.apiVersion !== obj.apiVersion) {
    throw new Error(
      `the operator does not know ${obj.apiVersion}/${obj.kind}; add it to RESOURCES in kube/resources.ts`,
    );
  }
  return r;
}

function groupPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** The collection URL: all namespaces when `namespace` is undefined. */
export function collectionPath(r: ResourceType, namespace?: string): string {
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${groupPath(r.apiVersion)}${ns}/${r.plural}`;
}

export function objectPath(r: ResourceType, namespace: string | undefined, name: string, subresource?: string): string {
  if (r.namespaced && !namespace) throw new Error(`${r.kind} ${name}: a namespace is required`);
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
}

/** "namespace/name" (or "name" for cluster-scoped objects): the key of caches and the work queue. */
export function keyOf(obj: KubeObject): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : String(m.name);
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
