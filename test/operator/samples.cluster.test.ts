/**
 * The operator as a real process, with only the ServiceAccount token of deploy/rbac/, against the real
 * control plane with kwok nodes: the samples become every child with the right spec, pods run on the
 * kwok nodes, status follows what the API server says, a refused PolicySet keeps the policy in force,
 * drift is repaired, the HPA's replica count is left alone, a no-op resync writes nothing, and the
 * garbage collector removes the children with the cluster.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compilePolicyBundle, parsePolicyDocuments } from '../../proxy/src/policy/index.js';
import { createNamespace, eventually, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import {
  clusterClaims,
  condition,
  expectedChildren,
  installCrds,
  operatorIdentity,
  prebindVolumes,
  removeVolumes,
  REPO,
  startOperator,
  type OperatorIdentity,
  type OperatorProc,
} from './operator-process.js';

jest.setTimeout(120_000);

let ns: string;
let identity: OperatorIdentity | undefined;
let operator: OperatorProc | undefined;

const SAMPLES = join(REPO, 'deploy/samples');
/**
 * The bundle hash of the sample PolicySets as the API server stores them (with the CRD's defaults
 * filled in, which the bundle carries), compiled by the engine here.
 */
async function sampleHash(): Promise<string> {
  const names = readdirSync(SAMPLES)
    .filter((f) => f.startsWith('policyset-'))
    .flatMap((f) => parsePolicyDocuments(readFileSync(join(SAMPLES, f), 'utf8'), f).map((s) => s.name));
  const stored = await Promise.all(names.map(async (n) => (await getJson(['pset', n, '-n', ns]))!));
  return compilePolicyBundle(stored.map((p) => ({ name: p.metadata.name, spec: p.spec }))).hash;
}

