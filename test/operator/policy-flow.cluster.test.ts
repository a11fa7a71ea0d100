/**
 * Policy flow end to end: a PolicySet edited with `kubectl apply` is compiled by the operator into the
 * ConfigMap, a real master process (`--kube-configmap`) picks it up from the same API server, and a
 * real slave connected to it enforces it. The operator reads the master's slave registry (reached
 * with --master-url, since it runs outside the cluster) and reports PolicySynced. The operator here
 * runs with the namespaced Role of deploy/rbac/namespaced/.
 */
import { createNamespace, eventually, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import {
  blockingPolicy,
  closeAgent,
  request,
  startMaster,
  startSlave,
  startUpstream,
  type MasterProc,
  type SlaveProc,
  type Upstream,
} from '../integration/cluster-processes.js';
import { writeSecret, type ClusterSecrets } from '../support/cluster-secrets.js';
import { tempDir } from '../support/temp-dir.js';
import {
  clusterClaims,
  condition,
  installCrds,
  operatorIdentity,
  prebindVolumes,
  removeVolumes,
  startOperator,
  type OperatorIdentity,
  type OperatorProc,
} from './operator-process.js';

jest.setTimeout(120_000);

let ns: string;
let identity: OperatorIdentity | undefined;
let operator: OperatorProc | undefined;
let master: MasterProc | undefined;
let slave: SlaveProc | undefined;
let upstream: Upstream | undefined;
let secrets: ClusterSecrets | undefined;

const indent = (text: string) => text.replace(/^/gm, '  ');
const policySet = (blocked: string) => `apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata: {name: flow-rules, labels: {gateway: flow}}
spec:
${indent(blockingPolicy(blocked).trimEnd())}
`;

const cluster = `apiVersion: safesquid.io/v1alpha1
kind: SafeSquidCluster
metadata: {name: flow}
spec:
  policySelector: {matchLabels: {gateway: flow}}
  slaves: {replicas: 1, service: {type: ClusterIP}}
`;

async function converge<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  try {
    return await eventually(what, check, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\noperator output:\n${operator?.outputTail(40)}`);
  }
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('flow');
  identity = await operatorIdentity(ns, { watchNamespace: ns });
  await prebindVolumes(ns, clusterClaims('flow', 0));
  upstream = await startUpstream();
});

afterAll(async () => {
  await slave?.stop();
  await master?.stop();
  await operator?.stop();
  await upstream?.close();
  closeAgent();
  secrets?.remove();
  await identity?.remove();
  if (ns) {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await removeVolumes(ns);
  }
});

it('carries a kubectl apply of a PolicySet to a slave that enforces it, and reports PolicySynced', async () => {
  // A first operator creates the children; the one that follows is told where the master listens.
  operator = await startOperator(identity!, ['--namespace', ns, '--resync-period', '30']);
  await kubectlOk(['apply', '-n', ns, '-f', '-'], `${policySet('alpha')}---\n${cluster}`);

  // The master and slave take the operator's generated credentials, as the pods would.
  const secret = async (name: string, key: string) =>
    converge(`secret ${name}`, async () => {
      const s = await getJson(['secret', name, '-n', ns]);
      return s?.data?.[key] ? Buffer.from(s.data[key], 'base64').toString() : undefined;
    });
  const dir = tempDir('flow');
  const clusterToken = await secret('flow-sync-token', 'token');
  const adminToken = await secret('flow-admin', 'token');
  secrets = {
    dir: dir.path,
    clusterToken,
    tokenFile: writeSecret(dir.path, 'cluster-token', clusterToken),
    adminToken,
    adminTokenFile: writeSecret(dir.path, 'admin-token', adminToken),
    remove: dir.remove,
  };
  await converge('the policy ConfigMap', async () =>
    (await getJson(['configmap', 'flow-policy', '-n', ns])) ? true : undefined,
  );
  master = await startMaster(secrets, { extra: ['--kube-configmap', `${ns}/flow-policy`] });
  expect(await operator.stop()).toBe(0);
  operator = await startOperator(identity!, [
    '--namespace',
    ns,
    '--resync-period',
    '30',
    '--master-url',
    `${ns}/flow=${master.url}`,
  ]);
  // Named as the StatefulSet's pod on the kwok node, so the registry entry and the Ready pod meet.
  slave = await startSlave(secrets, { name: 'flow-slave-0', masterUrl: master.url });

  const through = (path: string) => request(`http://127.0.0.1:${upstream!.port}${path}`, { proxyPort: slave!.port });
  await converge('the slave enforces the first policy', async () =>
    (await through('/alpha/x')).status === 403 ? true : undefined,
  );
  expect((await through('/beta/x')).status).toBe(200);

  const first = await converge('PolicySynced=True', async () => {
    const c = await condition(ns, 'flow', 'PolicySynced');
    return c?.status === 'True' ? c : undefined;
  });
  expect(first.reason).toBe('AllSynced');
  const hash1 = (await getJson(['ssc', 'flow', '-n', ns])).status.policyHash;
  expect((await getJson(['ssc', 'flow', '-n', ns])).status.slaves).toMatchObject({ ready: 1, synced: 1 });

  // The edit: /beta is blocked now.
  await kubectlOk(['apply', '-n', ns, '-f', '-'], policySet('beta'));
  const applied = Date.now();
  await eventually(
    'the slave enforces the edited policy',
    async () => ((await through('/beta/x')).status === 403 ? true : undefined),
    30_000,
  );
  const enforcedMs = Date.now() - applied;
  expect((await through('/alpha/x')).status).toBe(200);
  process.stdout.write(`PolicySet kubectl apply -> enforced by the slave: ${enforcedMs} ms\n`);

  const synced = await converge('PolicySynced=True for the new hash', async () => {
    const ssc = await getJson(['ssc', 'flow', '-n', ns]);
    const c = ssc.status.conditions.find((x: any) => x.type === 'PolicySynced');
    return ssc.status.policyHash !== hash1 && c.status === 'True' ? ssc : undefined;
  });
  expect(synced.status.slaves).toMatchObject({ ready: 1, synced: 1 });
  const ps = await getJson(['pset', 'flow-rules', '-n', ns]);
  expect(ps.status).toMatchObject({ hash: synced.status.policyHash, clusters: ['flow'] });

  // A slave that stops syncing is noticed: stop it and the master's registry keeps its old hash
  // while a new policy goes out.
  await slave.stop();
  slave = undefined;
  await kubectlOk(['apply', '-n', ns, '-f', '-'], policySet('gamma'));
  const behind = await converge('PolicySynced=False', async () => {
    const c = await condition(ns, 'flow', 'PolicySynced');
    return c?.status === 'False' ? c : undefined;
  });
  expect(behind.reason).toBe('SlavesBehind');
  expect(behind.message).toContain('flow-slave-0');
});
