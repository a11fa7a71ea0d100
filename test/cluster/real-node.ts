// One real node beside the control plane: containerd, the CNI bridge, a kubelet and kube-proxy on
// this machine, with cluster DNS and a hostPath provisioner, so pods run for real (kwok nodes only
// pretend). Started by startControlPlane({ realNode: true }); everything it changes on the host is
// recorded first (host-state.ts) and put back by its teardown.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBridge, DEFAULT_POD_NETWORK, writeCniConfig, type PodNetwork } from './cni.js';
import { CLUSTER_DOMAIN, startClusterDns, type ClusterDns } from './cluster-dns.js';
import { CNI_BIN_DIR, CONTAINERD, containerdPaths, ctr, loadImage, writeContainerdConfig } from './containerd.js';
import { hostToolsMissing, pidsWithArg, restoreHost, snapshotHost, type HostSnapshot } from './host-state.js';
import { startHostPathProvisioner, STORAGE_CLASS, type HostPathProvisioner } from './host-path-provisioner.js';
import { probe, type KubeHttp } from './kube-http.js';
import type { KubeBinaries } from './kube-binaries.js';
import { testImages } from './local-images.js';
import type { ControlPlanePki } from './pki.js';
import { rssBytes, type StartedProcess } from './processes.js';
import { issueCert, LEAF_EXTENSIONS } from '../support/test-pki.js';
import { freePort } from '../support/free-port.js';

export const REAL_NODE_NAME = 'safesquid-node';
/** Label of the real node: `nodeSelector: { 'safesquid.io/real-node': 'true' }` puts a pod there. */
export const REAL_NODE_LABEL = 'safesquid.io/real-node';

/** What tests need to know about the real node (ControlPlane.realNode). */
export interface RealNode {
  nodeName: string;
  /** The node's InternalIP (the pod bridge's address): kubelet, API server, cluster DNS and NodePorts listen here. */
  nodeIp: string;
  podCidr: string;
  serviceCidr: string;
  clusterDomain: string;
  /** The nameserver pods use (cluster DNS, port 53 UDP). */
  dnsServer: string;
  /** containerd's socket (`ctr --address`; loadImage's `address`). */
  containerdSocket: string;
  /** The default StorageClass; claims bind at once to a hostPath volume on this node. */
  storageClass: string;
  /** Image names already imported: a pod sandbox image and a busybox for tests. */
  images: { pause: string; busybox: string };
  /** Imports a docker-archive or OCI tar into the node's containerd; resolves to the names imported. */
  loadImage(archivePath: string, name?: string): Promise<string[]>;
  /** Resident memory of the node's own processes (containerd, its shims, kubelet, kube-proxy, metrics-server), bytes. */
  memoryBytes(): number;
}

/** What teardown needs, also from another process (`make cluster-down` reads it from state.json). */
export interface RealNodeState {
  nodeName: string;
  /** The control plane's dir (volumes, containerd and kubelet dirs are inside). */
  dir: string;
  containerdSocket: string;
  hostBefore: HostSnapshot;
}

export interface RealNodeContext {
  dir: string;
  server: string;
  adminKubeconfig: string;
  pki: ControlPlanePki;
  api: KubeHttp;
  bins: KubeBinaries;
  network: PodNetwork;
  serviceCidr: string;
  /** Start metrics-server (the HPA's CPU source). */
  metricsServer: boolean;
  detached: boolean;
  /** For a detached node: the compiled node-services-main.js that serves DNS and volumes in a process of its own. */
  servicesEntry?: string;
  launch(name: string, binary: string, args: string[]): StartedProcess;
  waitFor(what: string, proc: StartedProcess, check: () => Promise<boolean>): Promise<void>;
  log(line: string): void;
}

export interface StartedRealNode {
  info: RealNode;
  state: RealNodeState;
  /** Stops what runs inside this Node process (DNS, provisioner); the processes are stopped by PID by the caller. */
  closeInProcess(): Promise<void>;
}

