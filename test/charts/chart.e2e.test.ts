/**
 * charts/safesquid with the real helm, no cluster: lint --strict over several value sets, wrong
 * values refused with messages naming the field, and the "one source" promises: the CRDs are the
 * generated crds/, the RBAC rules are deploy/rbac's (from operator/src/rbac/rules.ts), the alerts
 * are files/safesquid.rules.yaml, the dashboard is files/safesquid-dashboard.json, and
 * deploy/default's operator Deployment is the one the chart renders.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { LEADER_ELECTION_RULES, OPERATOR_RULES } from '../../operator/src/rbac/rules.js';
import { PROMTOOL } from '../support/prometheus.js';
import { tempDir } from '../support/temp-dir.js';
import { CHART, OFFLINE_KUBE_VERSION, find, helm, parseManifests, render, renderArgs, type K8sObject } from './helm.js';
import { DASHBOARD_FILE, REPO, RULES_FILE } from '../monitoring/monitoring-files.js';

jest.setTimeout(120_000);

const MONITORING = ['monitoring.coreos.com/v1'];

function yamlDocs(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as K8sObject);
}

describe('helm lint --strict', () => {
  const valueSets: Record<string, string[]> = {
    defaults: [],
    namespaced: ['watchNamespace=team-a'],
    'one replica, no election, no service, no dashboard': ['replicaCount=1', 'leaderElection.enabled=false', 'metrics.service.enabled=false', 'dashboard.enabled=false'],
    samples: ['samples.enabled=true'],
    'scheduling and pull secrets': ['imagePullSecrets[0].name=regcred', 'nodeSelector.pool=system', 'tolerations[0].key=dedicated', 'tolerations[0].operator=Exists', 'image.tag=0.1.0-abc1234', 'image.pullPolicy=Always'],
  };
  it.each(Object.entries(valueSets))('%s', async (_name, set) => {
    const r = await helm(['lint', '--strict', CHART, ...set.flatMap((s) => ['--set', s])]);
    expect({ code: r.code, out: r.code === 0 ? '' : r.stdout + r.stderr }).toEqual({ code: 0, out: '' });
    expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });
});

describe('wrong values fail before anything is rendered, naming the value', () => {
  const cases: [string[], RegExp][] = [
    [['replicaCount=0'], /at '\/replicaCount': minimum: got 0, want 1/],
    [['image.pullPolicy=Sometimes'], /at '\/image\/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'/],
    [['watchNamespace=Team_A'], /at '\/watchNamespace': 'Team_A' does not match pattern/],
    [['replicas=2'], /additional properties 'replicas' not allowed/],
    [['logLevel=verbose'], /at '\/logLevel': value must be one of 'fatal', 'error', 'warn', 'info', 'debug'/],
    [['monitoring.podMonitor.interval=soon'], /at '\/monitoring\/podMonitor\/interval': 'soon' does not match pattern/],
    [['metricsPort=80'], /at '\/metricsPort': minimum: got 80, want 1,024/],
    [['replicaCount=2', 'leaderElection.enabled=false'], /replicaCount > 1 needs leaderElection\.enabled: true/],
  ];
  it.each(cases)('%j', async (set, message) => {
    const r = await helm(['template', ...renderArgs({ set }), ...OFFLINE_KUBE_VERSION]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

it('crds/ holds the generated CRDs, byte for byte, and its Kustomization lists them all', () => {
  const generated = readdirSync(join(REPO, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
  const copies = readdirSync(join(CHART, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
  expect(copies).toEqual(generated);
  for (const f of generated) {
    expect({ f, same: readFileSync(join(CHART, 'crds', f), 'utf8') === readFileSync(join(REPO, 'crds', f), 'utf8') }).toEqual({ f, same: true });
  }
  const k = parse(readFileSync(join(CHART, 'crds', 'Kustomization'), 'utf8')) as { resources: string[] };
  expect([...k.resources].sort()).toEqual(generated);
});

describe('RBAC: the rules of deploy/rbac (operator/src/rbac/rules.ts)', () => {
  it('files/operator-rbac/ holds deploy/rbac\'s files, byte for byte (make rbac writes both)', () => {
    for (const f of ['cluster_role.yaml', 'leader_election_role.yaml']) {
      expect({ f, same: readFileSync(join(CHART, 'files/operator-rbac', f), 'utf8') === readFileSync(join(REPO, 'deploy/rbac', f), 'utf8') }).toEqual({ f, same: true });
    }
  });

  const clusterRole = find(yamlDocs(join(REPO, 'deploy/rbac/cluster_role.yaml')), 'ClusterRole');
  const leaderRole = find(yamlDocs(join(REPO, 'deploy/rbac/leader_election_role.yaml')), 'Role');

  it('cluster-wide by default: a ClusterRole with the same rules, bound to the operator ServiceAccount', async () => {
    const objects = await render({ release: 'gw', namespace: 'ops' });
    const role = find(objects, 'ClusterRole');
    expect(role.rules).toEqual(clusterRole.rules);
    expect(role.rules).toEqual(OPERATOR_RULES);
    const binding = find(objects, 'ClusterRoleBinding');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    const sa = find(objects, 'ServiceAccount');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'ops' }]);
    expect(find(objects, 'Deployment').spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    const leader = objects.find((o) => o.kind === 'Role' && o.metadata.name.endsWith('-leader-election'))!;
    expect({ ns: leader.metadata.namespace, rules: leader.rules }).toEqual({ ns: 'ops', rules: leaderRole.rules });
    expect(leader.rules).toEqual(LEADER_ELECTION_RULES);
  });

  it('with watchNamespace: the same rules in that namespace only, nothing cluster-wide but the CRDs', async () => {
    const objects = await render({ release: 'gw', namespace: 'ops', set: ['watchNamespace=team-a'] });
    expect(objects.filter((o) => o.kind.startsWith('Cluster'))).toEqual([]);
    const role = objects.find((o) => o.kind === 'Role' && o.metadata.namespace === 'team-a')!;
    expect(role.rules).toEqual(clusterRole.rules);
    const binding = objects.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'team-a')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'gw-safesquid-operator', namespace: 'ops' }]);
    expect(find(objects, 'Deployment').spec.template.spec.containers[0].args).toContain('--namespace=team-a');
    // The Lease stays in the operator's own namespace, where its Role is.
    expect(find(objects, 'Deployment').spec.template.spec.containers[0].args).toContain('--lease-namespace=$(POD_NAMESPACE)');
  });
});

describe('the operator Deployment', () => {
  it('runs 2 leader-elected replicas, non-root 65532, read-only, no capabilities, RuntimeDefault seccomp', async () => {
    const d = find(await render(), 'Deployment');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(d.spec.replicas).toBe(2);
    expect(c.args).toContain('--leader-elect');
    expect(c.args).toContain('--metrics-listen=0.0.0.0:9090');
    expect(c.image).toBe('safesquid/operator:0.1.0');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9090, protocol: 'TCP' }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    // The label the operator lets through its masters' NetworkPolicies.
    expect(d.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('safesquid-operator');
  });

  it('takes image, pull secrets, resources and scheduling from values', async () => {
    const d = find(await render({
      set: ['image.repository=registry.corp/safesquid/operator', 'image.tag=0.1.0-abc1234', 'image.pullPolicy=Always', 'imagePullSecrets[0].name=regcred', 'nodeSelector.pool=system', 'resources.limits.memory=512Mi'],
      setJson: ['tolerations=[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]', 'affinity={"nodeAffinity":{}}'],
    }), 'Deployment');
    const pod = d.spec.template.spec;
    expect(pod.containers[0]).toMatchObject({ image: 'registry.corp/safesquid/operator:0.1.0-abc1234', imagePullPolicy: 'Always', resources: { limits: { memory: '512Mi' } } });
    expect(pod).toMatchObject({ imagePullSecrets: [{ name: 'regcred' }], nodeSelector: { pool: 'system' }, tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }], affinity: { nodeAffinity: {} } });
  });

  it('is the one deploy/default applies (kustomize build: same spec, Service and PodDisruptionBudget)', async () => {
    const chart = await render({ release: 'safesquid', namespace: 'safesquid-system' });
    const kustomized = parseManifests(execFileSync('kubectl', ['kustomize', join(REPO, 'deploy/default')], { encoding: 'utf8' }));
    for (const [kind, name] of [['Deployment', 'safesquid-operator'], ['Service', 'safesquid-operator-metrics'], ['PodDisruptionBudget', 'safesquid-operator']]) {
      const a = find(chart, kind, name);
      const b = find(kustomized, kind, name);
      expect({ kind, namespace: b.metadata.namespace, spec: b.spec }).toEqual({ kind, namespace: a.metadata.namespace, spec: a.spec });
    }
    // And the same RBAC: deploy/default includes deploy/rbac itself.
    expect(find(kustomized, 'ClusterRole').rules).toEqual(find(chart, 'ClusterRole').rules);
    expect(kustomized.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name).sort()).toEqual(['policysets.safesquid.io', 'safesquidclusters.safesquid.io']);
  });
});

describe('monitoring objects', () => {
  it('none of the Prometheus Operator kinds without its API; the dashboard ConfigMap always', async () => {
    const objects = await render();
    expect(objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
    const cm = find(objects, 'ConfigMap');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm.data['safesquid.json'])).toEqual(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')));
  });

  it('with monitoring.coreos.com/v1: ServiceMonitor, PodMonitor and the PrometheusRule of files/safesquid.rules.yaml', async () => {
    const objects = await render({ apiVersions: MONITORING, set: ['monitoring.prometheusRule.labels.release=kube-prometheus-stack'] });
    const sm = find(objects, 'ServiceMonitor');
    const svc = find(objects, 'Service');
    expect(sm.spec.selector.matchLabels).toEqual(svc.spec.selector);
    expect(sm.spec.endpoints[0].port).toBe(svc.spec.ports[0].name);
    const pm = find(objects, 'PodMonitor');
    expect(pm.spec.podMetricsEndpoints.map((e: { port: string }) => e.port)).toEqual(['metrics', 'portal']);
    expect(pm.spec.namespaceSelector).toEqual({ any: true });
    const rule = find(objects, 'PrometheusRule');
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(rule.spec.groups).toEqual((parse(readFileSync(RULES_FILE, 'utf8')) as { groups: unknown }).groups);
    // What the Prometheus Operator hands Prometheus still passes promtool.
    const dir = tempDir('chart-rules');
    try {
      writeFileSync(join(dir.path, 'rules.yaml'), JSON.stringify({ groups: rule.spec.groups }));
      const check = spawnSync(PROMTOOL, ['check', 'rules', join(dir.path, 'rules.yaml')], { encoding: 'utf8' });
      expect(`${check.stdout}${check.stderr}`).toMatch(/SUCCESS: 12 rules found/);
    } finally {
      dir.remove();
    }
  });

  it('points runbook_url at runbookBaseUrl, and the PodMonitor at watchNamespace', async () => {
    const objects = await render({ apiVersions: MONITORING, set: ['monitoring.prometheusRule.runbookBaseUrl=https://wiki.corp/safesquid', 'watchNamespace=team-a'] });
    const urls = find(objects, 'PrometheusRule').spec.groups.flatMap((g: { rules: { annotations: { runbook_url: string } }[] }) => g.rules.map((r) => r.annotations.runbook_url));
    expect(urls.length).toBe(12);
    for (const u of urls) expect(u).toMatch(/^https:\/\/wiki\.corp\/safesquid#safesquid[a-z]+$/);
    expect(find(objects, 'PodMonitor').spec.namespaceSelector).toEqual({ matchNames: ['team-a'] });
  });

  it('each can be switched off', async () => {
    const objects = await render({ apiVersions: MONITORING, set: ['monitoring.serviceMonitor.enabled=false', 'monitoring.podMonitor.enabled=false', 'monitoring.prometheusRule.enabled=false', 'dashboard.enabled=false'] });
    expect(objects.filter((o) => /Monitor|PrometheusRule|ConfigMap/.test(o.kind))).toEqual([]);
  });
});

it('samples: a SafeSquidCluster with the chart\'s proxy image and the PolicySets it selects', async () => {
  const objects = await render({ namespace: 'gateway', set: ['samples.enabled=true'] });
  const cluster = find(objects, 'SafeSquidCluster', 'corp');
  expect(cluster.metadata.namespace).toBe('gateway');
  expect(cluster.spec.image).toBe('safesquid/proxy:0.1.0');
  const ps = find(objects, 'PolicySet', 'corp-baseline');
  expect(cluster.spec.policySelector.matchLabels).toEqual({ gateway: 'corp' });
  expect(ps.metadata.labels).toMatchObject({ gateway: 'corp' });
});
