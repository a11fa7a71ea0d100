/**
 * HorizontalPodAutoscaler `<name>-slave` (autoscaling/v2) on the slaves' CPU: present only while
 * `slaves.replicas` is unset. It owns the StatefulSet's `spec.replicas`; the operator never applies it.
 */
import { autoscaled } from './slave-statefulset.js';
import { childNames, metadata, type ClusterRef, type KubernetesObject } from './common.js';

export function buildSlaveHpa(cluster: ClusterRef): KubernetesObject | undefined {
  if (!autoscaled(cluster)) return undefined;
  const { slaves } = cluster.spec;
  const name = childNames(cluster.metadata.name).slave;
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: metadata(cluster, name, 'slave'),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name },
      minReplicas: slaves.minReplicas,
      maxReplicas: slaves.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: slaves.targetCPUUtilizationPercentage },
          },
        },
      ],
      // slaves.scaleDown (default 300 s, one a minute): a slave leaving drains its connections and ships its spool first.
      behavior: {
        scaleDown: {
          stabilizationWindowSeconds: slaves.scaleDown.stabilizationWindowSeconds,
          policies: [{ type: 'Pods', value: slaves.scaleDown.podsPerMinute, periodSeconds: 60 }],
        },
      },
    },
  };
}
