/**
 * PersistentVolumeClaim `<name>-master-data`: the master's data directory (SQLite report database,
 * policy history, slave registry). None when the master stores reports in PostgreSQL: then the
 * data directory is an emptyDir (history and registry are rebuilt as slaves reconnect).
 */
import { childNames, metadata, type ClusterRef, type KubernetesObject } from './common.js';

export function buildMasterPvc(cluster: ClusterRef): KubernetesObject | undefined {
  const storage = cluster.spec.master.storage;
  if (!storage) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: metadata(cluster, childNames(cluster.metadata.name).masterData, 'master'),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: String(storage.size) } },
      ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
    },
  };
}
