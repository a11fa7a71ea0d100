// The CRDs of crds/ on the real API server: they install and become Established, the samples
// apply, `kubectl get ssc,pset` prints our columns, the schema and CEL refuse bad objects with a
// message naming the field, the server's defaults are exactly `applyClusterDefaults`, and every
// child the resource builders produce is accepted by the API server (strict field validation).
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createNamespace, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { applyClusterDefaults, type SafeSquidClusterSpec } from '../../operator/src/api/index.js';
import { buildClusterChildren, slaveSelector } from '../../operator/src/resources/index.js';
import { compilePolicyBundle } from '../../proxy/src/policy/index.js';
import { installCrds, REPO } from './operator-process.js';

jest.setTimeout(120_000);

let ns: string;

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('crds');
});

afterAll(async () => {
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const manifest = (kind: 'SafeSquidCluster' | 'PolicySet', name: string, spec: unknown) =>
  stringify({ apiVersion: 'safesquid.io/v1alpha1', kind, metadata: { name, namespace: ns }, spec });

test('both CRDs are Established with their short names and the safesquid category', async () => {
  for (const [crd, short] of [
    ['safesquidclusters.safesquid.io', 'ssc'],
    ['policysets.safesquid.io', 'pset'],
  ]) {
    const obj = await getJson(['crd', crd]);
    expect(obj.status.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'Established', status: 'True' })]),
    );
    expect(obj.spec.names.shortNames).toEqual([short]);
  }
  const res = await kubectlOk(['api-resources', '--api-group=safesquid.io', '--categories=safesquid', '-o', 'name']);
  expect(res.split('\n').filter(Boolean).sort()).toEqual(['policysets.safesquid.io', 'safesquidclusters.safesquid.io']);
});

test('the samples apply, and kubectl get ssc,pset prints the columns', async () => {
  await kubectlOk(['apply', '-n', ns, '-k', join(REPO, 'deploy/samples')]);
  const ssc = await kubectlOk(['get', '-n', ns, 'ssc']);
  expect(ssc.split('\n')[0].split(/\s+/).filter(Boolean)).toEqual(['NAME', 'READY', 'SLAVES', 'POLICY', 'AGE']);
  expect(ssc).toMatch(/^corp\s/m);
  const pset = await kubectlOk(['get', '-n', ns, 'pset']);
  expect(pset.split('\n')[0].split(/\s+/).filter(Boolean)).toEqual(['NAME', 'PRIORITY', 'VALID', 'CLUSTERS', 'AGE']);
  expect(pset).toMatch(/^corp-baseline\s+100\s/m);
  expect(pset).toMatch(/^corp-downloads\s+50\s/m);
  const both = await kubectlOk(['get', '-n', ns, 'ssc,pset', '-o', 'name']);
  expect(both.split('\n').filter(Boolean).sort()).toEqual([
    'policyset.safesquid.io/corp-baseline',
    'policyset.safesquid.io/corp-downloads',
    'safesquidcluster.safesquid.io/corp',
  ]);
  const all = await kubectlOk(['get', '-n', ns, 'safesquid', '-o', 'name']);
  expect(all.split('\n').filter(Boolean)).toHaveLength(3);
});

