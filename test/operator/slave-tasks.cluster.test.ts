/**
 * Tasks by annotation on the SafeSquidCluster, through the operator on the real API server with
 * kwok nodes: `safesquid.io/task: restart` evicts the slave pods through the Eviction API, one at a
 * time and only as the PodDisruptionBudget allows (a budget of 0 holds it until it is lifted); the
 * StatefulSet starts them again; the outcome lands in `safesquid.io/task-result` and Events; the same
 * id never runs twice; a bad annotation gets a result naming it; the other kinds go through a real
 * master process to a real slave process. The operator runs with deploy/rbac's
 * namespaced Role, so the permissions it needs are the ones shipped.
 */
import { createNamespace, eventually, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import {
  closeAgent,
  request,
  startMaster,
  startSlave,
  type MasterProc,
  type SlaveProc,
} from '../integration/cluster-processes.js';
import { writeSecret, type ClusterSecrets } from '../support/cluster-secrets.js';
import { tempDir } from '../support/temp-dir.js';
import {
  clusterClaims,
  installCrds,
  operatorIdentity,
  prebindVolumes,
  removeVolumes,
  startOperator,
  type OperatorIdentity,
  type OperatorProc,
} from './operator-process.js';

jest.setTimeout(180_000);

let ns: string;
let identity: OperatorIdentity | undefined;
let operator: OperatorProc | undefined;
let master: MasterProc | undefined;
let slave: SlaveProc | undefined;
let secrets: ClusterSecrets | undefined;

const NAME = 'tk';
const cluster = `apiVersion: safesquid.io/v1alpha1
kind: SafeSquidCluster
metadata: {name: ${NAME}}
spec:
  policySelector: {matchLabels: {gateway: tk}}
  slaves: {replicas: 2, service: {type: ClusterIP}}
---
apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata: {name: tk, labels: {gateway: tk}}
spec:
  rules: [{name: block-x, action: deny, match: {domains: [x.example]}}]
`;

async function converge<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  try {
    return await eventually(what, check, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\noperator output:\n${operator?.outputTail(40)}`);
  }
}

interface PodInfo {
  name: string;
  uid: string;
  ready: boolean;
  deleting: boolean;
}

async function slavePods(): Promise<PodInfo[]> {
  const list = await getJson<{ items: any[] }>([
    'pods',
    '-n',
    ns,
    '-l',
    `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=slave`,
  ]);
  return (list?.items ?? [])
    .map((p) => ({
      name: p.metadata.name as string,
      uid: p.metadata.uid as string,
      ready: (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
      deleting: Boolean(p.metadata.deletionTimestamp),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const bothReady = async () => {
  const pods = await slavePods();
  return pods.length === 2 && pods.every((p) => p.ready && !p.deleting) ? pods : undefined;
};

async function result(): Promise<Record<string, any> | undefined> {
  const ssc = await getJson(['ssc', NAME, '-n', ns]);
  const text = ssc?.metadata?.annotations?.['safesquid.io/task-result'];
  return text ? JSON.parse(text) : undefined;
}

const annotate = (pairs: Record<string, string>) =>
  kubectlOk([
    'annotate',
    '--overwrite',
    '-n',
    ns,
    'ssc',
    NAME,
    ...Object.entries(pairs).map(([k, v]) => `safesquid.io/${k}=${v}`),
  ]);

async function events(reason: string): Promise<string[]> {
  const list = await getJson<{ items: { reason: string; message: string }[] }>([
    'events',
    '-n',
    ns,
    '--field-selector',
    `involvedObject.name=${NAME}`,
  ]);
  return (list?.items ?? []).filter((e) => e.reason === reason).map((e) => e.message);
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('tasks');
  identity = await operatorIdentity(ns, { watchNamespace: ns });
  await prebindVolumes(ns, clusterClaims(NAME, 2));
  operator = await startOperator(identity, ['--namespace', ns, '--resync-period', '30']);
  await kubectlOk(['apply', '-n', ns, '-f', '-'], cluster);
});

afterAll(async () => {
  await slave?.stop();
  await master?.stop();
  await operator?.stop();
  closeAgent();
  secrets?.remove();
  await identity?.remove();
  if (ns) {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await removeVolumes(ns);
  }
});

it('restarts every slave pod through evictions the PodDisruptionBudget allows, once per id', async () => {
  const before = await converge('two Ready slave pods', bothReady, 90_000);

  // The cluster's own budget set to allow no disruption holds the task: evictions get 429, retried.
  const budget = (n: number) =>
    kubectlOk([
      'patch',
      '-n',
      ns,
      'ssc',
      NAME,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { slaves: { podDisruptionBudget: { maxUnavailable: n } } } }),
    ]);
  const observed = (allowed: number) =>
    converge(`the budget to allow ${allowed} disruption(s)`, async () => {
      const pdb = await getJson(['pdb', `${NAME}-slave`, '-n', ns]);
      return pdb?.spec?.maxUnavailable === allowed &&
        pdb.status?.observedGeneration === pdb.metadata.generation &&
        pdb.status.disruptionsAllowed === allowed
        ? true
        : undefined;
    });
  await budget(0);
  await observed(0);

  await annotate({ task: 'restart', 'task-id': 'restart-1' });
  const held = await converge('the task to wait for the budget', async () => {
    const r = await result();
    return r?.state === 'running' && /waiting for the PodDisruptionBudget/.test(r.detail) ? r : undefined;
  });
  expect(held).toMatchObject({ id: 'restart-1', kind: 'restart', slave: '*', evicted: [] });
  expect((await slavePods()).map((p) => p.uid)).toEqual(before.map((p) => p.uid));

  await budget(1);
  const done = await converge(
    'the restart task to succeed',
    async () => {
      const r = await result();
      return r?.state === 'succeeded' ? r : undefined;
    },
    120_000,
  );
  expect(done.evicted).toEqual(before.map((p) => `${p.name}@${p.uid}`));
  const after = await converge('both slave pods Ready again', bothReady, 90_000);
  expect(after.map((p) => p.name)).toEqual(before.map((p) => p.name));
  for (let i = 0; i < 2; i++) expect(after[i].uid).not.toBe(before[i].uid);
  expect((await events('TaskSucceeded')).join('\n')).toContain('task restart-1 (restart)');

  // The same id again (another annotation change wakes the operator): nothing is evicted.
  await annotate({ 'task-note': 'touched' });
  await new Promise((r) => setTimeout(r, 5000));
  expect((await slavePods()).map((p) => p.uid)).toEqual(after.map((p) => p.uid));
  expect((await result())?.updatedAt).toBe(done.updatedAt);
});

it('restarts only the slave named, and says what is wrong with a bad annotation', async () => {
  const before = await converge('two Ready slave pods', bothReady, 90_000);
  await annotate({ task: `restart/${NAME}-slave-1`, 'task-id': 'restart-2' });
  const done = await converge('the single restart to succeed', async () => {
    const r = await result();
    return r?.id === 'restart-2' && r.state === 'succeeded' ? r : undefined;
  });
  expect(done.evicted).toEqual([`${NAME}-slave-1@${before[1].uid}`]);
  const after = await converge('both slave pods Ready again', bothReady, 90_000);
  expect(after[0].uid).toBe(before[0].uid);
  expect(after[1].uid).not.toBe(before[1].uid);

  await annotate({ task: 'reboot', 'task-id': 'bad-1' });
  const bad = await converge('the bad kind refused', async () => {
    const r = await result();
    return r?.id === 'bad-1' ? r : undefined;
  });
  expect(bad).toMatchObject({
    state: 'invalid',
    detail: expect.stringMatching(/^annotation safesquid.io\/task: kind/),
  });

  await annotate({ task: 'restart/nobody', 'task-id': 'bad-2' });
  const unknown = await converge('the unknown slave refused', async () => {
    const r = await result();
    return r?.id === 'bad-2' ? r : undefined;
  });
  expect(unknown).toMatchObject({ state: 'invalid', detail: expect.stringContaining('no slave pod named "nobody"') });
  // The Event follows the result annotation.
  const invalid = await converge('both TaskInvalid Events', async () => {
    const messages = await events('TaskInvalid');
    return messages.some((m) => m.includes('kind must be one of')) && messages.some((m) => m.includes('"nobody"'))
      ? messages
      : undefined;
  });
  expect(invalid.length).toBeGreaterThanOrEqual(2);
});

it('passes the other kinds to the master, which gives them to the slave on its long-poll', async () => {
  // A real master holding the operator's generated admin token, and a real slave named like the pod.
  const adminToken = await converge('the admin Secret', async () => {
    const s = await getJson(['secret', `${NAME}-admin`, '-n', ns]);
    return s?.data?.token ? Buffer.from(s.data.token, 'base64').toString() : undefined;
  });
  const dir = tempDir('tasks-master');
  secrets = {
    dir: dir.path,
    clusterToken: 'tasks-cluster-token',
    tokenFile: writeSecret(dir.path, 'cluster-token', 'tasks-cluster-token'),
    adminToken,
    adminTokenFile: writeSecret(dir.path, 'admin-token', adminToken),
    remove: dir.remove,
  };
  master = await startMaster(secrets);
  slave = await startSlave(secrets, { name: `${NAME}-slave-0`, masterUrl: master.url });
  expect(await operator!.stop()).toBe(0);
  operator = await startOperator(identity!, [
    '--namespace',
    ns,
    '--resync-period',
    '30',
    '--master-url',
    `${ns}/${NAME}=${master.url}`,
  ]);

  await converge('the slave known to the master', async () => {
    const list = (await request(`${master!.url}/api/v1/slaves`, { token: adminToken })).json as { name: string }[];
    return list.some((x) => x.name === `${NAME}-slave-0`) || undefined;
  });
  await annotate({ task: `diagnostics/${NAME}-slave-0`, 'task-id': 'diag-k' });
  const done = await converge('the diagnostics task to succeed', async () => {
    const r = await result();
    return r?.id === 'diag-k' && r.state === 'succeeded' ? r : undefined;
  });
  expect(done.slaves).toEqual({ [`${NAME}-slave-0`]: 'succeeded: diagnostics collected' });
  const onMaster = await request(`${master.url}/api/v1/tasks/diag-k`, { token: adminToken });
  expect(onMaster.json).toMatchObject({ id: 'diag-k', kind: 'diagnostics', target: `${NAME}-slave-0` });
  expect(onMaster.json.slaves[0].data).toMatchObject({ name: `${NAME}-slave-0`, masterReachable: true });

  // A slave the master has never seen: the master's 400 names the field, the result says so.
  await annotate({ task: 'resync/ghost', 'task-id': 'ghost-1' });
  const ghost = await converge('the unknown slave refused by the master', async () => {
    const r = await result();
    return r?.id === 'ghost-1' ? r : undefined;
  });
  expect(ghost).toMatchObject({ state: 'invalid', detail: expect.stringContaining('slave "ghost" is not known') });
});
