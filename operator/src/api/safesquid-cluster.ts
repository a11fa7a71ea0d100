/**
 * The SafeSquidCluster kind: one TypeBox schema is the CRD's openAPIV3Schema (through `crd.ts`),
 * the TypeScript types, the defaults (`applyClusterDefaults`) and the controller's validation.
 * It follows the structural-schema rules of `proxy/src/policy/schema.ts`: every node typed, string
 * enums, no `$ref`, maps as `additionalProperties` only. What one field cannot say about another is
 * a CEL rule (`x-kubernetes-validations`) with a message for the person who wrote the manifest.
 *
 * Defaults work as the API server applies them: a missing field with a `default` gets it, and a
 * defaulted object gets its own fields' defaults in turn (`master`, `slaves`, `reports` default to
 * `{}` so their fields fill in). `master.storage` and `slaves.spool` have no default on purpose:
 * their absence means something (PostgreSQL possible; spool on an emptyDir).
 */
import { Type, type Static } from '@sinclair/typebox';
import { OpenObject, Quantity, QuantityMap, StringEnum, StringMap, withRules } from './schema-kinds.js';

export const API_GROUP = 'safesquid.io';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}` as const;

const Port = (description: string, defaultPort: number) =>
  Type.Integer({ minimum: 1, maximum: 65535, default: defaultPort, description });

const Cidrs = (description: string, options: { default?: string[]; minItems?: number } = {}) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { ...options, maxItems: 256, description });

const SecretName = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
  description: 'Secret name.',
});

/** A Secret in the cluster's namespace whose keys are fixed by its use. */
const SecretRef = (description: string) => Type.Object({ name: SecretName }, { description });

/** A Secret in the cluster's namespace and the key that holds the value. */
const SecretKeyRef = (description: string, defaultKey: string) =>
  Type.Object(
    {
      name: SecretName,
      key: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 253,
          default: defaultKey,
          description: `Key in the Secret (default ${defaultKey}).`,
        }),
      ),
    },
    { description },
  );

const ResourceList = (description: string) => QuantityMap({ description });

/** corev1.ResourceRequirements, requests and limits only. */
const Resources = (defaults: { requests: Record<string, string>; limits: Record<string, string> }, who: string) =>
  Type.Object(
    {
      requests: Type.Optional(ResourceList('Minimum guaranteed (cpu, memory, ephemeral-storage).')),
      limits: Type.Optional(ResourceList('Maximum allowed.')),
    },
    {
      default: defaults,
      description: `Resource requests and limits of the ${who} container; the default applies only when the whole field is omitted.`,
    },
  );

const ImagePullPolicy = StringEnum(['Always', 'IfNotPresent', 'Never'] as const, {
  default: 'IfNotPresent',
  description: 'When the kubelet pulls the image.',
});

const Toleration = Type.Object({
  key: Type.Optional(Type.String({ maxLength: 317 })),
  operator: Type.Optional(StringEnum(['Exists', 'Equal'] as const, { default: 'Equal' })),
  value: Type.Optional(Type.String({ maxLength: 63 })),
  effect: Type.Optional(StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const)),
  tolerationSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
});

const placement = (who: string) => ({
  nodeSelector: Type.Optional(StringMap({ description: `Node labels the ${who} pods must be scheduled on.` })),
  tolerations: Type.Optional(Type.Array(Toleration, { maxItems: 32, description: `Taints the ${who} pods tolerate.` })),
  affinity: Type.Optional(
    OpenObject({
      description: `A corev1.Affinity for the ${who} pods (nodeAffinity, podAffinity, podAntiAffinity), checked by the API server when the pods' workload is applied.`,
    }),
  ),
});

const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(StringMap()),
    matchExpressions: Type.Optional(
      Type.Array(
        Type.Object({
          key: Type.String({ minLength: 1, maxLength: 317 }),
          operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const),
          values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
        }),
        { maxItems: 32 },
      ),
    ),
  },
  {
    description:
      'Selects the PolicySets of this namespace that make up the policy; `{}` selects every PolicySet in the namespace.',
  },
);

const MasterStorage = Type.Object(
  {
    size: Type.Optional(
      Quantity({
        default: '10Gi',
        description: 'Size of the PersistentVolumeClaim holding the SQLite report database and policy store.',
      }),
    ),
    storageClassName: Type.Optional(
      Type.String({ minLength: 1, maxLength: 253, description: 'StorageClass; the cluster default when omitted.' }),
    ),
  },
  { description: 'SQLite on a volume (the default: a 10Gi claim when neither storage nor postgres is set).' },
);

