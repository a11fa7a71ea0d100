import type { Informer } from '../kube/informer.js';
import type { KnownKind } from '../kube/resources.js';

/** The kinds the operator keeps caches of; children are cached by the managed-by label only. */
export const WATCHED_KINDS = [
  'SafeSquidCluster',
  'PolicySet',
  'ConfigMap',
  'Secret',
  'Service',
  'Deployment',
  'StatefulSet',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'NetworkPolicy',
  'PersistentVolumeClaim',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'Pod',
] as const satisfies readonly KnownKind[];
export type WatchedKind = (typeof WATCHED_KINDS)[number];
export type Caches = Record<WatchedKind, Informer>;