test('status columns and the scale subresource read what the status says', async () => {
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    manifest('SafeSquidCluster', 'columns', { policySelector: { matchLabels: { gateway: 'none' } } }),
  );
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    manifest('PolicySet', 'columns', { rules: [{ name: 'all', action: 'allow' }] }),
  );
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const condition = (type: string, status: string) => ({
    type,
    status,
    reason: 'Test',
    message: 'set by the test',
    lastTransitionTime: now,
  });
  const sscStatus = {
    observedGeneration: 1,
    policyHash: 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    policyHashShort: '0123456789ab',
    slaves: { desired: 3, ready: 2, synced: 2, summary: '2/3' },
    replicas: 3,
    selector: slaveSelector('columns'),
    masterURL: `http://columns-master.${ns}.svc:8888`,
    proxyEndpoint: '192.0.2.10:3128',
    conditions: [
      condition('Ready', 'False'),
      condition('MasterAvailable', 'True'),
      condition('SlavesAvailable', 'True'),
      condition('PolicySynced', 'True'),
      condition('Degraded', 'True'),
    ],
  };
  await kubectlOk([
    'patch',
    '-n',
    ns,
    'ssc',
    'columns',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: sscStatus }),
  ]);
  await kubectlOk([
    'patch',
    '-n',
    ns,
    'pset',
    'columns',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: { hash: sscStatus.policyHash, clusters: ['columns', 'other'], conditions: [condition('Valid', 'True')] },
    }),
  ]);

  // Status is kept as written (the schema prunes nothing of it).
  expect((await getJson(['-n', ns, 'ssc', 'columns'])).status).toEqual(sscStatus);
  expect(await kubectlOk(['get', '-n', ns, 'ssc', 'columns', '--no-headers'])).toMatch(
    /^columns\s+False\s+2\/3\s+0123456789ab\s+\S+\s*$/,
  );
  expect(await kubectlOk(['get', '-n', ns, 'ssc', 'columns', '-o', 'wide', '--no-headers'])).toMatch(
    /^columns\s+False\s+2\/3\s+2\s+0123456789ab\s+192\.0\.2\.10:3128\s/,
  );
  expect(await kubectlOk(['get', '-n', ns, 'pset', 'columns', '--no-headers'])).toMatch(
    /^columns\s+100\s+True\s+\S*columns\S*other\S*\s+\S+\s*$/,
  );

  // The scale subresource: the autoscaler's floor on the spec side, slave pods and their selector on the status side.
  const scale = await getJson(['-n', ns, 'ssc', 'columns', '--subresource=scale']);
  expect(scale.spec).toEqual({ replicas: 2 });
  expect(scale.status).toEqual({ replicas: 3, selector: slaveSelector('columns') });
  await kubectlOk(['scale', '-n', ns, 'ssc', 'columns', '--replicas=4']);
  expect((await getJson(['-n', ns, 'ssc', 'columns'])).spec.slaves).toMatchObject({ minReplicas: 4, maxReplicas: 10 });
  const tooMany = await kubectl(['scale', '-n', ns, 'ssc', 'columns', '--replicas=11']);
  expect(tooMany.code).not.toBe(0);
  expect(tooMany.stderr).toContain('slaves.minReplicas must not exceed slaves.maxReplicas');
});

test('the API server applies exactly the defaults applyClusterDefaults computes', async () => {
  const specs: [string, SafeSquidClusterSpec][] = [
    ['minimal', { policySelector: {} }],
    [
      'partial',
      {
        policySelector: { matchLabels: { a: 'b' } },
        slaves: { spool: {}, resources: { requests: { cpu: '1' } }, tolerations: [{ key: 'k' }] },
        auth: { basic: { secretRef: { name: 'u' } } },
      },
    ],
    ['postgres', { policySelector: {}, master: { postgres: { secretRef: { name: 'pg' } } }, slaves: { replicas: 2 } }],
  ];
  for (const [name, spec] of specs) {
    await kubectlOk(['apply', '-n', ns, '-f', '-'], manifest('SafeSquidCluster', `defaults-${name}`, spec));
    const stored = (await getJson(['-n', ns, 'ssc', `defaults-${name}`])).spec;
    const expected = applyClusterDefaults(spec);
    // The one default a schema cannot say (SQLite storage unless postgres) is the operator's.
    if (!spec.master?.storage && !spec.master?.postgres) delete (expected.master as { storage?: unknown }).storage;
    expect([name, stored]).toEqual([name, expected]);
  }
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    manifest('PolicySet', 'defaults', { rules: [{ name: 'r', action: 'deny' }], timeProfiles: [{ name: 't' }] }),
  );
  expect((await getJson(['-n', ns, 'pset', 'defaults'])).spec).toEqual({
    priority: 100,
    rules: [{ name: 'r', action: 'deny', mode: 'enforce' }],
    timeProfiles: [{ name: 't', timeZone: 'UTC' }],
  });
});

