/**
 * Deployment `<name>-master`: one replica, `Recreate` (two masters must never share the SQLite
 * file), running `safesquid master` in Kubernetes mode: the policy ConfigMap is mounted (`--policy`,
 * enough to start while the API server is away) and watched through the API (`--kube-configmap`,
 * which sees a change at once instead of after the kubelet's volume sync). Reports go to SQLite
 * on `<name>-master-data`, or to PostgreSQL from the Secret `master.postgres.secretRef` names.
 */
import { BUNDLE_KEY } from './policy-configmap.js';
import { secretRefs } from './secrets.js';
import {
  childNames,
  containerSecurityContext,
  imagePullSecrets,
  metadata,
  labels,
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

export const MASTER_PATHS = {
  dataDir: '/var/lib/safesquid',
  policyDir: '/etc/safesquid/policy',
  syncTokenDir: '/var/run/safesquid/sync-token',
  adminDir: '/var/run/safesquid/admin',
} as const;

/** `safesquid master` arguments (the image's entrypoint is the `safesquid` CLI). */
export function masterArgs(cluster: ClusterRef): string[] {
  const { master, reports } = cluster.spec;
  const names = childNames(cluster.metadata.name);
  return [
    'master',
    '--listen',
    `:${master.portalPort}`,
    '--data-dir',
    `${MASTER_PATHS.dataDir}`,
    '--policy',
    `${MASTER_PATHS.policyDir}/${BUNDLE_KEY}`,
    '--kube-configmap',
    `${cluster.metadata.namespace}/${names.policyConfigMap}`,
    '--token-file',
    `${MASTER_PATHS.syncTokenDir}/token`,
    '--admin-token-file',
    `${MASTER_PATHS.adminDir}/token`,
    '--admin-password-file',
    `${MASTER_PATHS.adminDir}/password`,
    ...(master.allowList.length ? ['--allow', master.allowList.join(',')] : []),
    '--retention-days',
    `${reports.retentionDays}`,
  ];
}

export function buildMasterDeployment(cluster: ClusterRef): KubernetesObject {
  const { spec } = cluster;
  const { master } = spec;
  const name = cluster.metadata.name;
  const names = childNames(name);
  const secrets = secretRefs(cluster);
  const probe = (path: string, extra: Record<string, number>) => ({
    httpGet: { path, port: 'portal' },
    timeoutSeconds: 3,
    ...extra,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(cluster, names.master, 'master'),
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selectorLabels(name, 'master') },
      template: {
        metadata: { labels: labels(name, 'master'), annotations: scrapeAnnotations(master.portalPort) },
        spec: {
          serviceAccountName: names.master,
          // The master watches its ConfigMap through the API; its Role allows nothing else.
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          securityContext: podSecurityContext,
          terminationGracePeriodSeconds: 30,
          ...imagePullSecrets(spec),
          ...placement(master),
          containers: [
            {
              name: 'master',
              image: spec.image,
              imagePullPolicy: spec.imagePullPolicy,
              args: masterArgs(cluster),
              ports: [{ name: 'portal', containerPort: master.portalPort, protocol: 'TCP' }],
              env: master.postgres
                ? [
                    {
                      name: 'SAFESQUID_POSTGRES_URL',
                      valueFrom: {
                        secretKeyRef: {
                          name: master.postgres.secretRef.name,
                          key: master.postgres.secretRef.key ?? 'url',
                        },
                      },
                    },
                  ]
                : [],
              resources: master.resources,
              securityContext: containerSecurityContext,
              startupProbe: probe('/healthz', { periodSeconds: 2, failureThreshold: 90 }),
              readinessProbe: probe('/readyz', { periodSeconds: 5, failureThreshold: 2 }),
              livenessProbe: probe('/healthz', { periodSeconds: 10, failureThreshold: 3 }),
              volumeMounts: [
                { name: 'data', mountPath: MASTER_PATHS.dataDir },
                { name: 'policy', mountPath: MASTER_PATHS.policyDir, readOnly: true },
                { name: 'sync-token', mountPath: MASTER_PATHS.syncTokenDir, readOnly: true },
                { name: 'admin', mountPath: MASTER_PATHS.adminDir, readOnly: true },
                tmpMount,
              ],
            },
          ],
          volumes: [
            master.storage
              ? { name: 'data', persistentVolumeClaim: { claimName: names.masterData } }
              : { name: 'data', emptyDir: {} },
            {
              name: 'policy',
              configMap: { name: names.policyConfigMap, items: [{ key: BUNDLE_KEY, path: BUNDLE_KEY }] },
            },
            secretVolume('sync-token', secrets.syncToken.name, [{ key: secrets.syncToken.key, path: 'token' }]),
            secretVolume('admin', secrets.admin.name, [
              { key: secrets.admin.passwordKey, path: 'password' },
              { key: secrets.admin.tokenKey, path: 'token' },
            ]),
            tmpVolume,
          ],
        },
      },
    },
  };
}
