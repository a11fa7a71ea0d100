// `make cluster-up` / `make cluster-down`: a control plane for humans that outlives this command.
//   node test/dist/cluster/cli.js up     starts it, writes .run/cluster/{kubeconfig,state.json}
//   node test/dist/cluster/cli.js down   stops every process recorded in state.json by PID
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from './control-plane.js';
import { isRunning, stopProcesses, type ControlPlaneProcess } from './processes.js';

interface ClusterState {
  server: string;
  dir: string;
  kubeconfigPath: string;
  processes: ControlPlaneProcess[];
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
  const cp = await startControlPlane({ detached: true, keepDir: true, log: (l) => console.log(`cluster: ${l}`) });
  mkdirSync(stateDir, { recursive: true });
  const state: ClusterState = { server: cp.server, dir: cp.dir, kubeconfigPath: cp.kubeconfigPath, processes: cp.processes };
  writeFileSync(statePath, JSON.stringify(state, null, 2) + '\n');
  copyFileSync(cp.kubeconfigPath, kubeconfigCopy);
  console.log(`cluster: up in ${(cp.startupMs / 1000).toFixed(1)} s, nodes ${cp.nodeNames.join(', ')}`);
  console.log(`cluster: logs in ${join(cp.dir, 'logs')}`);
  console.log(`export KUBECONFIG=${kubeconfigCopy}`);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    console.log(`cluster: nothing to stop (no ${statePath})`);
    return;
  }
  await stopProcesses([...state.processes].reverse());
  const left = state.processes.filter(isRunning);
  if (left.length > 0) throw new Error(`still running after SIGKILL: ${left.map((p) => `${p.name} pid ${p.pid}`).join(', ')}`);
  rmSync(state.dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  console.log(`cluster: stopped ${state.processes.map((p) => `${p.name}(${p.pid})`).join(' ')}`);
}

const command = process.argv[2];
const action = command === 'up' ? up : command === 'down' ? down : null;
if (!action) {
  console.error('usage: node test/dist/cluster/cli.js up|down');
  process.exit(2);
}
action().catch((err: Error) => {
  console.error(`cluster ${command}: ${err.message}`);
  process.exit(1);
});