const goodCluster = { policySelector: { matchLabels: { gateway: 'corp' } } };
const badClusters: [string, object, RegExp[]][] = [
  [
    'minReplicas above maxReplicas',
    { ...goodCluster, slaves: { minReplicas: 5, maxReplicas: 3 } },
    [/spec\.slaves\.minReplicas/, /slaves\.minReplicas must not exceed slaves\.maxReplicas/],
  ],
  [
    'storage and postgres',
    { ...goodCluster, master: { storage: { size: '1Gi' }, postgres: { secretRef: { name: 'pg' } } } },
    [/spec\.master/, /master\.storage .* and master\.postgres are exclusive/],
  ],
  [
    'port out of range',
    { ...goodCluster, slaves: { proxyPort: 70000 } },
    [/spec\.slaves\.proxyPort/, /less than or equal to 65535/],
  ],
  [
    'proxy port on the metrics port',
    { ...goodCluster, slaves: { proxyPort: 9090 } },
    [/spec\.slaves\.metricsPort/, /proxyPort and slaves\.metricsPort must differ/],
  ],
  [
    'unknown Service type',
    { ...goodCluster, slaves: { service: { type: 'Ingress' } } },
    [/spec\.slaves\.service\.type/, /Unsupported value: "Ingress"/],
  ],
  ['no policySelector', { slaves: {} }, [/spec\.policySelector/, /Required value/]],
  ['bad quantity', { ...goodCluster, master: { storage: { size: 'ten gigs' } } }, [/spec\.master\.storage\.size/]],
  ['empty allow list', { ...goodCluster, master: { allowList: [] } }, [/spec\.master\.allowList/, /at least 1 items/]],
  [
    'basic and LDAP',
    { ...goodCluster, auth: { basic: { secretRef: { name: 'u' } }, ldap: { url: 'ldap://l', bindDN: 'uid={user}' } } },
    [/spec\.auth/, /auth\.basic and auth\.ldap are exclusive/],
  ],
  [
    'LDAP without a bind DN or search base',
    { ...goodCluster, auth: { ldap: { url: 'ldap://l' } } },
    [/spec\.auth\.ldap/, /exactly one of bindDN .* and searchBase/],
  ],
  ['unknown field', { ...goodCluster, slave: { replicas: 1 } }, [/unknown field "spec\.slave"/]],
];

test.each(badClusters)('a SafeSquidCluster with %s is refused naming the field', async (_what, spec, messages) => {
  const res = await kubectl(['apply', '-n', ns, '-f', '-'], manifest('SafeSquidCluster', 'bad', spec));
  expect(res.code).not.toBe(0);
  for (const m of messages) expect(res.stderr).toMatch(m);
  expect(await getJson(['-n', ns, 'ssc', 'bad'])).toBeNull();
});

