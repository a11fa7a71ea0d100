/**
 * The master's own identity: ServiceAccount `<name>-master` and a Role (plus RoleBinding) that lets
 * it read and watch its policy ConfigMap and nothing else (`--kube-configmap` lists and watches
 * with a `metadata.name` field selector, which RBAC matches against `resourceNames`). Slaves get
 * no Kubernetes API access at all (their pods do not mount a token).
 */
import { childNames, metadata, type ClusterRef, type KubernetesObject } from './common.js';

export function buildMasterRbac(cluster: ClusterRef): KubernetesObject[] {
  const names = childNames(cluster.metadata.name);
  const name = names.master;
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: metadata(cluster, name, 'master'),
      automountServiceAccountToken: false,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: metadata(cluster, name, 'master'),
      rules: [
        {
          apiGroups: [''],
          resources: ['configmaps'],
          resourceNames: [names.policyConfigMap],
          verbs: ['get', 'list', 'watch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: metadata(cluster, name, 'master'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: cluster.metadata.namespace }],
    },
  ];
}
