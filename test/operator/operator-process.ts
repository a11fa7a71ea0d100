/**
 * The operator as the cluster tests run it: a real `node operator/dist/main.js` process whose only
 * credentials are a ServiceAccount token (TokenRequest API) bound to the roles of `deploy/rbac/`, so
 * a permission missing there fails a test. Every process started here is stopped by PID.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { startChild, type ChildHandle } from '../support/child-process.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { eventually, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';
import { OPERATOR_LOG } from '@safesquid/operator/log-messages';

const here = fileURLToPath(new URL('.', import.meta.url));
export const REPO = resolve(here, basename(resolve(here, '..')) === 'dist' ? '../../..' : '../..');
export const OPERATOR_MAIN = join(REPO, 'operator/dist/main.js');
const RBAC_DIR = join(REPO, 'deploy/rbac');
const RBAC_NAMESPACE = 'safesquid-system';

/** `kubectl apply -f crds/` and wait until both CRDs serve. */
export async function installCrds(): Promise<void> {
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds')]);
  // Not `kubectl wait`: it fails at once, instead of waiting, while a new CRD has no conditions yet.
  await eventually(
    'both CRDs Established',
    async () => {
      const crds = await Promise.all(
        ['safesquidclusters.safesquid.io', 'policysets.safesquid.io'].map((n) =>
          getJson<{ status?: { conditions?: { type: string; status: string }[] } }>(['crd', n]),
        ),
      );
      const established = crds.every((c) =>
        c?.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'),
      );
      return established || undefined;
    },
    60_000,
  );
}

export interface OperatorIdentity {
  namespace: string;
  serviceAccount: string;
  kubeconfigPath: string;
  dir: TempDir;
  /** Removes the cluster-scoped bindings this identity made and its files. */
  remove(): Promise<void>;
}

/**
 * Installs deploy/rbac/ for an operator living in `namespace`: the ServiceAccount, the leader-election
 * Role, and either the ClusterRole (its cluster-scoped names suffixed with the namespace, so test files
 * running at once do not rebind each other's) or, with `watchNamespace`, the namespaced Role there.
 * The rules are applied as written. Then a token for the ServiceAccount and a kubeconfig using it.
 */
export async function operatorIdentity(
  namespace: string,
  o: { watchNamespace?: string } = {},
): Promise<OperatorIdentity> {
  const files = [
    'service_account.yaml',
    'leader_election_role.yaml',
    o.watchNamespace ? 'namespaced/role.yaml' : 'cluster_role.yaml',
  ];
  const suffix = `-${namespace}`;
  const clusterScoped: string[] = [];
  const docs: unknown[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(RBAC_DIR, f), 'utf8'))) {
      const obj = doc.toJS() as {
        kind: string;
        metadata: { name: string; namespace?: string };
        roleRef?: { kind: string; name: string };
        subjects?: { namespace?: string }[];
      };
      if (obj.metadata.namespace === RBAC_NAMESPACE) obj.metadata.namespace = namespace;
      for (const s of obj.subjects ?? []) if (s.namespace === RBAC_NAMESPACE) s.namespace = namespace;
      if (obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding') {
        obj.metadata.name += suffix;
        clusterScoped.push(`${obj.kind.toLowerCase()}/${obj.metadata.name}`);
      }
      if (obj.roleRef?.kind === 'ClusterRole') obj.roleRef.name += suffix;
      // The namespaced variant: Role and RoleBinding go to the watched namespace.
      if (f.startsWith('namespaced/')) obj.metadata.namespace = o.watchNamespace;
      docs.push(obj);
    }
  }
  await kubectlOk(['apply', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
  const token = (await kubectlOk(['create', 'token', 'safesquid-operator', '-n', namespace, '--duration=3h'])).trim();
  const admin = parseAllDocuments(readFileSync(process.env.KUBECONFIG!, 'utf8'))[0].toJS() as {
    clusters: {
      cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string };
    }[];
  };
  const cluster = admin.clusters[0].cluster;
  const dir = tempDir('operator');
  const kubeconfigPath = join(dir.path, 'kubeconfig');
  writeFileSync(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster }],
      users: [{ name: 'safesquid-operator', user: { token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'safesquid-operator', namespace } }],
      'current-context': 'test',
    }),
    { mode: 0o600 },
  );
  return {
    namespace,
    serviceAccount: `system:serviceaccount:${namespace}:safesquid-operator`,
    kubeconfigPath,
    dir,
    async remove() {
      for (const ref of clusterScoped) await kubectl(['delete', ref, '--ignore-not-found', '--wait=false']);
      dir.remove();
    },
  };
}

