/**
 * charts/safesquid on the real control plane (etcd, kube-apiserver, controller-manager, scheduler,
 * kwok nodes): the rendered manifests accepted by the API server (`kubectl apply --dry-run=server`,
 * CRD schemas and CEL rules included), a wrong value refused before anything is created, then
 * `helm install`, `helm upgrade` with changed values and `helm uninstall`, with the operator's pods
 * scheduled onto kwok nodes in a namespace that enforces the restricted Pod Security Standard.
 * The release has its own name, so its cluster-wide objects are not deploy/'s.
 */
import { createNamespace, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { OFFLINE_KUBE_VERSION, helm, helmOk, parseManifests, renderArgs } from './helm.js';
import { operatorPodsOnKwok, servePrometheusOperatorApi } from './cluster-checks.js';

jest.setTimeout(240_000);

const RELEASE = 'chart-test';
const OPERATOR = `${RELEASE}-safesquid-operator`;
const PODS = `app.kubernetes.io/name=safesquid-operator,app.kubernetes.io/instance=${RELEASE}`;
let ns: string;
let watched: string;
let removeMonitoringApi: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ns = await createNamespace('chart');
  watched = await createNamespace('chart-watched');
  // The operator pod must pass the strictest profile.
  await kubectlOk(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
});

afterAll(async () => {
  await helm(['uninstall', RELEASE, '-n', ns, '--wait', '--timeout', '60s']).catch(() => undefined);
  await kubectl(['delete', 'namespace', ns, watched, '--wait=false']);
  await removeMonitoringApi?.();
});

const install = (verb: 'install' | 'upgrade', set: string[] = []) =>
  helm([verb, ...renderArgs({ release: RELEASE, namespace: ns, set }), '--wait', '--timeout', '120s']);

/** `kubectl apply --dry-run=server` of a rendered chart: every object admitted by the real API server. */
async function dryRunServer(args: string[]): Promise<string[]> {
  const manifests = await helmOk(['template', ...args, ...OFFLINE_KUBE_VERSION]);
  const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], manifests, 60_000);
  if (r.code !== 0) throw new Error(`kubectl apply --dry-run=server refused the rendered chart:\n${r.stderr}`);
  return r.stdout.trim().split('\n');
}

test('helm template with the CRDs: every object accepted by kubectl apply --dry-run=server', async () => {
  const lines = await dryRunServer([...renderArgs({ release: RELEASE, namespace: ns, includeCrds: true })]);
  for (const what of [
    'customresourcedefinition.apiextensions.k8s.io/safesquidclusters.safesquid.io',
    'customresourcedefinition.apiextensions.k8s.io/policysets.safesquid.io',
    `deployment.apps/${OPERATOR}`,
    `clusterrole.rbac.authorization.k8s.io/${OPERATOR}`,
    `serviceaccount/${OPERATOR}`,
    `configmap/${RELEASE}-safesquid-dashboard`,
  ]) {
    expect(lines.find((l) => l.startsWith(`${what} `))).toMatch(/\((server dry run)\)$/);
  }
});

test('a wrong value fails helm install with the value named, and nothing is created', async () => {
  const r = await install('install', ['replicaCount=0', 'image.pullPolicy=Sometimes']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/at '\/replicaCount': minimum: got 0, want 1/);
  expect(r.stderr).toMatch(/at '\/image\/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'/);
  expect((await helmOk(['list', '-n', ns, '-q'])).trim()).toBe('');
  expect(await getJson(['-n', ns, 'deployment', OPERATOR])).toBeNull();
});

test('helm install: CRDs, RBAC, 2 operator pods on kwok nodes, and the monitoring objects the cluster can take', async () => {
  removeMonitoringApi = await servePrometheusOperatorApi();
  const r = await install('install');
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  // The notes: how to reach the proxy and the portal.
  expect(r.stdout).toContain('Prometheus Operator found');
  expect(r.stdout).toContain('kubectl get service -n <namespace> <cluster>-proxy');
  expect(r.stdout).toContain('kubectl port-forward -n <namespace> service/<cluster>-master 8888');

  for (const crd of ['safesquidclusters.safesquid.io', 'policysets.safesquid.io']) {
    expect((await getJson(['crd', crd]))?.status.conditions.find((c: any) => c.type === 'Established').status).toBe('True');
  }
  const deployment = await getJson(['-n', ns, 'deployment', OPERATOR]);
  expect(deployment.spec.replicas).toBe(2);
  expect(deployment.spec.template.spec.containers[0].args).toContain('--leader-elect');
  const pods = await operatorPodsOnKwok(ns, PODS, 2);
  for (const p of pods) {
    expect(p.spec.nodeName).toMatch(/^kwok-node-\d$/);
    expect(p.spec.serviceAccountName).toBe(OPERATOR);
  }
  // Least privilege, checked by the API server's own authorizer.
  const sa = `system:serviceaccount:${ns}:${OPERATOR}`;
  const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', '--as', sa, ...args])).stdout.trim();
  expect(await can('patch', 'statefulsets.apps', '-n', watched)).toBe('yes');
  expect(await can('patch', 'safesquidclusters.safesquid.io', '--subresource=status', '-n', watched)).toBe('yes');
  // patch (not update) on the object itself: the outcome of a task asked for by annotation goes in an annotation.
  expect(await can('patch', 'safesquidclusters.safesquid.io', '-n', watched)).toBe('yes');
  expect(await can('update', 'safesquidclusters.safesquid.io', '-n', watched)).toBe('no');
  expect(await can('update', 'leases.coordination.k8s.io', '-n', ns)).toBe('yes');
  expect(await can('update', 'leases.coordination.k8s.io', '-n', watched)).toBe('no');
  expect(await can('delete', 'safesquidclusters.safesquid.io', '-n', watched)).toBe('no');
  expect(await can('get', 'nodes')).toBe('no');

  for (const [kind, name] of [['servicemonitor', OPERATOR], ['podmonitor', `${RELEASE}-safesquid-gateways`], ['prometheusrule', `${RELEASE}-safesquid`]]) {
    expect({ kind, found: (await getJson(['-n', ns, kind, name])) !== null }).toEqual({ kind, found: true });
  }
  const rule = await getJson(['-n', ns, 'prometheusrule', `${RELEASE}-safesquid`]);
  expect(rule.spec.groups.flatMap((g: any) => g.rules).length).toBe(12);
  const dashboard = await getJson(['-n', ns, 'configmap', '-l', 'grafana_dashboard=1']);
  expect(dashboard.items.map((c: any) => c.metadata.name)).toEqual([`${RELEASE}-safesquid-dashboard`]);
  expect(await getJson(['-n', ns, 'service', `${OPERATOR}-metrics`])).not.toBeNull();
});