/** Reads (and fails with) the operator's output when something does not converge. */
async function converge<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  try {
    return await eventually(what, check, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\noperator output:\n${operator?.outputTail(40)}`);
  }
}

const get = <T = any>(what: string) => getJson<T>([...what.split(' '), '-n', ns, '--show-managed-fields']);

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('ssc');
  identity = await operatorIdentity(ns);
  await prebindVolumes(ns, clusterClaims('corp', 6));
  operator = await startOperator(identity, ['--namespace', ns, '--resync-period', '4']);
});

afterAll(async () => {
  await operator?.stop();
  await identity?.remove();
  if (ns) {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await removeVolumes(ns);
  }
});

it('turns the samples into every child, owned and labelled, with the policy compiled into the ConfigMap', async () => {
  await kubectlOk(['apply', '-k', SAMPLES, '-n', ns]);
  const children = expectedChildren('corp');
  await converge('every child of corp', async () =>
    (await kubectl(['get', ...children, '-n', ns])).code === 0 ? true : undefined,
  );
  const ssc = await get('ssc corp');
  for (const child of children) {
    const obj = await get(child);
    expect(obj.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'SafeSquidCluster',
        name: 'corp',
        uid: ssc.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      }),
    ]);
    expect(obj.metadata.labels).toMatchObject({
      'app.kubernetes.io/instance': 'corp',
      'app.kubernetes.io/managed-by': 'safesquid-operator',
    });
    // One field manager for everything the operator writes.
    const managers = (obj.metadata.managedFields as { manager: string; operation: string }[])
      .filter((m) => m.operation === 'Apply')
      .map((m) => m.manager);
    expect(managers).toEqual(['safesquid-operator']);
  }
  const cm = await get('configmap corp-policy');
  const hash = await sampleHash();
  expect(cm.metadata.annotations['safesquid.io/policy-hash']).toBe(hash);
  expect(JSON.parse(cm.data['bundle.json']).hash).toBe(hash);

  // With an HPA the operator leaves spec.replicas of the StatefulSet to it: not among its fields.
  const sts = await get('statefulset corp-slave');
  const mine = (
    sts.metadata.managedFields as { manager: string; fieldsV1: { 'f:spec'?: Record<string, unknown> } }[]
  ).find((m) => m.manager === 'safesquid-operator')!;
  expect(mine.fieldsV1['f:spec']).not.toHaveProperty('f:replicas');
  const hpa = await get('hpa corp-slave');
  expect(hpa.spec).toMatchObject({
    minReplicas: 2,
    maxReplicas: 10,
    scaleTargetRef: { kind: 'StatefulSet', name: 'corp-slave' },
  });
  const master = await get('deployment corp-master');
  expect(master.spec.replicas).toBe(1);
  expect(master.spec.strategy.type).toBe('Recreate');
  const args = master.spec.template.spec.containers[0].args as string[];
  expect(args.join(' ')).toContain(`--kube-configmap ${ns}/corp-policy`);
  expect((await get('service corp-proxy')).spec.type).toBe('LoadBalancer');
  // Generated once: the Secrets hold tokens.
  const sync = await get('secret corp-sync-token');
  expect(Buffer.from(sync.data.token, 'base64').toString().length).toBeGreaterThanOrEqual(32);
});

it('gets master and slave pods Running and Ready on kwok nodes, and says so in status', async () => {
  const pods = await converge('1 master and 2 slave pods Ready on kwok nodes', async () => {
    const list = await get('pods -l app.kubernetes.io/instance=corp');
    const ready = (list?.items ?? []).filter(
      (p: any) =>
        p.status.phase === 'Running' &&
        p.spec.nodeName?.startsWith('kwok-node-') &&
        p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready.length >= 3 ? ready : undefined;
  });
  expect(pods.map((p: any) => p.metadata.labels['app.kubernetes.io/component']).sort()).toEqual([
    'master',
    'slave',
    'slave',
  ]);
  await converge('MasterAvailable and SlavesAvailable', async () => {
    const m = await condition(ns, 'corp', 'MasterAvailable');
    const s = await condition(ns, 'corp', 'SlavesAvailable');
    return m?.status === 'True' && s?.status === 'True' && s.reason === 'AllReady' ? true : undefined;
  });
  const ssc = await get('ssc corp');
  expect(ssc.status).toMatchObject({
    observedGeneration: ssc.metadata.generation,
    policyHash: await sampleHash(),
    slaves: { desired: 2, ready: 2, summary: '2/2' },
    replicas: 2,
    masterURL: `http://corp-master.${ns}.svc:8888`,
  });
  expect(ssc.status.selector).toContain('app.kubernetes.io/component=slave');
  // No real master runs behind kwok's pods: the operator says it cannot ask, rather than guessing.
  await converge('PolicySynced=Unknown MasterUnreachable', async () =>
    (await condition(ns, 'corp', 'PolicySynced'))?.reason === 'MasterUnreachable' ? true : undefined,
  );
  expect(await condition(ns, 'corp', 'PolicySynced')).toMatchObject({ status: 'Unknown', reason: 'MasterUnreachable' });
  expect(await condition(ns, 'corp', 'Ready')).toMatchObject({ status: 'False', reason: 'MasterUnreachable' });
});

it('prints the columns of kubectl get ssc,pset', async () => {
  await converge('PolicySet status', async () =>
    (await get('pset corp-baseline'))?.status?.clusters?.length ? true : undefined,
  );
  const out = await kubectlOk(['get', 'ssc,pset', '-n', ns]);
  process.stdout.write(`kubectl get ssc,pset:\n${out}\n`);
  const lines = out.split('\n');
  expect(lines.find((l) => l.startsWith('NAME') && l.includes('READY'))).toMatch(
    /NAME\s+READY\s+SLAVES\s+POLICY\s+AGE/,
  );
  expect(out).toMatch(
    new RegExp(`safesquidcluster.safesquid.io/corp\\s+False\\s+2/2\\s+${(await sampleHash()).slice(7, 19)}\\s`),
  );
  expect(lines.find((l) => l.includes('PRIORITY'))).toMatch(/NAME\s+PRIORITY\s+VALID\s+CLUSTERS\s+AGE/);
  expect(out).toMatch(/policyset.safesquid.io\/corp-baseline\s+100\s+True\s+\["corp"\]/);
  expect(out).toMatch(/policyset.safesquid.io\/corp-downloads\s+50\s+True\s+\["corp"\]/);
});

