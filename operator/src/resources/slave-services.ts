/**
 * The slaves' Services: headless `<name>-slave` (the StatefulSet's governing Service: stable DNS
 * per slave, and the metrics port for scrapers that discover endpoints) and `<name>-proxy`, the
 * one clients use, of `slaves.service.type` (LoadBalancer by default) on the proxy port.
 */
import { childNames, metadata, selectorLabels, type ClusterRef, type KubernetesObject } from './common.js';

export function buildSlaveHeadlessService(cluster: ClusterRef): KubernetesObject {
  const { slaves } = cluster.spec;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(cluster, childNames(cluster.metadata.name).slave, 'slave'),
    spec: {
      clusterIP: 'None',
      // Slaves draining (not ready) keep their DNS names while they finish.
      publishNotReadyAddresses: true,
      selector: selectorLabels(cluster.metadata.name, 'slave'),
      ports: [
        { name: 'proxy', port: slaves.proxyPort, targetPort: 'proxy', protocol: 'TCP' },
        { name: 'metrics', port: slaves.metricsPort, targetPort: 'metrics', protocol: 'TCP', appProtocol: 'http' },
      ],
    },
  };
}

export function buildProxyService(cluster: ClusterRef): KubernetesObject {
  const { slaves } = cluster.spec;
  const service = slaves.service;
  const external = service.type !== 'ClusterIP';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(cluster, childNames(cluster.metadata.name).proxy, 'slave', service.annotations),
    spec: {
      type: service.type,
      selector: selectorLabels(cluster.metadata.name, 'slave'),
      ports: [{ name: 'proxy', port: slaves.proxyPort, targetPort: 'proxy', protocol: 'TCP' }],
      ...(service.type === 'LoadBalancer' && service.loadBalancerSourceRanges
        ? { loadBalancerSourceRanges: service.loadBalancerSourceRanges }
        : {}),
      ...(external && service.externalTrafficPolicy ? { externalTrafficPolicy: service.externalTrafficPolicy } : {}),
    },
  };
}