// One real node per machine: its teardown undoes whatever appeared on the host since it started, so
// a second one starting (or failing to start) meanwhile would take the first one's changes away.
const LOCK = '/run/safesquid-real-node.lock';

interface LockOwner {
  pid: number;
  dir: string;
  detached: boolean;
}

function lockHeld(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch {
    // A detached node outlives the command that started it; its dir goes with `make cluster-down`.
    return owner.detached && existsSync(owner.dir);
  }
}

/** Takes the machine's real-node lock for the control plane in `dir`, or says who holds it. */
export function lockRealNode(dir: string, detached: boolean): void {
  const me: LockOwner = { pid: process.pid, dir, detached };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeFileSync(fd, JSON.stringify(me));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: LockOwner | null = null;
    try {
      owner = JSON.parse(readFileSync(LOCK, 'utf8')) as LockOwner;
    } catch {
      // half-written or unreadable: treat as stale
    }
    if (owner && lockHeld(owner)) {
      throw new Error(
        `real node: another one runs on this machine (pid ${owner.pid}, ${owner.dir}${owner.detached ? ', started by make cluster-up: make cluster-down stops it' : ''}); ` +
          `one at a time (${LOCK})`,
      );
    }
    rmSync(LOCK, { force: true });
  }
  throw new Error(`real node: could not take ${LOCK}`);
}

/** Gives the lock back if the control plane in `dir` holds it. */
export function unlockRealNode(dir: string): void {
  try {
    if ((JSON.parse(readFileSync(LOCK, 'utf8')) as LockOwner).dir === dir) rmSync(LOCK, { force: true });
  } catch {
    // not ours, or gone
  }
}

/**
 * Checks the host has what a real node needs, records the host's state, and creates the pod bridge
 * whose address is the node IP (the API server binds to it, so this comes before the control plane).
 * Call lockRealNode first.
 */
export function prepareRealNodeHost(bins: KubeBinaries, network: PodNetwork, serviceCidr: string): HostSnapshot {
  const missing = [
    ...[
      CONTAINERD,
      '/usr/sbin/runc',
      '/usr/bin/containerd-shim-runc-v2',
      '/usr/bin/ctr',
      join(CNI_BIN_DIR, 'bridge'),
      join(CNI_BIN_DIR, 'host-local'),
      join(CNI_BIN_DIR, 'portmap'),
      join(CNI_BIN_DIR, 'loopback'),
      '/usr/sbin/conntrack',
    ].filter((p) => !existsSync(p)),
    ...hostToolsMissing(),
  ];
  if (missing.length > 0) {
    throw new Error(
      `real node: missing ${missing.join(', ')}; install the Debian packages with: make system-deps (bash .ci/install-debian-packages)`,
    );
  }
  if (process.getuid?.() !== 0) throw new Error('real node: needs root (containerd, network namespaces, iptables)');
  const before = snapshotHost();
  createBridge(network, serviceCidr);
  return before;
}

/** The teardown state of the real node of the control plane in `dir` (its paths follow from `dir`). */
export function realNodeState(dir: string, hostBefore: HostSnapshot): RealNodeState {
  return {
    nodeName: REAL_NODE_NAME,
    dir,
    containerdSocket: containerdPaths(join(dir, 'node', 'containerd')).socket,
    hostBefore,
  };
}

/**
 * The API server's flags for a real node: logs, exec and port-forward go to the kubelet's InternalIP
 * with both sides checked against the CA, and the aggregation layer (front-proxy client certificate,
 * request headers) serves metrics-server's metrics.k8s.io.
 */