const rule = (r: object) => ({ rules: [{ name: 'r', action: 'deny', ...r }] });
const badPolicySets: [string, object, RegExp[]][] = [
  [
    'redirect without redirectTo',
    rule({ action: 'redirect' }),
    [/spec\.rules\[0\]\.redirectTo/, /redirectTo is required when action is redirect/],
  ],
  [
    'redirectTo on a deny rule',
    rule({ redirectTo: 'https://x.example/' }),
    [/spec\.rules\[0\]\.redirectTo/, /only valid with action redirect/],
  ],
  [
    'redirectTo not http(s)',
    rule({ action: 'redirect', redirectTo: 'ftp://x.example/' }),
    [/spec\.rules\[0\]\.redirectTo/, /absolute http\(s\) URL/],
  ],
  ['unknown action', rule({ action: 'block' }), [/spec\.rules\[0\]\.action/, /Unsupported value: "block"/]],
  ['unknown mode', rule({ mode: 'audit' }), [/spec\.rules\[0\]\.mode/, /Unsupported value: "audit"/]],
  ['port 0', rule({ match: { ports: [0] } }), [/spec\.rules\[0\]\.match\.ports\[0\]/, /greater than or equal to 1/]],
  ['bad rule name', rule({ name: 'Block Social' }), [/spec\.rules\[0\]\.name/]],
  [
    'empty time window',
    { timeProfiles: [{ name: 't', from: '09:00', to: '09:00' }] },
    [/spec\.timeProfiles\[0\]\.to/, /window is empty/],
  ],
  [
    'from 24:00',
    { timeProfiles: [{ name: 't', from: '24:00', to: '06:00' }] },
    [/spec\.timeProfiles\[0\]\.from/, /only valid as `to`/],
  ],
  ['bad clock', { timeProfiles: [{ name: 't', from: '9am' }] }, [/spec\.timeProfiles\[0\]\.from/]],
  [
    'unknown day',
    { timeProfiles: [{ name: 't', days: ['Funday'] }] },
    [/spec\.timeProfiles\[0\]\.days\[0\]/, /Unsupported value: "Funday"/],
  ],
  [
    'unknown default action',
    { accessRestriction: { defaultAction: 'redirect' } },
    [/spec\.accessRestriction\.defaultAction/, /Unsupported value/],
  ],
  ['unknown field', { rulez: [] }, [/unknown field "spec\.rulez"/]],
];

test.each(badPolicySets)('a PolicySet with %s is refused naming the field', async (_what, spec, messages) => {
  const res = await kubectl(['apply', '-n', ns, '-f', '-'], manifest('PolicySet', 'bad', spec));
  expect(res.code).not.toBe(0);
  for (const m of messages) expect(res.stderr).toMatch(m);
  expect(await getJson(['-n', ns, 'pset', 'bad'])).toBeNull();
});

test('a large PolicySet stays within the CEL cost budget (3000 redirect rules, 300 time profiles)', async () => {
  const spec = {
    rules: Array.from({ length: 3000 }, (_, i) => ({
      name: `r${i}`,
      action: 'redirect',
      redirectTo: `https://intranet.example/${'x'.repeat(200)}/${i}`,
      match: { domains: [`d${i}.example`] },
    })),
    timeProfiles: Array.from({ length: 300 }, (_, i) => ({ name: `t${i}`, from: '08:00', to: '17:30' })),
  };
  // Server-side apply: a client-side apply would also store the whole object in an annotation.
  await kubectlOk(['apply', '--server-side', '-n', ns, '-f', '-'], manifest('PolicySet', 'large', spec));
  expect((await getJson(['-n', ns, 'pset', 'large'])).spec.rules).toHaveLength(3000);
});

test('a PolicySet only the engine can refuse (a dangling category) is accepted by the API server', async () => {
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    manifest('PolicySet', 'dangling', rule({ match: { categories: ['no-such-category'] } })),
  );
  expect(await getJson(['-n', ns, 'pset', 'dangling'])).not.toBeNull();
});

