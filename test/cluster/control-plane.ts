import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/free-port.js';
import { KubeHttp, probe } from './kube-http.js';
import { locateKubeBinaries } from './kube-binaries.js';
import { createPki, type ControlPlanePki } from './pki.js';
import {
  cleanUpRealNodeHost,
  DEFAULT_POD_NETWORK,
  drainRealNode,
  lockRealNode,
  prepareRealNodeHost,
  realNodeApiServerArgs,
  realNodeState,
  startRealNode,
  unlockRealNode,
  type RealNode,
  type RealNodeState,
  type StartedRealNode,
} from './real-node.js';
import {
  killProcessesNow,
  logTail,
  startProcess,
  startReaper,
  stopProcesses,
  type ControlPlaneProcess,
  type StartedProcess,
} from './processes.js';

export interface ControlPlaneOptions {
  /** Fake kwok nodes to register (default 3; 0 with a real node, and tainted NoSchedule if asked for). */
  nodes?: number;
  /**
   * Also run one real node on this machine (real-node.ts): containerd, kubelet, kube-proxy, cluster
   * DNS and a default StorageClass. Needs root, the Debian packages of .ci/install-debian-packages
   * and the kubelet and kube-proxy of `make kube-binaries`. One at a time per machine.
   */
  realNode?: boolean;
  /** With the real node, metrics-server for the HPA (default true). */
  metricsServer?: boolean;
  /** For a detached real node: the compiled node-services-main.js (cli.ts passes it). */
  realNodeServicesEntry?: string;
  /** Leave the processes running after this Node process exits (`make cluster-up`). Default false. */
  detached?: boolean;
  /** Give up if the whole control plane is not ready by then (default 120 s). */
  startTimeoutMs?: number;
  /** HPA controller sync period; short so tests see HPA status quickly (default 2s). */
  hpaSyncPeriod?: string;
  /** Keep the temp dir (logs, etcd data) after stop(); it is always kept when start-up fails. */
  keepDir?: boolean;
  /** Progress lines; default silent. */
  log?: (line: string) => void;
}

