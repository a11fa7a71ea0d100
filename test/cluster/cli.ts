// `make cluster-up` / `make cluster-down`: a control plane for humans that outlives this command.
//   node test/dist/cluster/cli.js up [--real-node]   starts it, writes .run/cluster/{kubeconfig,state.json}
//                                                     (--real-node, make cluster-up REAL_NODE=1: with a real node)
//   node test/dist/cluster/cli.js down               stops every process recorded in state.json by PID
//                                                     and puts back what the real node changed on the host
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from './control-plane.js';
import { KubeHttp } from './kube-http.js';
import { isRunning, stopProcesses, type ControlPlaneProcess } from './processes.js';
import { cleanUpRealNodeHost, drainRealNode, type RealNodeState } from './real-node.js';

interface ClusterState {
  server: string;
  dir: string;
  kubeconfigPath: string;
  processes: ControlPlaneProcess[];
  realNode?: RealNodeState;
}

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const stateDir = process.env.SAFESQUID_CLUSTER_STATE || join(repoRoot, '.run', 'cluster');
const statePath = join(stateDir, 'state.json');
const kubeconfigCopy = join(stateDir, 'kubeconfig');

function readState(): ClusterState | null {
  if (!existsSync(statePath)) return null;
  try {
    return JSON.parse(readFileSync(statePath, 'utf8')) as ClusterState;
  } catch (err) {
    throw new Error(`cannot read ${statePath}: ${(err as Error).message}; stop the processes by hand and delete it`);
  }
}

async function up(): Promise<void> {
  const previous = readState();
  if (previous?.processes.some(isRunning)) {
    throw new Error(`a control plane is already running (${previous.server}); run \`make cluster-down\` first`);
  }
  const realNode = process.argv.includes('--real-node');
  const cp = await startControlPlane({
    detached: true,
    keepDir: true,
    realNode,
    realNodeServicesEntry: fileURLToPath(new URL('./node-services-main.js', import.meta.url)),
    log: (l) => console.log(`cluster: ${l}`),
  });
  mkdirSync(stateDir, { recursive: true });
  const state: ClusterState = {
    server: cp.server,
    dir: cp.dir,
    kubeconfigPath: cp.kubeconfigPath,
    processes: cp.processes,
    realNode: cp.realNodeState,
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2) + '\n');
  copyFileSync(cp.kubeconfigPath, kubeconfigCopy);
  const nodes = [...cp.nodeNames, ...(cp.realNode ? [`${cp.realNode.nodeName} (real, ${cp.realNode.nodeIp})`] : [])];
  console.log(`cluster: up in ${(cp.startupMs / 1000).toFixed(1)} s, nodes ${nodes.join(', ')}`);
  if (cp.realNode) {
    const n = cp.realNode;
    console.log(
      `cluster: pods ${n.podCidr}, DNS ${n.dnsServer} (${n.clusterDomain}), StorageClass ${n.storageClass}, images ${n.images.busybox}`,
    );
    console.log(
      `cluster: load images with: ctr --address ${n.containerdSocket} --namespace k8s.io images import <archive.tar>`,
    );
  }
  console.log(`cluster: logs in ${join(cp.dir, 'logs')}`);
  console.log(`export KUBECONFIG=${kubeconfigCopy}`);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    console.log(`cluster: nothing to stop (no ${statePath})`);
    return;
  }
  if (state.realNode) {
    // The admin credentials createPki wrote (pki.ts): pods go while the kubelet still runs.
    const pki = join(state.dir, 'pki');
    const api = new KubeHttp(state.server, {
      caCert: join(pki, 'ca.crt'),
      adminCert: join(pki, 'admin.crt'),
      adminKey: join(pki, 'admin.key'),
    });
    await drainRealNode(api, state.realNode, 30_000, (l) => console.log(`cluster: ${l}`));
  }
  await stopProcesses([...state.processes].reverse());
  const left = state.processes.filter(isRunning);
  if (left.length > 0)
    throw new Error(`still running after SIGKILL: ${left.map((p) => `${p.name} pid ${p.pid}`).join(', ')}`);
  if (state.realNode) {
    const leftOnHost = cleanUpRealNodeHost(state.realNode, (l) => console.log(`cluster: ${l}`));
    if (leftOnHost.length > 0) console.log(`cluster: left on the host after teardown:\n  ${leftOnHost.join('\n  ')}`);
  }
  rmSync(state.dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  console.log(`cluster: stopped ${state.processes.map((p) => `${p.name}(${p.pid})`).join(' ')}`);
}

const command = process.argv[2];
const action = command === 'up' ? up : command === 'down' ? down : null;
if (!action) {
  console.error('usage: node test/dist/cluster/cli.js up [--real-node] | down');
  process.exit(2);
}
action().catch((err: Error) => {
  console.error(`cluster ${command}: ${err.message}`);
  process.exit(1);
});