const Master = withRules(
  Type.Object(
    {
      portalPort: Type.Optional(
        Port('Port of the Configuration Portal (API, web UI, /metrics, /healthz, /readyz).', 8888),
      ),
      allowList: Type.Optional(
        Cidrs(
          'Client CIDRs allowed to call the portal (the master refuses others), also opened by the NetworkPolicy. Slave pods are always let through the NetworkPolicy, but their pod network must be in this list too.',
          {
            minItems: 1,
            default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '::1/128', 'fc00::/7'],
          },
        ),
      ),
      storage: Type.Optional(MasterStorage),
      postgres: Type.Optional(
        Type.Object(
          {
            secretRef: SecretKeyRef(
              'Secret holding the PostgreSQL connection URL (postgres://user:pass@host:5432/db).',
              'url',
            ),
          },
          { description: 'Store reports in PostgreSQL instead of SQLite; exclusive with storage.' },
        ),
      ),
      adminSecretRef: Type.Optional(
        SecretRef(
          'An existing Secret with keys `password` (web UI admin) and `token` (API bearer token); generated as <name>-admin when omitted.',
        ),
      ),
      syncTokenSecretRef: Type.Optional(
        SecretRef(
          'An existing Secret with key `token`, the cluster token slaves present; generated as <name>-sync-token when omitted.',
        ),
      ),
      resources: Type.Optional(
        Resources({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } }, 'master'),
      ),
      ...placement('master'),
    },
    { default: {}, description: 'The master: Configuration Portal, slave registry, unified reports.' },
  ),
  [
    {
      rule: '!(has(self.storage) && has(self.postgres))',
      message: 'master.storage (SQLite on a volume) and master.postgres are exclusive: set one of them',
      reason: 'FieldValueForbidden',
    },
  ],
);

const SlaveService = Type.Object(
  {
    type: Type.Optional(
      StringEnum(['ClusterIP', 'NodePort', 'LoadBalancer'] as const, {
        default: 'LoadBalancer',
        description: 'Type of the <name>-proxy Service clients connect to.',
      }),
    ),
    annotations: Type.Optional(
      StringMap({ description: 'Annotations of the <name>-proxy Service (cloud load-balancer settings).' }),
    ),
    loadBalancerSourceRanges: Type.Optional(
      Cidrs('Client CIDRs a LoadBalancer accepts (where the cloud supports it).'),
    ),
    externalTrafficPolicy: Type.Optional(
      StringEnum(['Cluster', 'Local'] as const, {
        description: '`Local` keeps the client address for NodePort and LoadBalancer Services.',
      }),
    ),
  },
  { default: {}, description: 'The Service clients connect to.' },
);

const Spool = Type.Object(
  {
    size: Type.Optional(
      Quantity({ default: '1Gi', description: "Size of each slave's volume (last good policy and the report spool)." }),
    ),
    storageClassName: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    retainOnDelete: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'Keep the spool claims when the SafeSquidCluster is deleted or scaled down (undelivered reports survive).',
      }),
    ),
  },
  { description: 'A volume per slave (volumeClaimTemplate); an emptyDir when omitted, lost with the pod.' },
);

/**
 * How fast the autoscaler removes slaves (the HPA's behavior.scaleDown). Slow by default: each slave
 * leaving drains its connections and ships its report spool, and a dip in load should not cost a
 * slave that the next peak needs again.
 */
const ScaleDown = Type.Object(
  {
    stabilizationWindowSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3600,
        default: 300,
        description:
          'The autoscaler removes slaves only down to the highest count it recommended over this many seconds.',
      }),
    ),
    podsPerMinute: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 1,
        description: 'At most this many slaves removed per minute.',
      }),
    ),
  },
  { default: {}, description: 'Scale-down pace of the autoscaler; ignored under a fixed `replicas`.' },
);

