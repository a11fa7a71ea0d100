/**
 * StatefulSet `<name>-slave`: the forward proxies. Each slave gets its policy from the master
 * (long-poll) and keeps the last good bundle and its report spool in `--state-dir`: a volume per
 * slave from `slaves.spool` (a volumeClaimTemplate, so undelivered reports survive a restart), or
 * an emptyDir when unset. With an autoscaler (`slaves.replicas` unset) `spec.replicas` is left out
 * of the applied object, so server-side apply never takes the count from the HPA.
 *
 * Shutdown: the slave first answers /readyz with 503 for `drainDelaySeconds` while still serving,
 * then gives in-flight requests `shutdownGraceSeconds`; the pod's grace period covers both.
 */
import { secretRefs } from './secrets.js';
import { masterUrl } from './master-service.js';
import {
  childNames,
  containerSecurityContext,
  imagePullSecrets,
  labels,
  metadata,
  placement,
  podSecurityContext,
  scrapeAnnotations,
  secretVolume,
  selectorLabels,
  tmpMount,
  tmpVolume,
  type ClusterRef,
  type KubernetesObject,
} from './common.js';

export const SLAVE_PATHS = {
  stateDir: '/var/lib/safesquid',
  syncTokenDir: '/var/run/safesquid/sync-token',
  usersDir: '/var/run/safesquid/users',
  ldapDir: '/var/run/safesquid/ldap',
} as const;

/** Seconds beyond drain and grace for the process to exit before SIGKILL. */
const EXIT_MARGIN_SECONDS = 5;

/** The autoscaler owns the slave count unless the spec fixes it. */
export function autoscaled(cluster: ClusterRef): boolean {
  return cluster.spec.slaves.replicas === undefined;
}

function authArgs(cluster: ClusterRef): string[] {
  const auth = cluster.spec.auth;
  if (!auth || (!auth.basic && !auth.ldap)) return [];
  const common = ['--auth-realm', auth.realm, '--auth-cache-ttl', String(auth.cacheTTLSeconds)];
  if (auth.basic) return ['--auth-users', `${SLAVE_PATHS.usersDir}/users`, ...common];
  const ldap = auth.ldap!;
  const opt = (flag: string, value: string | undefined) => (value === undefined ? [] : [flag, value]);
  return [
    '--auth-ldap-url',
    ldap.url,
    ...opt('--auth-ldap-bind-dn', ldap.bindDN),
    ...opt('--auth-ldap-search-base', ldap.searchBase),
    ...opt('--auth-ldap-search-filter', ldap.searchFilter),
    ...opt('--auth-ldap-service-dn', ldap.serviceDN),
    ...(ldap.servicePasswordSecretRef ? ['--auth-ldap-service-password-file', `${SLAVE_PATHS.ldapDir}/password`] : []),
    ...opt('--auth-ldap-group-attribute', ldap.groupAttribute),
    ...opt('--auth-ldap-group-base', ldap.groupBase),
    ...opt('--auth-ldap-group-filter', ldap.groupFilter),
    ...opt('--auth-ldap-group-name-attribute', ldap.groupNameAttribute),
    ...(ldap.caSecretRef ? ['--auth-ldap-ca-file', `${SLAVE_PATHS.ldapDir}/ca.crt`] : []),
    ...(ldap.startTLS ? ['--auth-ldap-starttls'] : []),
    ...opt('--auth-ldap-timeout', ldap.timeoutSeconds === undefined ? undefined : String(ldap.timeoutSeconds)),
    ...common,
  ];
}

/** `safesquid slave` arguments (the image's entrypoint is the `safesquid` CLI); the pod name is the slave name. */
export function slaveArgs(cluster: ClusterRef): string[] {
  const { slaves } = cluster.spec;
  return [
    'slave',
    '--listen',
    `:${slaves.proxyPort}`,
    '--metrics-listen',
    `:${slaves.metricsPort}`,
    '--master',
    masterUrl(cluster),
    '--token-file',
    `${SLAVE_PATHS.syncTokenDir}/token`,
    '--state-dir',
    SLAVE_PATHS.stateDir,
    '--drain-delay',
    String(slaves.drainDelaySeconds * 1000),
    '--shutdown-grace',
    String(slaves.shutdownGraceSeconds * 1000),
    ...authArgs(cluster),
  ];
}

