/**
 * What reporting costs the slave: wrk through `safesquid slave` against a local upstream,
 * with reports off (no master) and on (shipping to a real master), alternated so drift in
 * the shared machine's load hits both alike. "Off" (no master) keeps no access records at
 * all, so the differences are the whole cost of reporting: encoding, batching, gzip, the spool
 * and delivery, plus, for "on", that of a master on the same cores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type ProcessGroup } from '../proxy/processes.js';
import { benchPolicyYaml, startSlave } from '../proxy/slave.js';
import type { RunningProxy } from '../proxy/squid.js';
import { startNginxUpstream } from '../proxy/nginx-upstream.js';
import { runWrk, type WrkLoad, type WrkResult } from '../proxy/wrk.js';
import { processCpuSeconds, startMaster, storedRecords } from './master.js';

export interface SlaveRun extends WrkResult {
  /** CPU microseconds the slave process spent per request wrk completed. */
  slaveCpuUsPerRequest: number;
  /** The master's CPU seconds per second of the run ("on" only): the share of the cores it took. */
  masterCores?: number;
}

export interface SlaveCostResult {
  off: SlaveRun[];
  /** Reports batched, gzipped and fsynced to the spool, master unreachable: the shipper's own work without a master process competing for the CPU. */
  spool: SlaveRun[];
  on: SlaveRun[];
  /** Records the master stored from the "on" runs, and the requests wrk counted in them. */
  stored: number;
  requestsOn: number;
}

export async function measureSlaveCost(group: ProcessGroup, root: string, load: WrkLoad, rounds: number): Promise<SlaveCostResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-reports-slave-'));
  const upstream = await startNginxUpstream(group);
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, benchPolicyYaml([]));
  // The master would run on another machine; here it shares two cores with wrk, the upstream and
  // the slave, so it runs at the lowest priority and takes only CPU the slave leaves idle.
  const master = await startMaster(group, root, { policyFile, nice: true });
  const result: SlaveCostResult = { off: [], spool: [], on: [], stored: 0, requestsOn: 0 };
  try {
    const withMaster = ['--master', master.url, '--token-file', master.tokenFile, '--name', 'bench-slave'];
    const unreachable = ['--master', `http://127.0.0.1:${await freePort()}`, '--token-file', master.tokenFile, '--name', 'bench-slave'];
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['off', 'spool', 'on'] as const) {
        const slave: RunningProxy = await startSlave(group, root, [], mode === 'on' ? withMaster : mode === 'spool' ? unreachable : []);
        try {
          const cpu0 = processCpuSeconds(slave.child.pid!);
          const master0 = master.cpuSeconds();
          const r = await runWrk(dir, `${mode}-${round}`, upstream.port, slave.port, load);
          const cpu = processCpuSeconds(slave.child.pid!) - cpu0;
          const masterCores = mode === 'on' ? (master.cpuSeconds() - master0) / load.durationS : undefined;
          result[mode].push({ ...r, slaveCpuUsPerRequest: (cpu * 1e6) / r.requests, masterCores });
          if (mode === 'on') result.requestsOn += r.requests;
        } finally {
          // SIGTERM: the slave flushes what is queued to the master before it exits.
          await group.stop(slave.child);
          slave.cleanup();
        }
      }
    }
    result.stored = await storedRecords(master);
  } finally {
    await master.stop();
    await group.stop(upstream.child);
    upstream.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}
