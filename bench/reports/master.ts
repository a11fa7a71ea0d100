/** A real `safesquid master` process for the bench, with its tokens, and helpers to talk to it. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SummaryResult } from '@safesquid/proxy/reports';
import { collectOutput, freePort, type ProcessGroup, statFields, waitForPort } from '../proxy/processes.js';

export interface BenchMaster {
  url: string;
  port: number;
  token: string;
  tokenFile: string;
  adminToken: string;
  pid: number;
  /** CPU seconds (user + system) the master process has used so far. */
  cpuSeconds(): number;
  output(): string;
  stop(): Promise<void>;
}

export async function startMaster(
  group: ProcessGroup,
  root: string,
  opts: { postgresUrl?: string; policyFile?: string; nice?: boolean } = {},
): Promise<BenchMaster> {
  const cli = join(root, 'proxy/dist/cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npx tsc -b" first`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-master-'));
  const token = 'bench-sync-token-0123456789';
  const adminToken = 'bench-admin-token-0123456789';
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  writeFileSync(join(dir, 'admin-token'), adminToken, { mode: 0o600 });
  const port = await freePort();
  const args = [
    cli,
    'master',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    join(dir, 'data'),
    '--token-file',
    tokenFile,
    '--admin-token-file',
    join(dir, 'admin-token'),
    '--log-level',
    'warn',
    ...(opts.postgresUrl ? ['--postgres-url', opts.postgresUrl] : []),
    ...(opts.policyFile ? ['--policy', opts.policyFile] : []),
  ];
  // `nice` execs node in place, so the PID is the master's.
  const child = opts.nice
    ? group.start('master', 'nice', ['-n', '19', process.execPath, ...args], { cwd: dir })
    : group.start('master', process.execPath, args, { cwd: dir });
  const output = collectOutput(child);
  try {
    await waitForPort(port, 'master', child);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output()}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token,
    tokenFile,
    adminToken,
    output,
    pid: child.pid!,
    cpuSeconds: () => processCpuSeconds(child.pid!),
    async stop() {
      await group.stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * CPU seconds used so far by a PostgreSQL server: the postmaster (PID in postmaster.pid under
 * `dataDir`) and its children (a backend per connection, WAL writer, checkpointer...). Backends
 * that exited since are not counted: the bench keeps its connections for the whole run.
 */
export function postgresCpuSeconds(dataDir: string): number {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = processCpuSeconds(postmaster);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(entry)[1]);
      if (ppid === postmaster) total += processCpuSeconds(Number(entry));
    } catch {
      // The process exited between readdir and read.
    }
  }
  return total;
}

/**
 * Times the process's threads were switched out while still runnable (preempted), summed over
 * /proc/<pid>/task/<tid>/status. Threads that exited since are not counted.
 */
export function processPreemptions(pid: number): number {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      n += Number(
        /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ??
          0,
      );
    } catch {
      // The thread exited between readdir and read.
    }
  }
  return n;
}

/** utime + stime from /proc/<pid>/stat, in seconds (clock ticks of 1/100 s on Linux). */
export function processCpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function request(
  agent: http.Agent,
  url: string,
  method: string,
  headers: Record<string, string | number>,
  body?: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Records the master holds over all time (admin token). */
export async function storedRecords(master: BenchMaster): Promise<number> {
  const agent = new http.Agent();
  try {
    const r = await request(agent, `${master.url}/api/v1/reports/summary?from=0&to=${Date.now() + 86_400_000}`, 'GET', {
      authorization: `Bearer ${master.adminToken}`,
    });
    if (r.status !== 200) throw new Error(`GET /summary answered ${r.status}: ${r.body}`);
    return (JSON.parse(r.body) as SummaryResult).requests;
  } finally {
    agent.destroy();
  }
}
