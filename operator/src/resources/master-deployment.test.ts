import { buildMasterDeployment, masterArgs } from './master-deployment.js';
import { buildMasterPvc } from './master-pvc.js';
import { buildMasterService, masterUrl } from './master-service.js';
import { buildMasterRbac } from './master-rbac.js';
import { clusterRef, container, flag, podSpec } from './test-fixture.js';

describe('master Deployment', () => {
  const d = buildMasterDeployment(
    clusterRef({ master: { allowList: ['10.0.0.0/8', '192.168.0.0/16'] }, reports: { retentionDays: 30 } }),
  );

  it('runs one master, recreated rather than rolled (one writer of the SQLite file)', () => {
    expect(d.spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' } });
  });

  it.each([
    ['--listen', ':8888'],
    ['--data-dir', '/var/lib/safesquid'],
    ['--policy', '/etc/safesquid/policy/bundle.json'],
    ['--kube-configmap', 'gw/corp-policy'],
    ['--token-file', '/var/run/safesquid/sync-token/token'],
    ['--admin-token-file', '/var/run/safesquid/admin/token'],
    ['--admin-password-file', '/var/run/safesquid/admin/password'],
    ['--allow', '10.0.0.0/8,192.168.0.0/16'],
    ['--retention-days', '30'],
  ])('passes %s %s', (name, value) => {
    expect(container(d).args[0]).toBe('master');
    expect(flag(container(d).args, name)).toBe(value);
  });

  it('mounts the data claim, the policy ConfigMap, both Secrets and /tmp where the flags point', () => {
    const mounts = Object.fromEntries(
      container(d).volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]),
    );
    expect(mounts).toEqual({
      data: '/var/lib/safesquid',
      policy: '/etc/safesquid/policy',
      'sync-token': '/var/run/safesquid/sync-token',
      admin: '/var/run/safesquid/admin',
      tmp: '/tmp',
    });
    const volumes = Object.fromEntries(podSpec(d).volumes.map((v: { name: string }) => [v.name, v]));
    expect(volumes.data.persistentVolumeClaim).toEqual({ claimName: 'corp-master-data' });
    expect(volumes.policy.configMap.name).toBe('corp-policy');
    expect(volumes['sync-token'].secret.secretName).toBe('corp-sync-token');
    expect(volumes.admin.secret.items.map((i: { key: string }) => i.key)).toEqual(['password', 'token']);
    expect(volumes.tmp.emptyDir).toBeDefined();
  });

  it('probes /healthz and /readyz on the portal port, runs as its own ServiceAccount, exposes metrics to scrapers', () => {
    expect(container(d).readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'portal' });
    expect(container(d).livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'portal' });
    expect(container(d).ports).toEqual([{ name: 'portal', containerPort: 8888, protocol: 'TCP' }]);
    expect(podSpec(d).serviceAccountName).toBe('corp-master');
    expect((d.spec as any).template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8888',
    });
  });

  it('uses existing Secrets the spec names', () => {
    const v = podSpec(
      buildMasterDeployment(
        clusterRef({ master: { adminSecretRef: { name: 'ops-admin' }, syncTokenSecretRef: { name: 'tok' } } }),
      ),
    ).volumes;
    expect(v.find((x: { name: string }) => x.name === 'admin').secret.secretName).toBe('ops-admin');
    expect(v.find((x: { name: string }) => x.name === 'sync-token').secret.secretName).toBe('tok');
  });

  it('with PostgreSQL: the URL from the Secret in the environment, no claim, data on an emptyDir', () => {
    const c = clusterRef({ master: { postgres: { secretRef: { name: 'pg', key: 'dsn' } } } });
    const pd = buildMasterDeployment(c);
    expect(container(pd).env).toEqual([
      { name: 'SAFESQUID_POSTGRES_URL', valueFrom: { secretKeyRef: { name: 'pg', key: 'dsn' } } },
    ]);
    expect(podSpec(pd).volumes.find((v: { name: string }) => v.name === 'data')).toEqual({
      name: 'data',
      emptyDir: {},
    });
    expect(buildMasterPvc(c)).toBeUndefined();
    expect(masterArgs(c)).not.toContain('--postgres-url'); // the Secret stays out of the pod spec and `ps`
  });
});

describe('master PVC, Service, RBAC', () => {
  it('claims master.storage (10Gi by default, the storage class when given)', () => {
    expect(buildMasterPvc(clusterRef())!.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '10Gi' } },
    });
    expect(
      buildMasterPvc(clusterRef({ master: { storage: { size: '50Gi', storageClassName: 'fast' } } }))!.spec,
    ).toMatchObject({
      resources: { requests: { storage: '50Gi' } },
      storageClassName: 'fast',
    });
  });

  it('serves the portal port to the master pods and names the in-cluster URL', () => {
    const c = clusterRef({ master: { portalPort: 9443 } });
    expect(buildMasterService(c).spec).toMatchObject({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/instance': 'corp', 'app.kubernetes.io/component': 'master' },
      ports: [{ port: 9443, targetPort: 'portal' }],
    });
    expect(masterUrl(c)).toBe('http://corp-master.gw.svc:9443');
  });

  it('lets the master read and watch its own ConfigMap only', () => {
    const [sa, role, binding] = buildMasterRbac(clusterRef());
    expect(sa.kind).toBe('ServiceAccount');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['corp-policy'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(binding).toMatchObject({
      roleRef: { kind: 'Role', name: 'corp-master' },
      subjects: [{ kind: 'ServiceAccount', name: 'corp-master', namespace: 'gw' }],
    });
  });
});