it('reports MasterAvailable=False with the reason when the master cannot be scheduled, and True again after', async () => {
  await kubectlOk([
    'patch',
    'deployment',
    'corp-master',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"spec":{"template":{"spec":{"nodeSelector":{"safesquid-test":"nowhere"}}}}}',
  ]);
  // First the new pod is merely not ready; once the scheduler has given up on it, the reason says why.
  const c = await converge('MasterAvailable=False, PodUnschedulable', async () => {
    const m = await condition(ns, 'corp', 'MasterAvailable');
    return m?.status === 'False' && m.reason === 'PodUnschedulable' ? m : undefined;
  });
  expect(c.reason).toBe('PodUnschedulable');
  expect(c.message).toMatch(/didn't match Pod's node affinity\/selector|node\(s\) didn't match/);
  expect(await condition(ns, 'corp', 'Degraded')).toMatchObject({ status: 'True', reason: 'MasterUnavailable' });
  await kubectlOk([
    'patch',
    'deployment',
    'corp-master',
    '-n',
    ns,
    '--type=json',
    '-p',
    '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]',
  ]);
  await converge('MasterAvailable=True again', async () =>
    (await condition(ns, 'corp', 'MasterAvailable'))?.status === 'True' ? true : undefined,
  );
});

it('marks a semantically bad PolicySet Valid=False with the engine message, and the ConfigMap keeps its hash', async () => {
  const before = (await get('configmap corp-policy')).metadata.annotations['safesquid.io/policy-hash'];
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    `apiVersion: safesquid.io/v1alpha1
kind: PolicySet
metadata: {name: corp-broken, labels: {gateway: corp}}
spec:
  rules:
    - name: uses-a-missing-category
      action: deny
      match: {categories: [no-such-category]}
`,
  );
  const valid = await converge('corp-broken Valid=False', async () => {
    const ps = await get('pset corp-broken');
    const c = ps?.status?.conditions?.find((x: any) => x.type === 'Valid');
    return c?.status === 'False' ? c : undefined;
  });
  expect(valid.reason).toBe('Refused');
  expect(valid.message).toContain('corp-broken: rules[0].match.categories');
  expect(valid.message).toContain('no-such-category');
  await converge('Degraded=PolicyRefused', async () =>
    (await condition(ns, 'corp', 'Degraded'))?.reason === 'PolicyRefused' ? true : undefined,
  );
  expect((await get('configmap corp-policy')).metadata.annotations['safesquid.io/policy-hash']).toBe(before);
  const events = await kubectlOk([
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    'involvedObject.name=corp-broken,reason=PolicyRefused',
    '-o',
    'jsonpath={.items[*].message}',
  ]);
  expect(events).toContain('no-such-category');
  // The other sets are fine, just held back.
  const baseline = (await get('pset corp-baseline')).status.conditions.find((x: any) => x.type === 'Valid');
  expect(baseline).toMatchObject({ status: 'True', reason: 'WaitingForOthers' });

  await kubectlOk(['delete', 'pset', 'corp-broken', '-n', ns]);
  await converge('Degraded no longer PolicyRefused', async () =>
    (await condition(ns, 'corp', 'Degraded'))?.reason !== 'PolicyRefused' ? true : undefined,
  );
  expect((await get('configmap corp-policy')).metadata.annotations['safesquid.io/policy-hash']).toBe(before);
});

it('repairs drift: a child deleted or edited by hand comes back as the spec says', async () => {
  const svc = await get('service corp-proxy');
  await kubectlOk(['delete', 'service', 'corp-proxy', '-n', ns]);
  const again = await converge('corp-proxy recreated', async () => {
    const s = await get('service corp-proxy');
    return s && s.metadata.uid !== svc.metadata.uid ? s : undefined;
  });
  expect(again.spec.ports).toEqual(
    svc.spec.ports.map((p: any) => expect.objectContaining({ name: p.name, port: p.port })),
  );

  const hash = await sampleHash();
  await kubectlOk([
    'patch',
    'configmap',
    'corp-policy',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"data":{"bundle.json":"{}"}}',
  ]);
  await converge('the policy ConfigMap restored', async () => {
    const cm = await get('configmap corp-policy');
    return JSON.parse(cm.data['bundle.json']).hash === hash ? true : undefined;
  });

  await kubectlOk([
    'patch',
    'deployment',
    'corp-master',
    '-n',
    ns,
    '--type=json',
    '-p',
    '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"evil/image:1"}]',
  ]);
  await converge('the master image restored', async () =>
    (await get('deployment corp-master')).spec.template.spec.containers[0].image === 'safesquid/proxy:0.1.0'
      ? true
      : undefined,
  );
});

