import { buildSlaveStatefulSet } from './slave-statefulset.js';
import { clusterRef, container, flag, podSpec } from './test-fixture.js';

describe('slave StatefulSet', () => {
  const s = buildSlaveStatefulSet(clusterRef({ slaves: { drainDelaySeconds: 7, shutdownGraceSeconds: 20 } }));

  it('leaves spec.replicas to the HPA by default, and sets it for a fixed count', () => {
    expect(s.spec).not.toHaveProperty('replicas');
    expect(buildSlaveStatefulSet(clusterRef({ slaves: { replicas: 4 } })).spec).toMatchObject({ replicas: 4 });
    expect(buildSlaveStatefulSet(clusterRef({ slaves: { replicas: 0 } })).spec).toMatchObject({ replicas: 0 });
  });

  it.each([
    ['--listen', ':3128'],
    ['--metrics-listen', ':9090'],
    ['--master', 'http://corp-master.gw.svc:8888'],
    ['--token-file', '/var/run/safesquid/sync-token/token'],
    ['--state-dir', '/var/lib/safesquid'],
    ['--drain-delay', '7000'],
    ['--shutdown-grace', '20000'],
  ])('passes %s %s', (name, value) => {
    expect(container(s).args[0]).toBe('slave');
    expect(flag(container(s).args, name)).toBe(value);
  });

  it('gives the pod time to drain and finish requests before SIGKILL', () => {
    expect(podSpec(s).terminationGracePeriodSeconds).toBeGreaterThanOrEqual(7 + 20);
  });

  it('probes /readyz and /healthz on the metrics port and spreads slaves over nodes', () => {
    expect(container(s).readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container(s).livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container(s).ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort])).toEqual([
      ['proxy', 3128],
      ['metrics', 9090],
    ]);
    expect(podSpec(s).topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toContain(
      'kubernetes.io/hostname',
    );
    expect(podSpec(s).automountServiceAccountToken).toBe(false);
    expect((s.spec as any).template.metadata.annotations['prometheus.io/port']).toBe('9090');
  });

  it('keeps state on an emptyDir without slaves.spool', () => {
    expect(s.spec).not.toHaveProperty('volumeClaimTemplates');
    expect(podSpec(s).volumes).toContainEqual({ name: 'state', emptyDir: {} });
  });

  it.each([
    [{}, 'Retain'],
    [{ retainOnDelete: true }, 'Retain'],
    [{ retainOnDelete: false }, 'Delete'],
  ])('with spool %p: a claim per slave, kept per retainOnDelete (%s)', (spool, policy) => {
    const st = buildSlaveStatefulSet(clusterRef({ slaves: { spool: { ...spool, storageClassName: 'ssd' } } }));
    expect((st.spec as any).volumeClaimTemplates[0]).toMatchObject({
      metadata: { name: 'state' },
      spec: { resources: { requests: { storage: '1Gi' } }, storageClassName: 'ssd' },
    });
    expect((st.spec as any).persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: policy, whenScaled: policy });
    expect(podSpec(st).volumes.map((v: { name: string }) => v.name)).not.toContain('state');
  });

  it('mounts the users Secret of auth.basic as a file the slave reloads (no subPath)', () => {
    const st = buildSlaveStatefulSet(
      clusterRef({ auth: { basic: { secretRef: { name: 'proxy-users' } }, realm: 'Corp' } }),
    );
    const args = container(st).args;
    expect(flag(args, '--auth-users')).toBe('/var/run/safesquid/users/users');
    expect(flag(args, '--auth-realm')).toBe('Corp');
    expect(flag(args, '--auth-cache-ttl')).toBe('60');
    expect(podSpec(st).volumes).toContainEqual(
      expect.objectContaining({
        name: 'users',
        secret: expect.objectContaining({ secretName: 'proxy-users', items: [{ key: 'users', path: 'users' }] }),
      }),
    );
    const mount = container(st).volumeMounts.find((m: { name: string }) => m.name === 'users');
    expect(mount).toEqual({ name: 'users', mountPath: '/var/run/safesquid/users', readOnly: true });
  });

  it('passes LDAP settings as --auth-ldap-* flags with the secrets as files', () => {
    const st = buildSlaveStatefulSet(
      clusterRef({
        auth: {
          ldap: {
            url: 'ldaps://ldap.corp:636',
            searchBase: 'ou=people,dc=corp',
            serviceDN: 'cn=svc,dc=corp',
            servicePasswordSecretRef: { name: 'ldap-svc' },
            caSecretRef: { name: 'ldap-ca' },
            startTLS: false,
          },
        },
      }),
    );
    const args = container(st).args;
    expect(flag(args, '--auth-ldap-url')).toBe('ldaps://ldap.corp:636');
    expect(flag(args, '--auth-ldap-search-base')).toBe('ou=people,dc=corp');
    expect(flag(args, '--auth-ldap-service-password-file')).toBe('/var/run/safesquid/ldap/password');
    expect(flag(args, '--auth-ldap-ca-file')).toBe('/var/run/safesquid/ldap/ca.crt');
    expect(args).not.toContain('--auth-ldap-starttls');
    expect(args).not.toContain('--auth-users');
    const ldap = podSpec(st).volumes.find((v: { name: string }) => v.name === 'ldap');
    expect(ldap.projected.sources.map((s: { secret: { name: string } }) => s.secret.name)).toEqual([
      'ldap-svc',
      'ldap-ca',
    ]);
  });

  it('runs without authentication flags when auth is unset', () => {
    expect(container(s).args.filter((a: string) => a.startsWith('--auth-'))).toEqual([]);
  });
});
