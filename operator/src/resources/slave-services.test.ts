import { buildProxyService, buildSlaveHeadlessService } from './slave-services.js';
import { buildSlaveHpa } from './hpa.js';
import { buildSlavePdb } from './pdb.js';
import { clusterRef } from './test-fixture.js';

const slaveSelector = {
  'app.kubernetes.io/name': 'safesquid',
  'app.kubernetes.io/instance': 'corp',
  'app.kubernetes.io/component': 'slave',
};

describe('slave Services', () => {
  it('headless <name>-slave selects the slaves with the proxy and metrics ports', () => {
    expect(buildSlaveHeadlessService(clusterRef()).spec).toMatchObject({
      clusterIP: 'None',
      selector: slaveSelector,
      ports: [
        { name: 'proxy', port: 3128 },
        { name: 'metrics', port: 9090 },
      ],
    });
  });

  it.each<[object, Record<string, unknown>]>([
    [{}, { type: 'LoadBalancer' }],
    [
      { service: { type: 'ClusterIP' }, proxyPort: 8080 },
      { type: 'ClusterIP', ports: [{ name: 'proxy', port: 8080, targetPort: 'proxy', protocol: 'TCP' }] },
    ],
    [
      {
        service: { type: 'LoadBalancer', loadBalancerSourceRanges: ['203.0.113.0/24'], externalTrafficPolicy: 'Local' },
      },
      { loadBalancerSourceRanges: ['203.0.113.0/24'], externalTrafficPolicy: 'Local' },
    ],
  ])('<name>-proxy for slaves %p', (slaves, expected) => {
    const s = buildProxyService(clusterRef({ slaves }));
    expect(s.metadata.name).toBe('corp-proxy');
    expect(s.spec).toMatchObject({ selector: slaveSelector, ...expected });
  });

  it('carries the Service annotations (cloud load-balancer settings) and no source ranges on a ClusterIP', () => {
    const s = buildProxyService(
      clusterRef({
        slaves: { service: { type: 'ClusterIP', annotations: { a: 'b' }, loadBalancerSourceRanges: ['10.0.0.0/8'] } },
      }),
    );
    expect(s.metadata.annotations).toEqual({ a: 'b' });
    expect(s.spec).not.toHaveProperty('loadBalancerSourceRanges');
  });
});

describe('HPA and PDB', () => {
  it('autoscales the StatefulSet on CPU between minReplicas and maxReplicas', () => {
    const hpa = buildSlaveHpa(
      clusterRef({ slaves: { minReplicas: 3, maxReplicas: 7, targetCPUUtilizationPercentage: 55 } }),
    )!;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'corp-slave' },
      minReplicas: 3,
      maxReplicas: 7,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 55 } } },
      ],
    });
  });

  it('has no HPA under a fixed slaves.replicas', () => {
    expect(buildSlaveHpa(clusterRef({ slaves: { replicas: 2 } }))).toBeUndefined();
  });

  it('PDB limits voluntary disruptions of the slaves', () => {
    expect(buildSlavePdb(clusterRef()).spec).toMatchObject({
      maxUnavailable: 1,
      selector: { matchLabels: slaveSelector },
    });
    expect(buildSlavePdb(clusterRef({ slaves: { podDisruptionBudget: { maxUnavailable: 3 } } })).spec).toMatchObject({
      maxUnavailable: 3,
    });
  });
});