export async function realNodeApiServerArgs(pki: ControlPlanePki, pkiDir: string): Promise<string[]> {
  const frontProxy = await issueCert(
    pkiDir,
    { cert: pki.caCert, key: pki.caKey },
    'front-proxy-client',
    '/CN=front-proxy-client',
    [...LEAF_EXTENSIONS, 'extendedKeyUsage=clientAuth'],
  );
  return [
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
    `--kubelet-certificate-authority=${pki.caCert}`,
    '--kubelet-preferred-address-types=InternalIP',
    `--proxy-client-cert-file=${frontProxy.cert}`,
    `--proxy-client-key-file=${frontProxy.key}`,
    `--requestheader-client-ca-file=${pki.caCert}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    // To metrics-server's endpoint directly rather than through its ClusterIP.
    '--enable-aggregator-routing=true',
  ];
}

function kubeconfigFor(server: string, ca: string, cert: string, key: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'safesquid-test', cluster: { server, 'certificate-authority': ca } }],
    users: [{ name: 'node', user: { 'client-certificate': cert, 'client-key': key } }],
    contexts: [{ name: 'safesquid-test', context: { cluster: 'safesquid-test', user: 'node' } }],
    'current-context': 'safesquid-test',
  });
}

interface NodeStatus {
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[] };
}

/** Starts containerd, the kubelet, kube-proxy, cluster DNS and the provisioner; resolves once the node is Ready. */
export async function startRealNode(ctx: RealNodeContext, hostBefore: HostSnapshot): Promise<StartedRealNode> {
  const { dir, network, api, pki } = ctx;
  const nodeName = REAL_NODE_NAME;
  const nodeDir = join(dir, 'node');
  mkdirSync(nodeDir, { recursive: true });
  const cd = containerdPaths(join(nodeDir, 'containerd'));
  const images = testImages();
  writeCniConfig(network, join(nodeDir, 'cni', 'net.d'), join(nodeDir, 'cni'));
  writeContainerdConfig(cd, { sandboxImage: images.pause.ref, cniConfDir: join(nodeDir, 'cni', 'net.d') });
  const state = realNodeState(dir, hostBefore);

  const containerd = ctx.launch('containerd', CONTAINERD, ['--config', cd.config]);
  // Certificates while containerd comes up.
  const ca = { cert: pki.caCert, key: pki.caKey };
  const pkiDir = join(nodeDir, 'pki');
  mkdirSync(pkiDir, { recursive: true });
  const [kubeletClient, kubeletServing] = await Promise.all([
    issueCert(pkiDir, ca, 'kubelet-client', `/O=system:nodes/CN=system:node:${nodeName}`, [
      ...LEAF_EXTENSIONS,
      'extendedKeyUsage=clientAuth',
    ]),
    issueCert(pkiDir, ca, 'kubelet-serving', `/CN=${nodeName}`, [
      ...LEAF_EXTENSIONS,
      'extendedKeyUsage=serverAuth',
      `subjectAltName=IP:${network.nodeIp},DNS:${nodeName}`,
    ]),
  ]);
  await ctx.waitFor('containerd to answer', containerd, async () => {
    await ctr(cd.socket, ['version'], 5000);
    return true;
  });
  await Promise.all([
    loadImage(images.pause.path, { address: cd.socket }),
    loadImage(images.busybox.path, { address: cd.socket }),
  ]);
  ctx.log(`containerd ready, images ${images.pause.ref} ${images.busybox.ref} imported`);

  const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics] = await Promise.all(
    Array.from({ length: 4 }, () => freePort()),
  );
  const kubeletDir = join(nodeDir, 'kubelet');
  mkdirSync(kubeletDir, { recursive: true });
  const resolvConf = join(kubeletDir, 'resolv.conf');
  // Pods with dnsPolicy Default get this: cluster DNS too, there being nothing else to reach.
  writeFileSync(resolvConf, `nameserver ${network.nodeIp}\n`);
  const kubeletKubeconfig = join(kubeletDir, 'kubeconfig');
  writeFileSync(kubeletKubeconfig, kubeconfigFor(ctx.server, pki.caCert, kubeletClient.cert, kubeletClient.key), {
    mode: 0o600,
  });
  const kubeletConfig = join(kubeletDir, 'config.json');
  writeFileSync(
    kubeletConfig,
    JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: network.nodeIp,
      port: kubeletPort,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: kubeletHealthz,
      tlsCertFile: kubeletServing.cert,
      tlsPrivateKeyFile: kubeletServing.key,
      // The API server (logs, exec, port-forward) and metrics-server present certificates of this CA.
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: false },
        x509: { clientCAFile: pki.caCert },
      },
      authorization: { mode: 'AlwaysAllow' },
      cgroupDriver: 'cgroupfs',
      failSwapOn: false,
      failCgroupV1: false,
      containerRuntimeEndpoint: `unix://${cd.socket}`,
      clusterDNS: [network.nodeIp],
      clusterDomain: CLUSTER_DOMAIN,
      resolvConf,
      podLogsDir: join(kubeletDir, 'pod-logs'),
      volumePluginDir: join(kubeletDir, 'volume-plugins'),
      // A shared test disk must not make the kubelet delete images or evict pods.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: {
        'memory.available': '100Mi',
        'nodefs.available': '1%',
        'nodefs.inodesFree': '1%',
        'imagefs.available': '1%',
      },
      serializeImagePulls: false,
      protectKernelDefaults: false,
      // ConfigMap and Secret volumes catch up within this.
      syncFrequency: '10s',
      rotateCertificates: false,
      serverTLSBootstrap: false,
      shutdownGracePeriod: '0s',
      containerLogMaxSize: '10Mi',
      maxPods: 110,
    }),
  );
  const kubelet = ctx.launch('kubelet', ctx.bins.kubelet, [
    `--config=${kubeletConfig}`,
    `--kubeconfig=${kubeletKubeconfig}`,
    `--root-dir=${join(kubeletDir, 'root')}`,
    `--hostname-override=${nodeName}`,
    `--node-ip=${network.nodeIp}`,
    `--node-labels=${REAL_NODE_LABEL}=true`,
    '--v=1',
  ]);

  const proxyConfig = join(nodeDir, 'kube-proxy.json');
  writeFileSync(
    proxyConfig,
    JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: ctx.adminKubeconfig },
      mode: 'iptables',
      clusterCIDR: network.podCidr,
      hostnameOverride: nodeName,
      healthzBindAddress: `127.0.0.1:${proxyHealthz}`,
      metricsBindAddress: `127.0.0.1:${proxyMetrics}`,
      // NodePorts on the node IP only, never on the machine's real interfaces.
      nodePortAddresses: [`${network.nodeIp}/32`],
      // Leave the host's conntrack tuning alone (0: do not set).
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: '30s', minSyncPeriod: '1s' },
    }),
  );
  const kubeProxy = ctx.launch('kube-proxy', ctx.bins.kubeProxy, [`--config=${proxyConfig}`, '--v=1']);

  // metrics-server on the host, registered as the aggregated metrics.k8s.io (the HPA's CPU source).
  const metricsPort = await freePort();
  const metricsServer = !ctx.metricsServer
    ? null
    : ctx.launch('metrics-server', ctx.bins.metricsServer, [
        `--kubeconfig=${ctx.adminKubeconfig}`,
        `--authentication-kubeconfig=${ctx.adminKubeconfig}`,
        `--authorization-kubeconfig=${ctx.adminKubeconfig}`,
        `--bind-address=${network.nodeIp}`,
        `--secure-port=${metricsPort}`,
        `--cert-dir=${join(nodeDir, 'metrics-server')}`,
        `--kubelet-certificate-authority=${pki.caCert}`,
        `--kubelet-client-certificate=${pki.adminCert}`,
        `--kubelet-client-key=${pki.adminKey}`,
        '--kubelet-preferred-address-types=InternalIP',
        // The kubelet listens on a free port, not 10250: take the one its Node status names.
        '--kubelet-use-node-status-port',
        // The shortest it allows: the HPA sees load within seconds.
        '--metric-resolution=10s',
        '--kubelet-request-timeout=5s',
        '--v=1',
      ]);
  if (metricsServer) await registerMetricsApi(api, network.nodeIp, metricsPort);

  // Cluster DNS and volumes: inside this process, or a process of their own when the node outlives it.
  let dns: ClusterDns | null = null;
  let provisioner: HostPathProvisioner | null = null;
  const volumesDir = join(nodeDir, 'volumes');
  if (ctx.detached) {
    if (!ctx.servicesEntry)
      throw new Error('real node: a detached node needs servicesEntry (the compiled node-services-main.js)');
    const services = ctx.launch('node-services', process.execPath, [
      ctx.servicesEntry,
      JSON.stringify({
        server: ctx.server,
        caCert: pki.caCert,
        adminCert: pki.adminCert,
        adminKey: pki.adminKey,
        dnsAddress: network.nodeIp,
        volumesDir,
        nodeName,
      }),
    ]);
    await ctx.waitFor(
      `StorageClass ${STORAGE_CLASS}`,
      services,
      async () => (await api.send('GET', `/apis/storage.k8s.io/v1/storageclasses/${STORAGE_CLASS}`)).status === 200,
    );
  } else {
    dns = await startClusterDns(api, network.nodeIp, 53, { log: ctx.log });
    provisioner = await startHostPathProvisioner(api, { dir: volumesDir, nodeName, log: ctx.log });
  }

  await Promise.all([
    ctx.waitFor(`node ${nodeName} Ready`, kubelet, async () => {
      const res = await api.send('GET', `/api/v1/nodes/${nodeName}`);
      if (res.status !== 200) return false;
      const node = JSON.parse(res.body) as NodeStatus;
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    }),
    // Until it is Available, API discovery fails for metrics.k8s.io, and namespaces cannot be deleted.
    metricsServer &&
      ctx.waitFor('the metrics.k8s.io APIService Available', metricsServer, async () => {
        const res = await api.send('GET', '/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io');
        const svc = JSON.parse(res.body) as NodeStatus;
        return (
          res.status === 200 &&
          (svc.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ?? false)
        );
      }),
    ctx.waitFor(
      'kube-proxy /healthz',
      kubeProxy,
      async () => (await probe(`http://127.0.0.1:${proxyHealthz}/healthz`)).status === 200,
    ),
    // Pods reach the API server through the 'kubernetes' Service: its endpoint is the advertised node IP.
    ctx.waitFor("endpoints of the 'kubernetes' Service", kubeProxy, async () => {
      const res = await api.send('GET', '/api/v1/namespaces/default/endpoints/kubernetes');
      return res.status === 200 && res.body.includes(`"ip":"${network.nodeIp}"`);
    }),
  ]);

  const nodeProcesses = [containerd, kubelet, kubeProxy, ...(metricsServer ? [metricsServer] : [])];
  const info: RealNode = {
    nodeName,
    nodeIp: network.nodeIp,
    podCidr: network.podCidr,
    serviceCidr: ctx.serviceCidr,
    clusterDomain: CLUSTER_DOMAIN,
    dnsServer: network.nodeIp,
    containerdSocket: cd.socket,
    storageClass: STORAGE_CLASS,
    images: { pause: images.pause.ref, busybox: images.busybox.ref },
    loadImage: (archivePath, name) => loadImage(archivePath, { address: cd.socket, name }),
    memoryBytes: () =>
      [...nodeProcesses.map((p) => p.pid), ...pidsWithArg(cd.socket)].reduce((sum, pid) => sum + rssBytes(pid), 0),
  };
  return {
    info,
    state,
    async closeInProcess() {
      await provisioner?.close();
      await dns?.close();
    },
  };
}