test('the samples render into objects the installed CRDs accept (schema and CEL rules)', async () => {
  const lines = await dryRunServer(renderArgs({ release: RELEASE, namespace: ns, set: ['samples.enabled=true'], apiVersions: ['monitoring.coreos.com/v1'] }));
  expect(lines).toContain('safesquidcluster.safesquid.io/corp created (server dry run)');
  expect(lines).toContain('policyset.safesquid.io/corp-baseline created (server dry run)');
  // With a sample gateway the notes name it.
  const notes = await helmOk(['upgrade', '--dry-run=server', ...renderArgs({ release: RELEASE, namespace: ns, set: ['samples.enabled=true'] })]);
  expect(notes).toContain(`kubectl get service -n ${ns} corp-proxy`);
  expect(notes).toContain(`kubectl port-forward -n ${ns} service/corp-master 8888`);
  expect(notes).toContain(`kubectl get secret -n ${ns} corp-admin -o jsonpath='{.data.password}'`);
  // And a spec the CRD refuses is refused: the values are not checked by the chart alone.
  const bad = await helmOk(['template', ...OFFLINE_KUBE_VERSION, ...renderArgs({ release: RELEASE, namespace: ns, set: ['samples.enabled=true', 'samples.cluster.spec.slaves.minReplicas=5', 'samples.cluster.spec.slaves.maxReplicas=2'] })]);
  const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], bad);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/safesquidclusters?.*corp|SafeSquidCluster.*corp/i);
});

test('helm upgrade with changed values: 3 replicas, debug logs, one watched namespace with a Role instead of the ClusterRole', async () => {
  const r = await install('upgrade', ['replicaCount=3', 'logLevel=debug', `watchNamespace=${watched}`]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const deployment = await getJson(['-n', ns, 'deployment', OPERATOR]);
  expect(deployment.spec.replicas).toBe(3);
  expect(deployment.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['--log-level=debug', `--namespace=${watched}`]));
  const pods = await operatorPodsOnKwok(ns, PODS, 3);
  for (const p of pods) expect(p.spec.containers[0].args).toContain('--log-level=debug');

  expect(await getJson(['clusterrole', OPERATOR])).toBeNull();
  expect(await getJson(['clusterrolebinding', OPERATOR])).toBeNull();
  expect(await getJson(['-n', watched, 'role', OPERATOR])).not.toBeNull();
  const sa = `system:serviceaccount:${ns}:${OPERATOR}`;
  const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', '--as', sa, ...args])).stdout.trim();
  expect(await can('patch', 'statefulsets.apps', '-n', watched)).toBe('yes');
  expect(await can('patch', 'statefulsets.apps', '-n', 'default')).toBe('no');
  const pm = await getJson(['-n', ns, 'podmonitor', `${RELEASE}-safesquid-gateways`]);
  expect(pm.spec.namespaceSelector).toEqual({ matchNames: [watched] });
});

test('helm uninstall removes the operator and keeps the CRDs (and so every gateway)', async () => {
  const manifest = parseManifests(await helmOk(['get', 'manifest', RELEASE, '-n', ns]));
  expect(manifest.length).toBeGreaterThan(8);
  await helmOk(['uninstall', RELEASE, '-n', ns, '--wait', '--timeout', '60s']);
  for (const o of manifest) {
    const args = o.metadata.namespace ? ['-n', o.metadata.namespace, o.kind, o.metadata.name] : [o.kind, o.metadata.name];
    expect({ gone: `${o.kind}/${o.metadata.name}`, found: (await getJson(args)) !== null }).toEqual({ gone: `${o.kind}/${o.metadata.name}`, found: false });
  }
  expect(await getJson(['crd', 'safesquidclusters.safesquid.io'])).not.toBeNull();
  expect(await getJson(['crd', 'policysets.safesquid.io'])).not.toBeNull();
});
