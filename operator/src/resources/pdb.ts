/** PodDisruptionBudget `<name>-slave`: node drains take at most `slaves.podDisruptionBudget.maxUnavailable` slaves at once. */
import { childNames, metadata, selectorLabels, type ClusterRef, type KubernetesObject } from './common.js';

export function buildSlavePdb(cluster: ClusterRef): KubernetesObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(cluster, childNames(cluster.metadata.name).slave, 'slave'),
    spec: {
      maxUnavailable: cluster.spec.slaves.podDisruptionBudget.maxUnavailable,
      selector: { matchLabels: selectorLabels(cluster.metadata.name, 'slave') },
      // A slave that is not ready (still starting, or stuck) may be evicted regardless of the budget.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
