/**
 * `kubectl apply -k deploy/default` on the real control plane (kubectl's built-in kustomize): the
 * namespace (restricted Pod Security Standard), the CRDs, deploy/rbac and the operator Deployment,
 * with its 2 pods scheduled onto kwok nodes; `kubectl diff -k` then finds nothing to change. Cleanup removes what
 * it made but the CRDs, which other test files of this control plane use.
 */
import { join } from 'node:path';
import { getJson, kubectl } from '../cluster/kubectl.js';
import { REPO } from '../monitoring/monitoring-files.js';
import { operatorPodsOnKwok } from './cluster-checks.js';

jest.setTimeout(180_000);

const DEFAULT = join(REPO, 'deploy/default');
const NS = 'safesquid-system';

afterAll(async () => {
  await kubectl(['delete', 'namespace', NS, '--wait=false']);
  await kubectl(['delete', 'clusterrolebinding,clusterrole', 'safesquid-operator', '--ignore-not-found']);
});

test('kubectl apply -k deploy/default installs the operator: 2 pods on kwok nodes, least-privilege RBAC', async () => {
  const r = await kubectl(['apply', '-k', DEFAULT], undefined, 60_000);
  // CRDs another test file (or helm) created have no last-applied annotation: kubectl adds it and says so.
  const complaints = r.stderr.split('\n').filter((l) => l.trim() && !/^Warning: resource customresourcedefinitions\/\S+ is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation/.test(l));
  expect({ code: r.code, complaints }).toEqual({ code: 0, complaints: [] });
  for (const what of ['namespace/safesquid-system', 'serviceaccount/safesquid-operator', 'clusterrole.rbac.authorization.k8s.io/safesquid-operator', 'deployment.apps/safesquid-operator', 'service/safesquid-operator-metrics']) {
    expect(r.stdout).toContain(what);
  }
  const ns = await getJson(['namespace', NS]);
  expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  const deployment = await getJson(['-n', NS, 'deployment', 'safesquid-operator']);
  expect(deployment.spec.replicas).toBe(2);
  const pods = await operatorPodsOnKwok(NS, 'app.kubernetes.io/name=safesquid-operator,app.kubernetes.io/instance=safesquid', 2);
  for (const p of pods) expect(p.spec.nodeName).toMatch(/^kwok-node-\d$/);

  const sa = `system:serviceaccount:${NS}:safesquid-operator`;
  const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', '--as', sa, ...args])).stdout.trim();
  expect(await can('create', 'deployments.apps', '-n', 'default')).toBe('yes');
  expect(await can('update', 'leases.coordination.k8s.io', '-n', NS)).toBe('yes');
  expect(await can('update', 'leases.coordination.k8s.io', '-n', 'default')).toBe('no');
  expect(await can('create', 'clusterroles.rbac.authorization.k8s.io')).toBe('no');
});

test('what is applied is what deploy/default says: kubectl diff -k finds nothing to change', async () => {
  const r = await kubectl(['diff', '-k', DEFAULT], undefined, 60_000);
  expect({ code: r.code, diff: r.stdout, stderr: r.stderr }).toEqual({ code: 0, diff: '', stderr: '' });
});