it('leaves the replica count the HPA owns alone', async () => {
  // What the HPA does: scale its target through the scale subresource (within min..max, and kwok
  // reports no CPU metrics, so the HPA itself keeps the count).
  await kubectlOk(['scale', 'statefulset', 'corp-slave', '-n', ns, '--replicas=4']);
  await converge('status shows 4 desired slaves', async () =>
    (await get('ssc corp')).status.slaves.desired === 4 ? true : undefined,
  );
  // Make sure reconciles happened after the scale (resync every 4 s), then look again.
  const before = await operator!.counter('safesquid_operator_reconciles_total', { kind: 'SafeSquidCluster' });
  await converge('two more reconciles', async () =>
    (await operator!.counter('safesquid_operator_reconciles_total', { kind: 'SafeSquidCluster' })) >= before + 2
      ? true
      : undefined,
  );
  expect((await get('statefulset corp-slave')).spec.replicas).toBe(4);
  await converge('4 slaves ready', async () => ((await get('ssc corp')).status.slaves.ready === 4 ? true : undefined));
});

it('raises the HPA floor with kubectl scale ssc; a fixed slaves.replicas deletes the HPA and sets the StatefulSet', async () => {
  // The scale subresource's spec side is slaves.minReplicas (see operator/src/api/crd.ts).
  await kubectlOk(['scale', 'ssc', 'corp', '-n', ns, '--replicas=3']);
  await converge('HPA minReplicas 3', async () =>
    (await get('hpa corp-slave'))?.spec.minReplicas === 3 ? true : undefined,
  );
  await kubectlOk(['patch', 'ssc', 'corp', '-n', ns, '--type=merge', '-p', '{"spec":{"slaves":{"replicas":3}}}']);
  await converge('no HPA and 3 replicas', async () => {
    const hpa = await kubectl(['get', 'hpa', 'corp-slave', '-n', ns]);
    const sts = await get('statefulset corp-slave');
    return hpa.code !== 0 && sts.spec.replicas === 3 ? true : undefined;
  });
  await converge('status shows 3 desired', async () =>
    (await get('ssc corp')).status.slaves.desired === 3 ? true : undefined,
  );
});

it('writes nothing on a resync of an unchanged cluster', async () => {
  // Settled: nothing left to do but resync every 4 s.
  await converge('status settled', async () => {
    const a = (await get('ssc corp')).metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 4500));
    return (await get('ssc corp')).metadata.resourceVersion === a ? true : undefined;
  });
  const versions = async () => {
    const out: Record<string, string> = {};
    for (const child of [
      ...expectedChildren('corp', { hpa: false }),
      'ssc/corp',
      'pset/corp-baseline',
      'pset/corp-downloads',
    ])
      out[child] = (await get(child)).metadata.resourceVersion;
    return out;
  };
  const writes = async () => {
    let n = 0;
    for (const verb of ['patch', 'post', 'put', 'delete'])
      n += await operator!.counter('safesquid_operator_kube_requests_total', { verb });
    return n;
  };
  const rv0 = await versions();
  const w0 = await writes();
  const r0 = await operator!.counter('safesquid_operator_reconciles_total', { kind: 'SafeSquidCluster' });
  await new Promise((r) => setTimeout(r, 9000));
  const r1 = await operator!.counter('safesquid_operator_reconciles_total', { kind: 'SafeSquidCluster' });
  expect(r1 - r0).toBeGreaterThanOrEqual(2);
  expect(await writes()).toBe(w0);
  expect(await versions()).toEqual(rv0);
  process.stdout.write(`no-op resync: ${r1 - r0} reconciles, ${(await writes()) - w0} writes\n`);
});

it('lets the garbage collector remove the children with the cluster', async () => {
  await kubectlOk(['delete', 'ssc', 'corp', '-n', ns, '--wait=true']);
  await converge(
    'every child gone',
    async () => {
      const res = await kubectl(['get', ...expectedChildren('corp'), '-n', ns, '--ignore-not-found', '-o', 'name']);
      return res.stdout.trim() === '' ? true : undefined;
    },
    60_000,
  );
  // The spool claims are kept by default (undelivered reports survive the cluster).
  const pvcs = await kubectlOk(['get', 'pvc', '-n', ns, '-o', 'name']);
  expect(pvcs).toContain('persistentvolumeclaim/state-corp-slave-0');
});