async function createOrConflict(
  api: KubeHttp,
  path: string,
  body: { kind: string; metadata: { name: string } } & Record<string, unknown>,
): Promise<void> {
  const res = await api.send('POST', path, body);
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`creating ${body.kind} ${body.metadata.name}: HTTP ${res.status} ${res.body}`);
}

/** A selector-less Service whose endpoint is metrics-server on the host, and the APIService naming it. */
async function registerMetricsApi(api: KubeHttp, ip: string, port: number): Promise<void> {
  const meta = { name: 'metrics-server', namespace: 'kube-system' };
  await createOrConflict(api, '/api/v1/namespaces/kube-system/services', {
    kind: 'Service',
    metadata: meta,
    spec: { ports: [{ name: 'https', port: 443, targetPort: port }] },
  });
  await createOrConflict(api, '/api/v1/namespaces/kube-system/endpoints', {
    kind: 'Endpoints',
    metadata: meta,
    subsets: [{ addresses: [{ ip }], ports: [{ name: 'https', port }] }],
  });
  await createOrConflict(api, '/apis/apiregistration.k8s.io/v1/apiservices', {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: 'v1beta1.metrics.k8s.io' },
    spec: {
      group: 'metrics.k8s.io',
      version: 'v1beta1',
      service: { name: 'metrics-server', namespace: 'kube-system', port: 443 },
      // metrics-server serves a certificate it made itself at start.
      insecureSkipTLSVerify: true,
      groupPriorityMinimum: 100,
      versionPriority: 100,
    },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Before the node's processes stop: cordons the node and deletes its pods at once, so the kubelet
 * tears their sandboxes down through the CNI plugins (veths, IPAM, hostPort rules) while it still
 * can. Best effort within `timeoutMs`: the host cleanup after it removes whatever is left.
 */
export async function drainRealNode(
  api: KubeHttp,
  state: RealNodeState,
  timeoutMs = 30_000,
  log: (l: string) => void = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  try {
    const res = await api.send('GET', `/api/v1/nodes/${state.nodeName}`);
    if (res.status === 200) {
      const node = JSON.parse(res.body) as NodeStatus & Record<string, unknown>;
      node.spec = { ...node.spec, unschedulable: true };
      await api.send('PUT', `/api/v1/nodes/${state.nodeName}`, node);
    }
    const pods = JSON.parse(
      (await api.send('GET', `/api/v1/pods?fieldSelector=spec.nodeName%3D${state.nodeName}`)).body,
    ) as {
      items?: { metadata: { name: string; namespace: string } }[];
    };
    await Promise.all(
      (pods.items ?? []).map((p) =>
        api.send('DELETE', `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`, {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          gracePeriodSeconds: 0,
        }),
      ),
    );
  } catch (err) {
    log(`draining ${state.nodeName}: ${(err as Error).message}`);
  }
  // The sandboxes are down when containerd runs no task any more (the pause container goes last).
  while (Date.now() < deadline) {
    try {
      if ((await ctr(state.containerdSocket, ['tasks', 'list', '--quiet'], 5000)).trim() === '') return;
    } catch {
      return; // containerd is gone: nothing more to wait for
    }
    await sleep(250);
  }
  log(`draining ${state.nodeName}: containers still running after ${timeoutMs} ms; killing them`);
}

/**
 * After the node's processes are stopped: kills the containerd shims (they outlive containerd by
 * design) and what still runs in the pods' cgroups, then puts the host back as `hostBefore`
 * recorded it. Returns what differs still (empty when the host is as it was). Synchronous, for exit hooks.
 */
export function cleanUpRealNodeHost(state: RealNodeState, log: (l: string) => void = () => undefined): string[] {
  for (const pid of pidsWithArg(state.containerdSocket)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const left = restoreHost(state.hostBefore, { ownDirs: [state.dir], log });
  unlockRealNode(state.dir);
  return left;
}

export { DEFAULT_POD_NETWORK };
