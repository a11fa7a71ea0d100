/**
 * The operator's permissions: one source for `deploy/rbac/` (written by `make rbac`,
 * checked by a test) and for the Helm chart. Exactly what the code does: caches (get, list, watch)
 * of the kinds it reads, server-side apply (patch; create when the child does not exist yet) and
 * pruning (delete) of the children, status patches, Events, and the leader Lease.
 */
import { stringify } from 'yaml';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'];

export const OPERATOR_RULES: PolicyRule[] = [
  { apiGroups: ['safesquid.io'], resources: ['safesquidclusters', 'policysets'], verbs: ['get', 'list', 'watch'] },
  // The outcome of a task asked for by annotation (safesquid.io/task-result).
  { apiGroups: ['safesquid.io'], resources: ['safesquidclusters'], verbs: ['patch'] },
  { apiGroups: ['safesquid.io'], resources: ['safesquidclusters/status', 'policysets/status'], verbs: ['patch'] },
  // Children. Secrets: the generated sync token and admin credentials, and reading the ones a spec names.
  {
    apiGroups: [''],
    resources: ['configmaps', 'secrets', 'services', 'serviceaccounts', 'persistentvolumeclaims'],
    verbs: CHILD_VERBS,
  },
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: CHILD_VERBS },
  { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: CHILD_VERBS },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: CHILD_VERBS },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: CHILD_VERBS },
  // The master's Role (read its policy ConfigMap) and RoleBinding. Granting them needs no `escalate`
  // or `bind`: the operator holds every permission that Role grants.
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: CHILD_VERBS },
  // Status: which master and slave pods are ready, and why not.
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  // Drain-and-restart tasks evict slave pods, so that the PodDisruptionBudget is respected.
  { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
];

/** Leader election, in the operator's own namespace only. */
export const LEADER_ELECTION_RULES: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

export const OPERATOR_NAME = 'safesquid-operator';
/** Namespace the manifests install into; tests and `kustomize edit set namespace` replace it. */
export const OPERATOR_NAMESPACE = 'safesquid-system';

const labels = { 'app.kubernetes.io/name': OPERATOR_NAME, 'app.kubernetes.io/part-of': 'safesquid' };

const header = (what: string) =>
  `# Generated from operator/src/rbac/rules.ts by \`make rbac\`; do not edit.\n# ${what}\n`;

function docs(objects: unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

/** deploy/rbac/*.yaml by file name. */
export function rbacManifests(ns = OPERATOR_NAMESPACE): Record<string, string> {
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: OPERATOR_NAME, namespace: ns, labels } };
  const subject = { kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: ns };
  const leaderRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: `${OPERATOR_NAME}-leader-election`, namespace: ns, labels },
    rules: LEADER_ELECTION_RULES,
  };
  const leaderBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: `${OPERATOR_NAME}-leader-election`, namespace: ns, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${OPERATOR_NAME}-leader-election` },
    subjects: [subject],
  };
  const clusterRole = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: OPERATOR_NAME, labels },
    rules: OPERATOR_RULES,
  };
  const clusterBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: OPERATOR_NAME, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
    subjects: [subject],
  };
  // Namespaced install (`--namespace NS`): the same rules as a Role in the watched namespace.
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: OPERATOR_NAME, namespace: ns, labels },
    rules: OPERATOR_RULES,
  };
  const roleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: OPERATOR_NAME, namespace: ns, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OPERATOR_NAME },
    subjects: [subject],
  };
  return {
    'service_account.yaml': header("The operator's ServiceAccount.") + docs([sa]),
    'cluster_role.yaml':
      header('Cluster-wide install: everything the operator does, in every namespace.') +
      docs([clusterRole, clusterBinding]),
    'leader_election_role.yaml':
      header("--leader-elect: the Lease in the operator's namespace.") + docs([leaderRole, leaderBinding]),
    'namespaced/role.yaml':
      header(
        'Namespaced install (--namespace): the same rules, in one namespace only; use instead of cluster_role.yaml.',
      ) + docs([role, roleBinding]),
    'kustomization.yaml':
      header('Cluster-wide install.') +
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: ['service_account.yaml', 'cluster_role.yaml', 'leader_election_role.yaml'],
      }),
  };
}
