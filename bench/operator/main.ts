// The operator on the real test control plane (kwok nodes), as a real process with the RBAC of
// deploy/rbac/ and no --namespace (cluster-wide): time from creating one SafeSquidCluster to all its
// children present (p50/p99 over ROUNDS, default 20); 100 clusters from nothing to every child
// present; API writes per no-op resync; the operator's RSS and CPU. Targets: <= 2 s, <= 30 s, 0,
// <= 150 MB. Bounded: every wait has a deadline; the control plane and the operator are stopped by PID.
// The machine is shared: the load average is printed beside the figures, and a figure that misses its
// target says so (a bench prints, it does not fail). Env: ROUNDS, CLUSTERS, CONCURRENCY (--concurrency).
import { readFileSync } from 'node:fs';
import { KubeClient } from '@safesquid/operator/dist/kube/client.js';
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
// The operator's --concurrency (its default when unset): the 100-cluster figure waits on round trips.
const CONCURRENCY = process.env.CONCURRENCY ? Math.max(1, Math.min(64, Number(process.env.CONCURRENCY))) : undefined;
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
function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const MANAGED = 'app.kubernetes.io/managed-by=safesquid-operator';
const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/**
 * The operator's children in one namespace, by cluster (instance label), kept current by a watch per
 * kind with names and labels only. Not polling: lists of a thousand objects several times a second
 * cost the shared API server more than the operator being measured (a polled run spent 3.6 s of bench
 * CPU and more of the API server's just looking), and a watch sees each child the moment it exists.
 */
class ChildWatch {
  private readonly present = new Map<string, Set<string>>();
  private readonly abort = new AbortController();
  private readonly checks = new Set<() => void>();
  private failure: Error | undefined;

  constructor(
    private readonly api: KubeClient,
    readonly namespace: string,
  ) {
    for (const kind of CHILD_KINDS) void this.run(kind);
  }

  private async run(kind: (typeof CHILD_KINDS)[number]): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        // No resourceVersion: each (re)start reports every existing child as ADDED first.
        await this.api.watch(
          collectionPath(RESOURCES[kind], this.namespace),
          { labelSelector: MANAGED, timeoutSeconds: 600 },
          (type, obj) => {
            const instance = obj.metadata?.labels?.['app.kubernetes.io/instance'] ?? '';
            const key = `${kind}/${obj.metadata?.name}`;
            let set = this.present.get(instance);
            if (!set) this.present.set(instance, (set = new Set()));
            if (type === 'DELETED') set.delete(key);
            else if (type === 'ADDED' || type === 'MODIFIED') set.add(key);
            for (const check of this.checks) check();
          },
          signal,
          METADATA_ONLY,
        );
      } catch (err) {
        if (signal.aborted) return;
        this.failure = new Error(`watch of ${kind} in ${this.namespace}: ${(err as Error).message}`);
        for (const check of this.checks) check();
        return;
      }
    }
  }

  count(cluster: string): number {
    return this.present.get(cluster)?.size ?? 0;
  }

  /** Resolves when every cluster of `names` has `n` children (checked at each event), or fails after `deadlineMs`. */
  untilChildren(names: string[], n: number, deadlineMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.checks.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (this.failure) done(this.failure);
        else if (names.every((c) => this.count(c) >= n)) done();
      };
      const timer = setTimeout(() => {
        const short = names.filter((c) => this.count(c) < n);
        done(
          new Error(
            `timed out after ${deadlineMs} ms waiting for the children of ${short.length} clusters (${short.slice(0, 5).join(', ')}...)`,
          ),
        );
      }, deadlineMs);
      this.checks.add(check);
      check();
    });
  }

  stop(): void {
    this.abort.abort();
  }
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

/** The operator's API requests so far by verb, and its SafeSquidCluster reconciles. */
async function requestCounts(op: OperatorProc): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const verb of ['get', 'list', 'patch', 'post', 'delete'])
    m.set(verb, await op.counter('safesquid_operator_kube_requests_total', { verb }));
  m.set('reconciles', await op.counter('safesquid_operator_reconciles_total', { kind: 'SafeSquidCluster' }));
  return m;
}