const Slaves = withRules(
  Type.Object(
    {
      replicas: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 1000,
          description:
            'A fixed slave count: when set there is no HorizontalPodAutoscaler and minReplicas/maxReplicas/targetCPUUtilizationPercentage/scaleDown are ignored. ' +
            'Omit it to autoscale.',
        }),
      ),
      minReplicas: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 2,
          description: 'Autoscaling lower bound; `kubectl scale ssc NAME --replicas N` sets it.',
        }),
      ),
      maxReplicas: Type.Optional(
        Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Autoscaling upper bound.' }),
      ),
      targetCPUUtilizationPercentage: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: 100,
          default: 70,
          description: 'Average CPU use (of requests) the autoscaler aims at.',
        }),
      ),
      scaleDown: Type.Optional(ScaleDown),
      proxyPort: Type.Optional(Port('Forward proxy port (HTTP and CONNECT).', 3128)),
      metricsPort: Type.Optional(Port('Port of /metrics, /healthz and /readyz.', 9090)),
      service: Type.Optional(SlaveService),
      spool: Type.Optional(Spool),
      drainDelaySeconds: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 300,
          default: 5,
          description:
            'On shutdown a slave answers /readyz with 503 and keeps serving this long, so endpoints and load balancers drop it first.',
        }),
      ),
      shutdownGraceSeconds: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 25,
          description: 'Then the time in-flight requests and tunnels get to finish.',
        }),
      ),
      resources: Type.Optional(
        Resources({ requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } }, 'slave'),
      ),
      podDisruptionBudget: Type.Optional(
        Type.Object(
          {
            maxUnavailable: Type.Optional(
              Type.Integer({
                minimum: 0,
                default: 1,
                description: 'Slaves that voluntary disruptions (node drains) may take down at once.',
              }),
            ),
          },
          { default: {} },
        ),
      ),
      ...placement('slave'),
    },
    { default: {}, description: 'The slaves: forward proxies that enforce the policy and report every request.' },
  ),
  [
    // has(): the API server also checks these rules against the bare `default: {}` of `slaves`.
    {
      rule: '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas',
      message: 'slaves.minReplicas must not exceed slaves.maxReplicas',
      fieldPath: '.minReplicas',
    },
    {
      rule: '!has(self.proxyPort) || !has(self.metricsPort) || self.proxyPort != self.metricsPort',
      message: 'slaves.proxyPort and slaves.metricsPort must differ (both listen on the slave pod)',
      fieldPath: '.metricsPort',
    },
  ],
);

const Ldap = Type.Object(
  {
    url: Type.String({
      pattern: '^ldaps?://[^\\s]+$',
      maxLength: 2048,
      description: 'ldap://host:port or ldaps://host:port.',
    }),
    bindDN: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'Direct bind DN template, e.g. uid={user},ou=people,dc=example,dc=org.',
      }),
    ),
    searchBase: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'Or search the user under this DN, then bind as the entry found.',
      }),
    ),
    searchFilter: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'User search filter (default (uid={user})).' }),
    ),
    serviceDN: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'Bind as this account to search.' }),
    ),
    servicePasswordSecretRef: Type.Optional(SecretKeyRef('Password of serviceDN.', 'password')),
    groupAttribute: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'User attribute listing group DNs (e.g. memberOf).' }),
    ),
    groupBase: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    groupFilter: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    groupNameAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    caSecretRef: Type.Optional(SecretKeyRef('CA certificate (PEM) for ldaps:// or startTLS.', 'ca.crt')),
    startTLS: Type.Optional(Type.Boolean()),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 120, default: 5 })),
  },
  { description: 'Proxy users checked by an LDAP bind.' },
);

const Auth = withRules(
  Type.Object(
    {
      basic: Type.Optional(
        Type.Object(
          {
            secretRef: SecretKeyRef(
              'Secret whose key holds the users file: "user:hash[:group1,group2]" lines (bcrypt or argon2); changes are picked up without restarts.',
              'users',
            ),
          },
          { description: 'Proxy users from a Secret.' },
        ),
      ),
      ldap: Type.Optional(
        withRules(Ldap, [
          {
            rule: 'has(self.bindDN) != has(self.searchBase)',
            message: 'auth.ldap needs exactly one of bindDN (direct bind) and searchBase (search, then bind)',
          },
          {
            rule: 'has(self.serviceDN) == has(self.servicePasswordSecretRef)',
            message: 'auth.ldap.serviceDN and auth.ldap.servicePasswordSecretRef go together',
          },
        ]),
      ),
      realm: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 256,
          default: 'SafeSquid',
          description: 'Realm shown in Proxy-Authenticate.',
        }),
      ),
      cacheTTLSeconds: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 86400,
          default: 60,
          description: 'How long a successful check is reused.',
        }),
      ),
    },
    { description: 'Proxy authentication (Basic); none when neither basic nor ldap is set.' },
  ),
  [
    {
      rule: '!(has(self.basic) && has(self.ldap))',
      message: 'auth.basic and auth.ldap are exclusive: set one of them',
      reason: 'FieldValueForbidden',
    },
  ],
);