test.each<[string, SafeSquidClusterSpec]>([
  [
    'the corp sample',
    {
      policySelector: { matchLabels: { gateway: 'corp' } },
      slaves: { spool: { size: '1Gi' } },
      auth: { basic: { secretRef: { name: 'proxy-users' } } },
    },
  ],
  [
    'fixed replicas, PostgreSQL, LDAP, a ClusterIP Service',
    {
      policySelector: {},
      imagePullSecrets: [{ name: 'regcred' }],
      master: {
        postgres: { secretRef: { name: 'pg' } },
        adminSecretRef: { name: 'adm' },
        nodeSelector: { role: 'infra' },
      },
      slaves: {
        replicas: 2,
        service: { type: 'ClusterIP' },
        spool: { retainOnDelete: false, storageClassName: 'fast' },
        tolerations: [{ key: 'edge', operator: 'Exists' }],
        affinity: {
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 50,
                podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { a: 'b' } } },
              },
            ],
          },
        },
      },
      auth: {
        ldap: {
          url: 'ldaps://ldap:636',
          searchBase: 'dc=corp',
          serviceDN: 'cn=svc',
          servicePasswordSecretRef: { name: 'ldap' },
          caSecretRef: { name: 'ldap-ca' },
        },
      },
    },
  ],
])('every child built for %s is accepted by the API server (server dry-run, strict fields)', async (_what, spec) => {
  const name = `dry${Math.floor(Math.random() * 1e6)}`;
  await kubectlOk(['apply', '-n', ns, '-f', '-'], manifest('SafeSquidCluster', name, spec));
  const uid = (await getJson(['-n', ns, 'ssc', name])).metadata.uid as string;
  const bundle = compilePolicyBundle([
    {
      name: 'p',
      spec: { rules: [{ name: 'all', action: 'allow' }], accessRestriction: { allowedClients: ['10.0.0.0/8', '::1'] } },
    },
  ]);
  const children = buildClusterChildren({
    cluster: { metadata: { name, namespace: ns, uid }, spec: applyClusterDefaults(spec) },
    bundle,
    secrets: { syncToken: 'sync', adminPassword: 'pw', adminToken: 'tok' },
    portalPeers: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'safesquid-system' } } }],
  });
  const res = await kubectl(
    [
      'apply',
      '--server-side',
      '--field-manager=safesquid-operator',
      '--dry-run=server',
      '--validate=strict',
      '-f',
      '-',
    ],
    children.map((c) => stringify(c)).join('---\n'),
  );
  expect([res.code, res.stderr]).toEqual([0, '']);
  expect(res.stdout.split('\n').filter(Boolean)).toHaveLength(children.length);
});

test('the master Role lets its ServiceAccount list and watch its ConfigMap (as --kube-configmap does) and nothing more', async () => {
  const name = 'rbac';
  await kubectlOk(['apply', '-n', ns, '-f', '-'], manifest('SafeSquidCluster', name, { policySelector: {} }));
  const uid = (await getJson(['-n', ns, 'ssc', name])).metadata.uid as string;
  const children = buildClusterChildren({
    cluster: { metadata: { name, namespace: ns, uid }, spec: applyClusterDefaults({ policySelector: {} }) },
    bundle: compilePolicyBundle([]),
    secrets: { syncToken: 'sync', adminPassword: 'pw', adminToken: 'tok' },
  }).filter((c) => ['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap'].includes(c.kind));
  await kubectlOk(
    ['apply', '--server-side', '--field-manager=safesquid-operator', '-f', '-'],
    children.map((c) => stringify(c)).join('---\n'),
  );
  await kubectlOk(['create', 'configmap', '-n', ns, 'other', '--from-literal=a=b']);
  const as = `--as=system:serviceaccount:${ns}:${name}-master`;
  expect(
    await kubectlOk([
      'get',
      'configmaps',
      '-n',
      ns,
      '--field-selector',
      `metadata.name=${name}-policy`,
      '-o',
      'name',
      as,
    ]),
  ).toBe(`configmap/${name}-policy\n`);
  expect(await kubectlOk(['auth', 'can-i', 'watch', `configmaps/${name}-policy`, '-n', ns, as])).toBe('yes\n');
  for (const args of [
    ['get', 'configmaps', '-n', ns],
    ['get', 'configmap', 'other', '-n', ns],
    ['get', 'secrets', '-n', ns],
  ]) {
    const res = await kubectl([...args, as]);
    expect([args.join(' '), res.code, res.stderr]).toEqual([
      args.join(' '),
      1,
      expect.stringMatching(/Forbidden|forbidden/),
    ]);
  }
});
