/**
 * What reporting costs the slave: wrk through `safesquid slave` against a local nginx, with
 * reports off (no master), spooled (master unreachable) and on (shipping to a real master),
 * alternated so drift in the shared machine's load hits every mode alike. "Off" keeps no
 * access records at all, so the differences are the whole cost of reporting: encoding,
 * batching, gzip, the spool and delivery.
 *
 * In a cluster the master runs on another machine. Here, when there are CPUs to spare, wrk,
 * nginx and the slave share all CPUs but the last in every mode, and the master gets the last
 * one to itself ("own CPU"), so the slave's figures carry its own cost of reporting and not
 * the master's. The "shared" pair runs everything on all CPUs (master at nice 19): what
 * reporting costs when the master competes with the slave for the same cores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, setAffinity, type ProcessGroup } from '../proxy/processes.js';
import { benchPolicyYaml, startSlave } from '../proxy/slave.js';
import type { RunningProxy } from '../proxy/squid.js';
import { startNginxUpstream } from '../proxy/nginx-upstream.js';
import { runWrk, type WrkLoad, type WrkResult } from '../proxy/wrk.js';
import { processCpuSeconds, processPreemptions, startMaster, storedRecords } from './master.js';

export interface SlaveRun extends WrkResult {
  /** CPU microseconds the slave process spent per request wrk completed. */
  slaveCpuUsPerRequest: number;
  /** The master's CPU microseconds per request wrk completed (modes with a master). */
  masterCpuUsPerRequest?: number;
  /**
   * Times the slave was preempted per request: sharing a CPU with wrk and nginx, whose wake-ups
   * switch it out, it is about once a request; work added per request makes it more likely.
   */
  slavePreemptionsPerRequest: number;
}

const WARMUP_S = 2;

export const MODES = ['off', 'spool', 'on', 'off-shared', 'on-shared'] as const;
export type Mode = (typeof MODES)[number];

export interface SlaveCostResult {
  runs: Record<Mode, SlaveRun[]>;
  /** CPUs of wrk, nginx and the slave in the own-CPU modes, and the master's (taskset lists). */
  slaveCpus: string;
  masterCpus: string;
  allCpus: string;
  /** Records the master stored from the runs with a master, and the requests wrk counted in them (warm-ups included). */
  stored: number;
  requestsOn: number;
}

export async function measureSlaveCost(
  group: ProcessGroup,
  root: string,
  load: WrkLoad,
  rounds: number,
): Promise<SlaveCostResult> {
  const n = cpus().length;
  if (n < 2)
    throw new Error(`bench/reports slave: needs 2 CPUs or more (the master gets one to itself), this machine has ${n}`);
  const allCpus = `0-${n - 1}`;
  const slaveCpus = n === 2 ? '0' : `0-${n - 2}`;
  const masterCpus = String(n - 1);
  const dir = mkdtempSync(join(tmpdir(), 'bench-reports-slave-'));
  const upstream = await startNginxUpstream(group);
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, benchPolicyYaml([]));
  // nice 19: in the shared modes it takes only CPU the others leave idle.
  const master = await startMaster(group, root, { policyFile, nice: true });
  const runs = Object.fromEntries(MODES.map((m) => [m, []])) as unknown as Record<Mode, SlaveRun[]>;
  const result: SlaveCostResult = { runs, slaveCpus, masterCpus, allCpus, stored: 0, requestsOn: 0 };
  try {
    const withMaster = ['--master', master.url, '--token-file', master.tokenFile, '--name', 'bench-slave'];
    const unreachable = [
      '--master',
      `http://127.0.0.1:${await freePort()}`,
      '--token-file',
      master.tokenFile,
      '--name',
      'bench-slave',
    ];
    for (let round = 0; round < rounds; round++) {
      for (const mode of MODES) {
        const shared = mode.endsWith('-shared');
        // The slave and wrk inherit this process's affinity when started.
        setAffinity(process.pid, shared ? allCpus : slaveCpus);
        setAffinity(upstream.child.pid!, shared ? allCpus : slaveCpus);
        setAffinity(master.pid, shared ? allCpus : masterCpus);
        const reports = mode.startsWith('on');
        const slave: RunningProxy = await startSlave(
          group,
          root,
          [],
          reports ? withMaster : mode === 'spool' ? unreachable : [],
        );
        try {
          // Unmeasured: the slave's code is compiled and its pools filled before the measured run, as in a slave that has been serving.
          const warm = await runWrk(dir, `${mode}-${round}-warmup`, upstream.port, slave.port, {
            ...load,
            durationS: WARMUP_S,
          });
          const cpu0 = processCpuSeconds(slave.child.pid!);
          const preempted0 = processPreemptions(slave.child.pid!);
          const master0 = master.cpuSeconds();
          const r = await runWrk(dir, `${mode}-${round}`, upstream.port, slave.port, load);
          const cpu = processCpuSeconds(slave.child.pid!) - cpu0;
          const preempted = processPreemptions(slave.child.pid!) - preempted0;
          const masterCpu = reports ? ((master.cpuSeconds() - master0) * 1e6) / r.requests : undefined;
          runs[mode].push({
            ...r,
            slaveCpuUsPerRequest: (cpu * 1e6) / r.requests,
            masterCpuUsPerRequest: masterCpu,
            slavePreemptionsPerRequest: preempted / r.requests,
          });
          if (reports) result.requestsOn += warm.requests + r.requests;
        } finally {
          // SIGTERM: the slave flushes what is queued to the master before it exits.
          await group.stop(slave.child);
          slave.cleanup();
        }
      }
    }
    setAffinity(process.pid, allCpus);
    result.stored = await storedRecords(master);
  } finally {
    setAffinity(process.pid, allCpus);
    await master.stop();
    await group.stop(upstream.child);
    upstream.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
