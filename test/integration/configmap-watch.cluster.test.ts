/**
 * Kubernetes mode against the real API server: the master watches the operator's policy ConfigMap
 * (`--kube-configmap`), serves it read-only, and hands a change to long-polling slaves well under
 * a second after the API server has it.
 */
import { compilePolicyBundle, parsePolicyDocuments } from '../../proxy/src/policy/index.js';
import { createNamespace, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { blockingPolicy, closeAgent, request, startMaster, type MasterProc } from './cluster-processes.js';
import { clusterSecrets, type ClusterSecrets } from '../support/cluster-secrets.js';
import { until } from '../support/until.js';

jest.setTimeout(60_000);

let ns: string;
let secrets: ClusterSecrets;
let master: MasterProc | undefined;

const bundleOf = (blocked: string) =>
  compilePolicyBundle(parsePolicyDocuments(blockingPolicy(blocked), `${blocked}.yaml`));

function configMap(data: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'corp-policy', namespace: ns },
    data,
  });
}

beforeAll(async () => {
  ns = await createNamespace('portal');
  secrets = clusterSecrets();
});

afterAll(async () => {
  await master?.stop('SIGKILL');
  secrets?.remove();
  closeAgent();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

it('follows the policy ConfigMap through the API, read-only, in well under a second', async () => {
  const a = bundleOf('alpha');
  await kubectlOk(['apply', '-f', '-'], configMap({ 'bundle.json': JSON.stringify(a) }));
  master = await startMaster(secrets, { extra: ['--kube-configmap', `${ns}/corp-policy`] });
  const admin = (path: string, o: Parameters<typeof request>[1] = {}) =>
    request(`${master!.url}/api/v1${path}`, { token: secrets.adminToken, ...o });

  const policy = (await admin('/policy')).json;
  expect(policy).toMatchObject({ hash: a.hash, source: 'configmap', editable: false });
  expect((await admin('/cluster')).json.mode).toBe('kubernetes');
  const put = await admin('/policy', { method: 'PUT', body: blockingPolicy('x') });
  expect(put.status).toBe(409);
  expect(put.json.error).toContain(`ConfigMap ${ns}/corp-policy`);

  const b = bundleOf('beta');
  const poll = request(`${master.url}/api/v1/policy/bundle?wait=30`, {
    token: secrets.clusterToken,
    headers: { 'if-none-match': `"${a.hash}"` },
  });
  await new Promise((r) => setTimeout(r, 200));
  await kubectlOk(['apply', '-f', '-'], configMap({ 'bundle.json': JSON.stringify(b) }));
  const applied = Date.now();
  const changed = await poll;
  const lagMs = Date.now() - applied;
  expect(changed.status).toBe(200);
  expect(changed.json.hash).toBe(b.hash);
  expect(lagMs).toBeLessThan(1000);

  // A tampered bundle is refused; the master keeps serving the last good one.
  await kubectlOk(
    ['apply', '-f', '-'],
    configMap({ 'bundle.json': JSON.stringify({ ...b, hash: `sha256:${'0'.repeat(64)}` }) }),
  );
  await until('the refusal logged', () => master!.output().includes('policy ConfigMap does not load'));
  expect((await admin('/policy')).json.hash).toBe(b.hash);

  // Policy source text is accepted too (a hand-made ConfigMap).
  const gamma = `apiVersion: safesquid.io/v1alpha1\nkind: PolicySet\nmetadata: {name: gamma}\nspec:\n${blockingPolicy('gamma').replace(/^/gm, '  ')}`;
  await kubectlOk(['apply', '-f', '-'], configMap({ 'policy.yaml': gamma }));
  const gammaHash = compilePolicyBundle(parsePolicyDocuments(gamma, 'gamma.yaml')).hash;
  await until('the YAML policy served', async () => (await admin('/policy')).json.hash === gammaHash || undefined);
  const history = (await admin('/policy/versions')).json as { author: string }[];
  expect(history.length).toBeGreaterThanOrEqual(3);
  expect(history.every((v) => v.author === 'kubernetes')).toBe(true);
});