async function main(): Promise<void> {
  // 120 clusters want ~42 CPUs of requests: six kwok nodes of 16.
  const cp = await startControlPlane({ nodes: 6 });
  process.env.KUBECONFIG = cp.kubeconfigPath;
  let op: OperatorProc | undefined;
  const watches: ChildWatch[] = [];
  const stop = async () => {
    for (const w of watches) w.stop();
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
    const oneWatch = new ChildWatch(api, 'bench-one');
    const manyWatch = new ChildWatch(api, 'bench-many');
    watches.push(oneWatch, manyWatch);
    const identity = await operatorIdentity('bench-ops');
    op = await startOperator(identity, [
      '--resync-period',
      String(RESYNC_S),
      ...(CONCURRENCY ? ['--concurrency', String(CONCURRENCY)] : []),
    ]);
    await until(
      'the operator ready',
      30_000,
      async () => (await fetch(`http://${op!.metricsAddress}/readyz`)).status === 200,
    );
    const cpu0 = cpuSeconds(op.pid);
    const loadStart = loadAverage();

    // One cluster at a time.
    const one: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const name = `one-${i}`;
      const t0 = performance.now();
      await api.request('POST', collectionPath(RESOURCES.SafeSquidCluster, 'bench-one'), {
        body: cluster('bench-one', name),
      });
      await oneWatch.untilChildren([name], perCluster, 30_000);
      one.push(performance.now() - t0);
    }
    const loadOne = loadAverage();

    // A hundred at once.
    // CPU seconds of each process in that phase: on a shared machine they say more than wall time.
    const cpuOf = () => {
      const m = new Map<string, number>([['operator', cpuSeconds(op!.pid)]]);
      for (const p of cp.processes) m.set(p.name, cpuSeconds(p.pid));
      const own = process.cpuUsage();
      m.set('bench (this process)', (own.user + own.system) / 1e6);
      return m;
    };
    const cpuMany0 = cpuOf();
    const requests0 = await requestCounts(op);
    const loadManyStart = loadAverage();
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
    await manyWatch.untilChildren(names, perCluster, 300_000);
    const manyMs = performance.now() - t1;
    const loadMany = loadAverage();
    const cpuMany = [...cpuOf()].map(([name, s]) => [name, s - (cpuMany0.get(name) ?? 0)] as const);
    const requestsMany = [...(await requestCounts(op))].map(([k, n]) => `${n - (requests0.get(k) ?? 0)} ${k}`);
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
    const loadEnd = loadAverage();

    const mb = (b: number) => b / 1e6;
    const missed: string[] = [];
    const row = (figure: string, value: string, target = '', ok?: boolean) => {
      if (ok === false) missed.push(figure.trim());
      const verdict = ok === undefined ? '' : ok ? 'ok' : 'MISSED';
      console.log(`${figure.padEnd(50)} ${value.padStart(10)} ${target.padStart(10)} ${verdict}`);
    };
    const p50 = pct(one, 50);
    const p99 = pct(one, 99);
    console.log(
      `operator bench: ${perCluster} children per cluster, control plane with ${cp.nodeNames.length} kwok nodes, resync ${RESYNC_S} s, concurrency ${CONCURRENCY ?? 'default (16)'}, ${new Date().toISOString()}`,
    );
    console.log(
      `load average (1/5/15 min): start ${loadStart}; after one-by-one ${loadOne}; ${MANY} clusters from ${loadManyStart} to ${loadMany}; end ${loadEnd} (2 CPUs shared with other jobs)`,
    );
    row('figure', 'value', 'target');
    row(`one cluster -> all children, p50 (ms, ${ROUNDS} runs)`, p50.toFixed(0), '<= 2000', p50 <= 2000);
    row(`one cluster -> all children, p99 (ms)`, p99.toFixed(0), '<= 2000', p99 <= 2000);
    row(`${MANY} clusters -> all children (ms)`, manyMs.toFixed(0), '<= 30000', manyMs <= 30_000);
    row(`  (of which creating the ${MANY} CRs, ms)`, created.toFixed(0));
    for (const [name, sec] of cpuMany) row(`  CPU of ${name} in that time (s)`, sec.toFixed(1));
    console.log(`  operator requests and reconciles in that time: ${requestsMany.join(', ')}`);
    row(`writes in ${periods} no-op resyncs of ${total} clusters`, String(resyncWrites), '0', resyncWrites === 0);
    row(
      `  reconciles in that window`,
      String(resyncReconciles),
      `>= ${periods * total}`,
      resyncReconciles >= periods * total,
    );
    row('operator RSS now (MB)', mb(rss).toFixed(0), '<= 150', mb(rss) <= 150);
    row('operator RSS peak (MB)', mb(peak).toFixed(0), '<= 150', mb(peak) <= 150);
    row('operator CPU creating all clusters (s)', cpuBuild.toFixed(1));
    row('operator CPU idle with resyncs (cores)', idleCpu.toFixed(3));
    console.log(missed.length ? `targets MISSED: ${missed.join('; ')}` : 'all targets met');
    for (const w of watches) w.stop();
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
