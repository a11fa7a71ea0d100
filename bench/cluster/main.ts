// Cold build time (from the build script's record), warm start-up time and memory of the whole test
// control plane. Bounded: RUNS start/stop cycles (default 2) with a 120 s start-up limit each.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from '@safesquid/test/dist/cluster/control-plane.js';
import { KUBE_VERSION, kubeCacheDir } from '@safesquid/test/dist/cluster/kube-binaries.js';
import { rssBytes } from '@safesquid/test/dist/cluster/processes.js';

interface BuildRecord {
  kubeBuildSeconds: number;
  etcdBuildSeconds: number;
  kwokBuildSeconds: number;
  goBuildCache: 'cold' | 'reused';
  totalSeconds: number;
  cpus: number;
  loadAverageAtEnd?: string;
  binaryBytes: Record<string, number>;
}

const runs = Math.max(1, Math.min(5, Number(process.env.RUNS ?? 2)));
// Memory right after "ready" still includes start-up garbage; settle before reading RSS.
const settleMs = 10_000;
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const row = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(40) : c.padStart(16))).join(' '));

async function main(): Promise<void> {
  const buildPath = join(kubeCacheDir(), 'build.json');
  const build = existsSync(buildPath) ? (JSON.parse(readFileSync(buildPath, 'utf8')) as BuildRecord) : null;

  const startups: number[] = [];
  const apiReady: number[] = [];
  let memory: { name: string; rss: number }[] = [];
  for (let i = 0; i < runs; i++) {
    let apiMs = 0;
    const t0 = Date.now();
    const cp = await startControlPlane({
      log: (line) => {
        if (line.startsWith('kube-apiserver ready')) apiMs = Date.now() - t0;
      },
    });
    try {
      startups.push(cp.startupMs);
      apiReady.push(apiMs);
      if (i === runs - 1) {
        await new Promise((r) => setTimeout(r, settleMs));
        memory = cp.processes.map((p) => ({ name: p.name, rss: rssBytes(p.pid) }));
      }
    } finally {
      await cp.stop();
    }
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`test control plane ${KUBE_VERSION}: ${runs} warm start(s), binaries already built`);
  row(['figure', 'value', 'anchor']);
  if (build) {
    // Only a COLD=1 build (fresh Go build cache) measures compilation; otherwise it is mostly linking.
    const kind = build.goBuildCache === 'cold' ? 'cold' : 'cache-reusing';
    row([`${kind} build, 3 kube binaries (s)`, build.kubeBuildSeconds.toFixed(0), `${build.cpus} cpus`]);
    // The machine is shared: the load average says how much of the 2 CPUs the build really had.
    row([`${kind} build, etcd (s)`, build.etcdBuildSeconds.toFixed(0), `load ${build.loadAverageAtEnd ?? '?'}`]);
    row([`${kind} build, kwok (s)`, build.kwokBuildSeconds.toFixed(0), '']);
    row([`${kind} build, total (s)`, build.totalSeconds.toFixed(0), 'COLD=1 for cold']);
    const total = Object.values(build.binaryBytes).reduce((a, b) => a + b, 0);
    row(['cached binaries (MiB)', mib(total), '']);
  } else {
    row(['cold build', `no ${buildPath}`, '']);
  }
  // Anchor: the API server alone answering /readyz, within the same start.
  row(['warm start-up, whole plane (ms)', String(median(startups)), `api ${median(apiReady)}`]);
  row(['  (each run, ms)', startups.join(' '), '']);
  let total = 0;
  for (const m of memory) {
    total += m.rss;
    row([`RSS ${m.name} (MiB)`, mib(m.rss), '']);
  }
  // Anchor: this Node process, for scale.
  row(['RSS total (MiB)', mib(total), `node ${mib(process.memoryUsage().rss)}`]);
}

main().catch((err: Error) => {
  console.error(`bench cluster: ${err.message}`);
  process.exit(1);
});
