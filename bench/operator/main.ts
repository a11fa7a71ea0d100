// The operator on the real test control plane (kwok nodes), as a real process with the RBAC of
// deploy/rbac/ and no --namespace (cluster-wide): time from creating one SafeSquidCluster to all its
// children present (p50/p99 over ROUNDS, default 20); 100 clusters from nothing to every child
// present; API writes per no-op resync; the operator's RSS and CPU. Targets: <= 2 s, <= 30 s, 0,
// <= 150 MB. Bounded: every wait has a deadline; the control plane and the operator are stopped by PID.
import { readFileSync } from 'node:fs';
import { KubeClient, type KubeObject } from '@safesquid/operator/dist/kube/client.js';
import { kubeconfigConnection } from '@safesquid/operator/dist/kube/kubeconfig.js';
import { collectionPath, RESOURCES } from '@safesquid/operator/dist/kube/resources.js';
import { startControlPlane } from '@safesquid/test/dist/cluster/control-plane.js';
import { rssBytes } from '@safesquid/test/dist/cluster/processes.js';
import { kubectlOk } from '@safesquid/test/dist/cluster/kubectl.js';
import {
  installCrds,
  operatorIdentity,
  startOperator,
  type OperatorProc,
} from '@safesquid/test/dist/operator/operator-process.js';

const ROUNDS = Math.max(1, Math.min(100, Number(process.env.ROUNDS ?? 20)));
const MANY = Math.max(1, Math.min(500, Number(process.env.CLUSTERS ?? 100)));
const RESYNC_S = 10;
const TICKS = 100; // USER_HZ on Linux: /proc/PID/stat counts CPU time in these

// Children without volumes (no provisioner here): PostgreSQL master, emptyDir spool; a fixed slave count.
const CHILD_KINDS = [
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'Secret',
  'ConfigMap',
  'Deployment',
  'Service',
  'StatefulSet',
  'PodDisruptionBudget',
  'NetworkPolicy',
] as const;
// Per cluster: 2 Secrets, 3 Services, 2 NetworkPolicies, one of each other kind.
const PER_CLUSTER: Record<string, number> = { Secret: 2, Service: 3, NetworkPolicy: 2 };
const perCluster = CHILD_KINDS.reduce((n, k) => n + (PER_CLUSTER[k] ?? 1), 0);