function authVolumes(cluster: ClusterRef): { volumes: object[]; mounts: object[] } {
  const auth = cluster.spec.auth;
  if (auth?.basic) {
    const ref = auth.basic.secretRef;
    return {
      volumes: [secretVolume('users', ref.name, [{ key: ref.key ?? 'users', path: 'users' }])],
      mounts: [{ name: 'users', mountPath: SLAVE_PATHS.usersDir, readOnly: true }],
    };
  }
  const ldap = auth?.ldap;
  if (!ldap || (!ldap.servicePasswordSecretRef && !ldap.caSecretRef)) return { volumes: [], mounts: [] };
  // One projected volume: both files land in one directory even when they come from two Secrets.
  const sources = [
    ...(ldap.servicePasswordSecretRef
      ? [
          {
            secret: {
              name: ldap.servicePasswordSecretRef.name,
              items: [{ key: ldap.servicePasswordSecretRef.key ?? 'password', path: 'password' }],
            },
          },
        ]
      : []),
    ...(ldap.caSecretRef
      ? [
          {
            secret: { name: ldap.caSecretRef.name, items: [{ key: ldap.caSecretRef.key ?? 'ca.crt', path: 'ca.crt' }] },
          },
        ]
      : []),
  ];
  return {
    volumes: [{ name: 'ldap', projected: { sources, defaultMode: 0o440 } }],
    mounts: [{ name: 'ldap', mountPath: SLAVE_PATHS.ldapDir, readOnly: true }],
  };
}

export function buildSlaveStatefulSet(cluster: ClusterRef): KubernetesObject {
  const { spec } = cluster;
  const { slaves } = spec;
  const name = cluster.metadata.name;
  const names = childNames(name);
  const secrets = secretRefs(cluster);
  const auth = authVolumes(cluster);
  const spool = slaves.spool;
  const probe = (path: string, extra: Record<string, number>) => ({
    httpGet: { path, port: 'metrics' },
    timeoutSeconds: 2,
    ...extra,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: metadata(cluster, names.slave, 'slave'),
    spec: {
      ...(autoscaled(cluster) ? {} : { replicas: slaves.replicas }),
      serviceName: names.slave,
      // Slaves are interchangeable: start and stop them together, not one by one.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: selectorLabels(name, 'slave') },
      ...(spool
        ? {
            persistentVolumeClaimRetentionPolicy: spool.retainOnDelete
              ? { whenDeleted: 'Retain', whenScaled: 'Retain' }
              : { whenDeleted: 'Delete', whenScaled: 'Delete' },
            volumeClaimTemplates: [
              {
                metadata: { name: 'state', labels: labels(name, 'slave') },
                spec: {
                  accessModes: ['ReadWriteOnce'],
                  resources: { requests: { storage: String(spool.size) } },
                  ...(spool.storageClassName ? { storageClassName: spool.storageClassName } : {}),
                },
              },
            ],
          }
        : {}),
      template: {
        metadata: { labels: labels(name, 'slave'), annotations: scrapeAnnotations(slaves.metricsPort) },
        spec: {
          // Slaves need no Kubernetes API access.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurityContext,
          terminationGracePeriodSeconds: slaves.drainDelaySeconds + slaves.shutdownGraceSeconds + EXIT_MARGIN_SECONDS,
          ...imagePullSecrets(spec),
          ...placement(slaves),
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selectorLabels(name, 'slave') },
            },
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: selectorLabels(name, 'slave') },
            },
          ],
          containers: [
            {
              name: 'slave',
              image: spec.image,
              imagePullPolicy: spec.imagePullPolicy,
              args: slaveArgs(cluster),
              ports: [
                { name: 'proxy', containerPort: slaves.proxyPort, protocol: 'TCP' },
                { name: 'metrics', containerPort: slaves.metricsPort, protocol: 'TCP' },
              ],
              resources: slaves.resources,
              securityContext: containerSecurityContext,
              startupProbe: probe('/healthz', { periodSeconds: 2, failureThreshold: 30 }),
              readinessProbe: probe('/readyz', { periodSeconds: 5, failureThreshold: 2 }),
              livenessProbe: probe('/healthz', { periodSeconds: 10, failureThreshold: 3 }),
              volumeMounts: [
                { name: 'state', mountPath: SLAVE_PATHS.stateDir },
                { name: 'sync-token', mountPath: SLAVE_PATHS.syncTokenDir, readOnly: true },
                ...auth.mounts,
                tmpMount,
              ],
            },
          ],
          volumes: [
            ...(spool ? [] : [{ name: 'state', emptyDir: {} }]),
            secretVolume('sync-token', secrets.syncToken.name, [{ key: secrets.syncToken.key, path: 'token' }]),
            ...auth.volumes,
            tmpVolume,
          ],
        },
      },
    },
  };
}