export interface ControlPlane {
  /** Admin kubeconfig (client certificate in system:masters). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port>; with a real node https://<node IP>:<port> (pods reach it there). */
  server: string;
  /** Temp dir with certificates, logs and etcd data. */
  dir: string;
  processes: ControlPlaneProcess[];
  /** The kwok nodes. */
  nodeNames: string[];
  /** The real node, when asked for. */
  realNode?: RealNode;
  /** What tearing the real node down needs (cli.ts keeps it in state.json for `make cluster-down`). */
  realNodeState?: RealNodeState;
  /** Milliseconds from the call to a ready control plane with Ready nodes. */
  startupMs: number;
  /** Stops every process by PID (SIGTERM, then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

// The 'kubernetes' Service takes the first address of this range; nothing routes to it.
const SERVICE_CIDR = '10.96.0.0/24';
const SERVICE_IP = '10.96.0.1';
// Pod IPs kwok writes into pod status: bookkeeping only, no interface carries them.
const POD_CIDR = '10.244.0.0/24';
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Non-detached processes and temp dirs of every control plane in this Node process, killed and
// removed if it exits early.
const owned = new Set<ControlPlaneProcess>();
const ownedDirs = new Set<string>();
// Real nodes whose host changes are still to be undone.
const ownedNodes = new Set<RealNodeState>();
let exitHooksInstalled = false;

function cleanUpNow(): void {
  killProcessesNow([...owned]);
  for (const node of ownedNodes) cleanUpRealNodeHost(node);
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', cleanUpNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanUpNow();
      process.kill(process.pid, sig);
    });
  }
}

function kubeconfig(server: string, pki: ControlPlanePki): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: safesquid-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${pki.caCert}`,
    'users:',
    '- name: admin',
    '  user:',
    `    client-certificate: ${pki.adminCert}`,
    `    client-key: ${pki.adminKey}`,
    'contexts:',
    '- name: safesquid-test',
    '  context:',
    '    cluster: safesquid-test',
    '    user: admin',
    'current-context: safesquid-test',
    '',
  ].join('\n');
}

function fakeNode(name: string, tainted: boolean): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    // Beside a real node, pods land on a kwok node only when they tolerate it.
    spec: tainted ? { taints: [{ key: KWOK_NODE_ANNOTATION, value: 'fake', effect: 'NoSchedule' }] } : {},
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
    status: {
      allocatable: { cpu: '16', memory: '64Gi', pods: '110' },
      capacity: { cpu: '16', memory: '64Gi', pods: '110' },
    },
  };
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free 127.0.0.1 ports
 * with data in a new temp dir, registers fake nodes, and resolves once the API is ready, the nodes are
 * Ready and the default ServiceAccount exists (pods can be created). On any failure everything started
 * so far is stopped and the error names the component and the tail of its log.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const detached = opts.detached ?? false;
  const withRealNode = opts.realNode ?? false;
  const deadline = t0 + (opts.startTimeoutMs ?? (withRealNode ? 180_000 : 120_000));
  const withMetricsServer = withRealNode && (opts.metricsServer ?? true);
  const bins = locateKubeBinaries([
    ...(withRealNode ? (['kubelet', 'kubeProxy'] as const) : []),
    ...(withMetricsServer ? (['metricsServer'] as const) : []),
  ]);
  const dir = mkdtempSync(join(process.env.SAFESQUID_KUBE_TMP || tmpdir(), 'safesquid-kube-'));
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  const started: StartedProcess[] = [];
  if (!detached) {
    installExitHooks();
    if (!opts.keepDir) ownedDirs.add(dir);
  }

  const launch = (name: string, binary: string, args: string[]): StartedProcess => {
    const p = startProcess(name, binary, args, logDir, detached);
    started.push(p);
    if (!detached) owned.add(p);
    log(`started ${name} (pid ${p.pid})`);
    return p;
  };

  let nodeState: RealNodeState | null = null;
  let node: StartedRealNode | null = null;
  let api: KubeHttp | null = null;

  const stop = async (removeDir: boolean): Promise<void> => {
    // Pods first, while the kubelet can still take their sandboxes down.
    if (node && api) await drainRealNode(api, node.state, 30_000, log);
    await node?.closeInProcess();
    // Reverse start order: clients before the API server, the API server before etcd.
    await stopProcesses([...started].reverse());
    for (const p of started) owned.delete(p);
    if (nodeState) {
      const left = cleanUpRealNodeHost(nodeState, log);
      ownedNodes.delete(nodeState);
      if (left.length > 0)
        process.stderr.write(
          `test control plane: the real node's teardown left on the host:\n  ${left.join('\n  ')}\n`,
        );
    }
    // A failed start keeps its logs for the error message's reader, even past exit.
    ownedDirs.delete(dir);
    if (removeDir) rmSync(dir, { recursive: true, force: true });
  };

  // Polls `check` until it returns true; fails fast if `proc` exits, and at the overall deadline.
  const waitFor = async (what: string, proc: StartedProcess, check: () => Promise<boolean>): Promise<void> => {
    let lastError = '';
    for (;;) {
      if (proc.exit) {
        throw new Error(
          `${proc.name} exited (code ${proc.exit.code}, signal ${proc.exit.signal}) before ${what}; ` +
            `log ${proc.logPath}:\n${logTail(proc.logPath)}`,
        );
      }
      try {
        if (await check()) return;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}; ` +
            `log ${proc.logPath}:\n${logTail(proc.logPath)}`,
        );
      }
      await sleep(200);
    }
  };

  try {
    const network = DEFAULT_POD_NETWORK;
    if (withRealNode) {
      lockRealNode(dir, detached);
      let hostBefore;
      try {
        hostBefore = prepareRealNodeHost(bins, network, SERVICE_CIDR);
      } catch (err) {
        unlockRealNode(dir);
        throw err;
      }
      nodeState = realNodeState(dir, hostBefore);
      if (!detached) ownedNodes.add(nodeState);
    }
    const [etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort] = await Promise.all(
      Array.from({ length: 6 }, () => freePort()),
    );
    // With a real node the API server listens on the node IP, where pods reach it.
    const apiIp = withRealNode ? network.nodeIp : '127.0.0.1';
    const pki = await createPki(join(dir, 'pki'), SERVICE_IP, withRealNode ? [network.nodeIp] : []);
    const server = `https://${apiIp}:${apiPort}`;
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfig(server, pki), { mode: 0o600 });

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = launch('etcd', bins.etcd, [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--initial-cluster-state=new',
      // Throw-away data: durability buys nothing here and fsync latency slows every API write.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await waitFor('etcd health', etcd, async () => (await probe(`${etcdUrl}/health`)).body.includes('"health":"true"'));

    const apiserver = launch('kube-apiserver', bins.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${apiIp}`,
      `--advertise-address=${apiIp}`,
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=Node,RBAC',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--allow-privileged=true',
      ...(withRealNode
        ? await realNodeApiServerArgs(pki, join(dir, 'pki'))
        : [
            // The endpoints of the 'kubernetes' Service would be 127.0.0.1, which Endpoints validation refuses.
            '--endpoint-reconciler-type=none',
          ]),
      '--profiling=false',
      '--v=0',
    ]);
    api = new KubeHttp(server, pki);
    const kube = api;
    await waitFor('kube-apiserver /readyz', apiserver, async () => (await kube.send('GET', '/readyz')).status === 200);
    log(`kube-apiserver ready at ${server} after ${Date.now() - t0} ms`);

    const common = [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
      '--profiling=false',
      '--v=0',
    ];
    const kcm = launch('kube-controller-manager', bins.kubeControllerManager, [
      ...common,
      `--secure-port=${kcmPort}`,
      `--cert-dir=${join(dir, 'kcm-certs')}`,
      '--controllers=*',
      '--use-service-account-credentials=false',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      `--horizontal-pod-autoscaler-sync-period=${opts.hpaSyncPeriod ?? '2s'}`,
      '--cluster-name=safesquid-test',
    ]);
    const scheduler = launch('kube-scheduler', bins.kubeScheduler, [
      ...common,
      `--secure-port=${schedPort}`,
      `--cert-dir=${join(dir, 'scheduler-certs')}`,
    ]);
    const nodeNames = Array.from({ length: opts.nodes ?? (withRealNode ? 0 : 3) }, (_, i) => `kwok-node-${i}`);
    const kwok =
      nodeNames.length === 0
        ? null
        : launch('kwok', bins.kwok, [
            `--kubeconfig=${kubeconfigPath}`,
            '--manage-all-nodes=false',
            `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
            '--manage-nodes-with-label-selector=',
            '--manage-single-node=',
            `--cidr=${POD_CIDR}`,
            '--node-ip=10.244.0.1',
            '--node-lease-duration-seconds=40',
            `--server-address=127.0.0.1:${kwokPort}`,
          ]);

    // A real node's processes are not in the reaper's list (they start later); its dir may hold
    // mounts, so the reaper leaves it alone.
    if (!detached) {
      const reaper = startReaper([...started], opts.keepDir || withRealNode ? '' : dir, logDir);
      started.push(reaper);
      owned.add(reaper);
    }

    for (const name of nodeNames) {
      const res = await kube.send('POST', '/api/v1/nodes', fakeNode(name, withRealNode));
      if (res.status !== 201) throw new Error(`registering fake node ${name}: HTTP ${res.status} ${res.body}`);
    }
    const startingNode = nodeState
      ? startRealNode(
          {
            dir,
            server,
            adminKubeconfig: kubeconfigPath,
            pki,
            api: kube,
            bins,
            network,
            serviceCidr: SERVICE_CIDR,
            metricsServer: withMetricsServer,
            detached,
            servicesEntry: opts.realNodeServicesEntry,
            launch,
            waitFor,
            log,
          },
          nodeState.hostBefore,
        ).then((n) => {
          node = n;
        })
      : null;
    // Every wait settles before a failure is thrown, so nothing starts after the cleanup.
    const results = await Promise.allSettled([
      startingNode,
      waitFor(
        'kube-controller-manager /healthz',
        kcm,
        async () => (await probe(`https://127.0.0.1:${kcmPort}/healthz`)).status === 200,
      ),
      waitFor(
        'kube-scheduler /healthz',
        scheduler,
        async () => (await probe(`https://127.0.0.1:${schedPort}/healthz`)).status === 200,
      ),
      kwok &&
        waitFor(`kwok to mark ${nodeNames.length} nodes Ready`, kwok, async () => {
          const res = await kube.send('GET', '/api/v1/nodes?labelSelector=type%3Dkwok');
          const items =
            (JSON.parse(res.body) as { items?: { status?: { conditions?: { type: string; status: string }[] } }[] })
              .items ?? [];
          const ready = items.filter((n) =>
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
          return ready.length === nodeNames.length;
        }),
      // Pods are refused until the controller-manager has created the namespace's default ServiceAccount.
      waitFor(
        'the default ServiceAccount',
        kcm,
        async () => (await kube.send('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
      ),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const startupMs = Date.now() - t0;
    log(`control plane ready after ${startupMs} ms (${dir})`);

    let stopped = false;
    return {
      kubeconfigPath,
      server,
      dir,
      processes: started
        .filter((p) => p.name !== 'reaper')
        .map(({ name, pid, binary, logPath }) => ({ name, pid, binary, logPath })),
      nodeNames,
      realNode: (node as StartedRealNode | null)?.info,
      realNodeState: nodeState ?? undefined,
      startupMs,
      async stop() {
        if (stopped) return;
        stopped = true;
        await stop(!opts.keepDir);
      },
    };
  } catch (err) {
    await stop(false);
    throw new Error(`test control plane did not start (files kept in ${dir}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}