const cluster = (ns: string, name: string) => ({
  apiVersion: 'safesquid.io/v1alpha1',
  kind: 'SafeSquidCluster',
  metadata: { name, namespace: ns },
  spec: {
    policySelector: { matchLabels: { gateway: 'bench' } },
    master: { postgres: { secretRef: { name: 'pg' } } },
    slaves: { replicas: 1, service: { type: 'ClusterIP' } },
  },
});
const policySet = (ns: string) => ({
  apiVersion: 'safesquid.io/v1alpha1',
  kind: 'PolicySet',
  metadata: { name: 'bench', namespace: ns, labels: { gateway: 'bench' } },
  spec: { rules: [{ name: 'block-x', action: 'deny', match: { domains: ['x.example'] } }] },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS;
}
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Children of `ns` labelled as the operator's, counted by cluster (instance label). */
async function childCounts(api: KubeClient, ns: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  await Promise.all(
    CHILD_KINDS.map(async (kind) => {
      const list = await api.request<{ items: KubeObject[] }>('GET', collectionPath(RESOURCES[kind], ns), {
        query: { labelSelector: 'app.kubernetes.io/managed-by=safesquid-operator' },
      });
      for (const o of list.items) {
        const c = o.metadata?.labels?.['app.kubernetes.io/instance'] ?? '';
        counts.set(c, (counts.get(c) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

async function until(what: string, deadlineMs: number, check: () => Promise<boolean>, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function writes(op: OperatorProc): Promise<number> {
  let n = 0;
  for (const verb of ['patch', 'post', 'put', 'delete'])
    n += await op.counter('safesquid_operator_kube_requests_total', { verb });
  return n;
}

async function main(): Promise<void> {
  // 120 clusters want ~42 CPUs of requests: six kwok nodes of 16.
  const cp = await startControlPlane({ nodes: 6 });
  process.env.KUBECONFIG = cp.kubeconfigPath;
  let op: OperatorProc | undefined;
  const stop = async () => {
    await op?.stop('SIGKILL');
    await cp.stop();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop().then(() => process.exit(130)));
  try {
    await installCrds();
    const api = new KubeClient(kubeconfigConnection(cp.kubeconfigPath));
    for (const ns of ['bench-ops', 'bench-one', 'bench-many']) await kubectlOk(['create', 'namespace', ns]);
    for (const ns of ['bench-one', 'bench-many']) {
      await kubectlOk(['create', 'secret', 'generic', 'pg', '-n', ns, '--from-literal=url=postgres://u:p@db:5432/r']);
      await api.request('POST', collectionPath(RESOURCES.PolicySet, ns), { body: policySet(ns) });
    }
    const identity = await operatorIdentity('bench-ops');
    op = await startOperator(identity, ['--resync-period', String(RESYNC_S)]);
    await until(
      'the operator ready',
      30_000,
      async () => (await fetch(`http://${op!.metricsAddress}/readyz`)).status === 200,
    );
    const cpu0 = cpuSeconds(op.pid);

    // One cluster at a time.
    const one: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const name = `one-${i}`;
      const t0 = performance.now();
      await api.request('POST', collectionPath(RESOURCES.SafeSquidCluster, 'bench-one'), {
        body: cluster('bench-one', name),
      });
      await until(
        `children of ${name}`,
        30_000,
        async () => ((await childCounts(api, 'bench-one')).get(name) ?? 0) >= perCluster,
      );
      one.push(performance.now() - t0);
    }

    // A hundred at once.
    const t1 = performance.now();
    const names = Array.from({ length: MANY }, (_, i) => `c${String(i).padStart(3, '0')}`);
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names.slice(i, i + 20).map((n) =>
          api.request('POST', collectionPath(RESOURCES.SafeSquidCluster, 'bench-many'), {
            body: cluster('bench-many', n),
          }),
        ),
      );
    }
    const created = performance.now() - t1;
    await until(
      `children of ${MANY} clusters`,
      300_000,
      async () => {
        const counts = await childCounts(api, 'bench-many');
        return names.every((n) => (counts.get(n) ?? 0) >= perCluster);
      },
      200,
    );
    const manyMs = performance.now() - t1;
    const cpuBuild = cpuSeconds(op.pid) - cpu0;

    // Settle (pods scheduled, statuses written), then count writes over whole resync periods.
    await until(
      'statuses settled',
      180_000,
      async () => {
        const w = await writes(op!);
        await sleep(RESYNC_S * 1000 + 2000);
        return (await writes(op!)) === w;
      },
      0,
    );
    const w0 = await writes(op);
    const r0 = await op.counter('safesquid_operator_reconciles_total', { kind: 'SafeSquidCluster' });
    const c0 = cpuSeconds(op.pid);
    const periods = 3;
    await sleep(periods * RESYNC_S * 1000 + 1000);
    const resyncWrites = (await writes(op)) - w0;
    const resyncReconciles =
      (await op.counter('safesquid_operator_reconciles_total', { kind: 'SafeSquidCluster' })) - r0;
    const idleCpu = (cpuSeconds(op.pid) - c0) / (periods * RESYNC_S);
    const total = MANY + ROUNDS;
    const rss = rssBytes(op.pid);
    const peak = peakRss(op.pid);

    const mb = (b: number) => (b / 1e6).toFixed(0);
    const row = (cells: string[]) =>
      console.log(cells.map((c, i) => (i === 0 ? c.padEnd(46) : c.padStart(14))).join(' '));
    console.log(
      `operator bench: ${perCluster} children per cluster, control plane with ${cp.nodeNames.length} kwok nodes, resync ${RESYNC_S} s`,
    );
    row(['figure', 'value', 'target']);
    row([`one cluster -> all children, p50 (ms, ${ROUNDS} runs)`, pct(one, 50).toFixed(0), '<= 2000']);
    row([`one cluster -> all children, p99 (ms)`, pct(one, 99).toFixed(0), '<= 2000']);
    row([`${MANY} clusters -> all children (ms)`, manyMs.toFixed(0), '<= 30000']);
    row([`  (of which creating the ${MANY} CRs, ms)`, created.toFixed(0), '']);
    row([`writes in ${periods} no-op resyncs of ${total} clusters`, String(resyncWrites), '0']);
    row([`  reconciles in that window`, String(resyncReconciles), `>= ${periods * total}`]);
    row(['operator RSS now (MB)', mb(rss), '<= 150']);
    row(['operator RSS peak (MB)', mb(peak), '<= 150']);
    row(['operator CPU creating all clusters (s)', cpuBuild.toFixed(1), '']);
    row(['operator CPU idle with resyncs (cores)', idleCpu.toFixed(3), '']);
    api.close();
    await op.stop();
    op = undefined;
    await identity.remove();
  } finally {
    await stop();
  }
}

main().catch((err: Error) => {
  console.error(`bench operator: ${err.stack ?? err.message}`);
  process.exit(1);
});
