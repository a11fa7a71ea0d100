/** Service `<name>-master`: the Configuration Portal on `master.portalPort`, for slaves, admins and the operator. */
import { childNames, metadata, selectorLabels, type ClusterRef, type KubernetesObject } from './common.js';

export function buildMasterService(cluster: ClusterRef): KubernetesObject {
  const port = cluster.spec.master.portalPort;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(cluster, childNames(cluster.metadata.name).master, 'master'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cluster.metadata.name, 'master'),
      ports: [{ name: 'portal', port, targetPort: 'portal', protocol: 'TCP', appProtocol: 'http' }],
    },
  };
}

/** The in-cluster URL slaves and the operator use (`status.masterURL`). */
export function masterUrl(cluster: ClusterRef): string {
  return `http://${childNames(cluster.metadata.name).master}.${cluster.metadata.namespace}.svc:${cluster.spec.master.portalPort}`;
}