export const safeSquidClusterSpecSchema = Type.Object(
  {
    image: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        default: 'safesquid/proxy:0.1.0',
        description: 'The safesquid/proxy image (both roles).',
      }),
    ),
    imagePullPolicy: Type.Optional(ImagePullPolicy),
    imagePullSecrets: Type.Optional(
      Type.Array(Type.Object({ name: Type.String({ minLength: 1, maxLength: 253 }) }), { maxItems: 16 }),
    ),
    policySelector: LabelSelector,
    master: Type.Optional(Master),
    slaves: Type.Optional(Slaves),
    auth: Type.Optional(Auth),
    reports: Type.Optional(
      Type.Object(
        {
          retentionDays: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 3650,
              default: 90,
              description: 'Access records older than this are deleted.',
            }),
          ),
        },
        { default: {} },
      ),
    ),
  },
  {
    description:
      'A SafeSquid gateway: one master and autoscaled slaves enforcing the PolicySets policySelector selects.',
  },
);

const Condition = Type.Object(
  {
    type: Type.String({
      minLength: 1,
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: StringEnum(['True', 'False', 'Unknown'] as const),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    lastTransitionTime: Type.String({ format: 'date-time' }),
    reason: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: Type.String({ maxLength: 32768 }),
  },
  { description: 'metav1.Condition.' },
);

/** Conditions as a list map keyed by type, so server-side apply of status merges them by type. */
export const conditionsSchema = Type.Unsafe<Static<typeof Condition>[]>({
  ...Type.Array(Condition, { maxItems: 16 }),
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});
export type Condition = Static<typeof Condition>;

export const CLUSTER_CONDITIONS = ['Ready', 'MasterAvailable', 'SlavesAvailable', 'PolicySynced', 'Degraded'] as const;
export type ClusterConditionType = (typeof CLUSTER_CONDITIONS)[number];

export const safeSquidClusterStatusSchema = Type.Object({
  observedGeneration: Type.Optional(
    Type.Integer({ minimum: 0, format: 'int64', description: 'The generation this status describes.' }),
  ),
  policyHash: Type.Optional(Type.String({ description: 'Hash of the bundle in the <name>-policy ConfigMap.' })),
  policyHashShort: Type.Optional(
    Type.String({ description: 'The first 12 hex digits of policyHash, for `kubectl get`.' }),
  ),
  slaves: Type.Optional(
    Type.Object({
      desired: Type.Integer({
        minimum: 0,
        description: 'Slaves the StatefulSet wants (set by the HPA or slaves.replicas).',
      }),
      ready: Type.Integer({ minimum: 0, description: 'Slave pods Ready.' }),
      synced: Type.Integer({ minimum: 0, description: 'Ready slaves the master reports enforcing policyHash.' }),
      summary: Type.Optional(Type.String({ description: '"ready/desired", for `kubectl get`.' })),
    }),
  ),
  replicas: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: "Slave pods that exist (the StatefulSet's status.replicas): the scale subresource's count.",
    }),
  ),
  selector: Type.Optional(Type.String({ description: 'Label selector of the slave pods, for the scale subresource.' })),
  masterURL: Type.Optional(Type.String({ description: 'In-cluster URL of the Configuration Portal.' })),
  proxyEndpoint: Type.Optional(
    Type.String({
      description:
        "host:port clients use: the load balancer address when it has one, else the Service's cluster address.",
    }),
  ),
  conditions: Type.Optional(conditionsSchema),
});

export type SafeSquidClusterSpec = Static<typeof safeSquidClusterSpecSchema>;
export type SafeSquidClusterStatus = Static<typeof safeSquidClusterStatusSchema>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface SafeSquidCluster {
  apiVersion: typeof GROUP_VERSION;
  kind: 'SafeSquidCluster';
  metadata: ObjectMeta;
  spec: SafeSquidClusterSpec;
  status?: SafeSquidClusterStatus;
}

/** `sha256:0123456789abcdef…` → `0123456789ab`: `status.policyHashShort`, what `kubectl get ssc` shows. */
export function shortPolicyHash(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 12);
}
