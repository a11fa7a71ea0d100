import { buildClusterChildren, absentChildren } from './index.js';
import { bundle, clusterRef, UID } from './test-fixture.js';

const all = (spec = {}) =>
  buildClusterChildren({
    cluster: clusterRef(spec),
    bundle: bundle(),
    secrets: { syncToken: 's', adminPassword: 'p', adminToken: 't' },
  });

describe('buildClusterChildren', () => {
  it('leaves the generated Secrets out when their values are not given', () => {
    const kinds = buildClusterChildren({ cluster: clusterRef(), bundle: bundle() }).map((o) => o.kind);
    expect(kinds).not.toContain('Secret');
    expect(kinds).toHaveLength(all().length - 2);
  });

  it('returns every child in apply order, named after the cluster', () => {
    expect(all().map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/corp-master',
      'Role/corp-master',
      'RoleBinding/corp-master',
      'Secret/corp-sync-token',
      'Secret/corp-admin',
      'ConfigMap/corp-policy',
      'PersistentVolumeClaim/corp-master-data',
      'Deployment/corp-master',
      'Service/corp-master',
      'Service/corp-slave',
      'Service/corp-proxy',
      'StatefulSet/corp-slave',
      'HorizontalPodAutoscaler/corp-slave',
      'PodDisruptionBudget/corp-slave',
      'NetworkPolicy/corp-master',
      'NetworkPolicy/corp-slave',
    ]);
  });

  it.each(all().map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))(
    '%s: namespace, labels, controller owner reference',
    (_n, o) => {
      expect(o.apiVersion).toBeTruthy();
      expect(o.metadata.namespace).toBe('gw');
      expect(o.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'safesquid',
        'app.kubernetes.io/instance': 'corp',
        'app.kubernetes.io/component': expect.stringMatching(/^(master|slave|policy)$/),
        'app.kubernetes.io/managed-by': 'safesquid-operator',
        'app.kubernetes.io/part-of': 'safesquid',
      });
      expect(o.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'safesquid.io/v1alpha1',
          kind: 'SafeSquidCluster',
          name: 'corp',
          uid: UID,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    },
  );

  it('is pure: the same input gives equal objects', () => {
    expect(all()).toEqual(all());
  });

  it.each<[string, object, string[], string[]]>([
    ['fixed replicas', { slaves: { replicas: 3 } }, [], ['HorizontalPodAutoscaler/corp-slave']],
    [
      'PostgreSQL',
      { master: { postgres: { secretRef: { name: 'pg' } } } },
      [],
      ['PersistentVolumeClaim/corp-master-data'],
    ],
    [
      'existing Secrets',
      { master: { adminSecretRef: { name: 'a' }, syncTokenSecretRef: { name: 't' } } },
      [],
      ['Secret/corp-sync-token', 'Secret/corp-admin'],
    ],
  ])('%s: the child is not built, and absentChildren names it', (_what, spec, _present, absent) => {
    const kinds = all(spec).map((o) => `${o.kind}/${o.metadata.name}`);
    for (const a of absent) expect(kinds).not.toContain(a);
    expect(absentChildren(clusterRef(spec)).map((c) => `${c.kind}/${c.name}`)).toEqual(expect.arrayContaining(absent));
  });

  it('absentChildren is empty for the default spec', () => {
    expect(absentChildren(clusterRef())).toEqual([]);
  });
});
