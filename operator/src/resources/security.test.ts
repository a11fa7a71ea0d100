import { buildClusterChildren } from './index.js';
import { bundle, clusterRef } from './test-fixture.js';
import type { KubernetesObject } from './common.js';

const workloads = (spec = {}) =>
  buildClusterChildren({
    cluster: clusterRef(spec),
    bundle: bundle(),
    secrets: { syncToken: 's', adminPassword: 'p', adminToken: 't' },
  }).filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const pod = (o: KubernetesObject) => (o.spec as any).template.spec;

describe.each(workloads().map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))('%s pod', (_name, o) => {
  it('runs non-root (65532) with seccomp RuntimeDefault', () => {
    expect(pod(o).securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  const containers: [string, any][] = pod(o).containers.map((c: { name: string }) => [c.name, c]);
  it.each(containers)('container %s: read-only root, no escalation, no capabilities, resources', (_c, c) => {
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.resources.requests).toEqual(
      expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }),
    );
    expect(c.resources.limits).toEqual(expect.objectContaining({ memory: expect.anything() }));
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('has a /tmp emptyDir and scrape annotations', () => {
    expect(pod(o).volumes).toContainEqual(expect.objectContaining({ name: 'tmp', emptyDir: expect.any(Object) }));
    expect((o.spec as any).template.metadata.annotations['prometheus.io/scrape']).toBe('true');
  });
});

it('takes resources, node selectors, tolerations and affinity from the spec', () => {
  const [master, slave] = workloads({
    master: {
      resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } },
      nodeSelector: { role: 'infra' },
    },
    slaves: {
      resources: { requests: { cpu: 2, memory: '1Gi' } },
      tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }],
          },
        },
      },
    },
  });
  expect(
    pod(slave).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms,
  ).toHaveLength(1);
  expect(pod(master)).not.toHaveProperty('affinity');
  expect(pod(master).containers[0].resources).toEqual({
    requests: { cpu: '1', memory: '2Gi' },
    limits: { memory: '4Gi' },
  });
  expect(pod(master).nodeSelector).toEqual({ role: 'infra' });
  expect(pod(slave).containers[0].resources).toEqual({ requests: { cpu: 2, memory: '1Gi' } }); // no limits merged in
  expect(pod(slave).tolerations).toEqual([{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }]);
});