export interface OperatorProc extends ChildHandle {
  /** host:port of /metrics, /healthz, /readyz. */
  metricsAddress: string;
  metrics(): Promise<string>;
  /** The sum of a counter over the series whose labels include `labels`. */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
  /** JSON log lines so far. */
  logs(): Record<string, unknown>[];
}

export async function startOperator(
  identity: OperatorIdentity,
  args: string[] = [],
  o: { what?: string; readyTimeoutMs?: number } = {},
): Promise<OperatorProc> {
  const what = o.what ?? 'the operator';
  const child = startChild(
    what,
    process.execPath,
    [OPERATOR_MAIN, '--kubeconfig', identity.kubeconfigPath, '--metrics-listen', '127.0.0.1:0', ...args],
    {
      env: { ...process.env, KUBECONFIG: '', POD_NAMESPACE: '' },
    },
  );
  const logs: Record<string, unknown>[] = [];
  child.onLine((line) => {
    if (!line.startsWith('{')) return;
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* not a log line */
    }
  });
  const timeoutMs = o.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let address: string | undefined;
  while (!address) {
    address = logs.find((l) => l.msg === OPERATOR_LOG.started)?.metrics as string | undefined;
    if (address) break;
    if (!child.running() || Date.now() > deadline) {
      await child.stop('SIGKILL');
      throw new Error(`${what} did not start (${child.exitDescription()}):\n${child.outputTail(50)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const metricsAddress = address;
  const metrics = async () => (await fetch(`http://${metricsAddress}/metrics`)).text();
  return Object.assign(child, {
    metricsAddress,
    metrics,
    logs: () => logs,
    async counter(name: string, labels: Record<string, string> = {}) {
      let sum = 0;
      for (const line of (await metrics()).split('\n')) {
        const m = /^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const l = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(labels).every(([k, v]) => l[k] === v)) sum += Number(m[3]);
      }
      return sum;
    },
  });
}

/** A SafeSquidCluster's condition, or undefined. */
export async function condition(
  ns: string,
  name: string,
  type: string,
): Promise<{ status: string; reason: string; message: string } | undefined> {
  const ssc = await getJson<{
    status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
  }>(['ssc', name, '-n', ns]);
  return ssc?.status?.conditions?.find((c) => c.type === type);
}

/** The children a SafeSquidCluster named `name` should have (kind/name), as `kubectl get` takes them. */
export function expectedChildren(name: string, o: { hpa?: boolean; pvc?: boolean } = {}): string[] {
  return [
    `serviceaccount/${name}-master`,
    `role.rbac.authorization.k8s.io/${name}-master`,
    `rolebinding.rbac.authorization.k8s.io/${name}-master`,
    `secret/${name}-sync-token`,
    `secret/${name}-admin`,
    `configmap/${name}-policy`,
    ...(o.pvc === false ? [] : [`persistentvolumeclaim/${name}-master-data`]),
    `deployment.apps/${name}-master`,
    `service/${name}-master`,
    `service/${name}-slave`,
    `service/${name}-proxy`,
    `statefulset.apps/${name}-slave`,
    ...(o.hpa === false ? [] : [`horizontalpodautoscaler.autoscaling/${name}-slave`]),
    `poddisruptionbudget.policy/${name}-slave`,
    `networkpolicy.networking.k8s.io/${name}-master`,
    `networkpolicy.networking.k8s.io/${name}-slave`,
  ];
}

/**
 * PersistentVolumes bound ahead to the claims a cluster will make (the test control plane has no
 * provisioner): hostPath volumes nothing mounts, since kwok runs no containers. Returns their names.
 */
export async function prebindVolumes(ns: string, claims: { name: string; size: string }[]): Promise<string[]> {
  const pvs = claims.map((c) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pv-${ns}-${c.name}`, labels: { 'safesquid-test': ns } },
    spec: {
      capacity: { storage: c.size },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      hostPath: { path: `/tmp/kwok-volumes/${ns}/${c.name}` },
      claimRef: { namespace: ns, name: c.name },
    },
  }));
  await kubectlOk(['apply', '-f', '-'], pvs.map((p) => stringify(p)).join('---\n'));
  return pvs.map((p) => p.metadata.name);
}

export async function removeVolumes(ns: string): Promise<void> {
  await kubectl(['delete', 'pv', '-l', `safesquid-test=${ns}`, '--wait=false', '--ignore-not-found']);
}

/** Volumes for a cluster's master data claim and `slaves` spool claims. */
export function clusterClaims(name: string, slaves: number, o: { masterSize?: string; spoolSize?: string } = {}) {
  return [
    { name: `${name}-master-data`, size: o.masterSize ?? '10Gi' },
    ...Array.from({ length: slaves }, (_, i) => ({ name: `state-${name}-slave-${i}`, size: o.spoolSize ?? '1Gi' })),
  ];
}
