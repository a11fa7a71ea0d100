import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { killOnExit } from '@safesquid/test/dist/support/process-group.js';

/** Every process the bench starts, so that all of them are killed by PID, also on error. */
export class ProcessGroup {
  private readonly children: { name: string; child: ChildProcess }[] = [];

  start(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    child.on('error', (err) => process.stderr.write(`bench: ${name}: ${err.message}\n`));
    this.children.push({ name, child });
    return child;
  }

  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.children.map(({ child }) => this.stop(child).catch(() => undefined)));
  }

  /** Kills every member by PID when the bench exits, also on Ctrl-C or SIGTERM. */
  killOnExit(): void {
    killOnExit(this);
  }

  /** Synchronous last resort for `process.on('exit')`. */
  killAllNow(): void {
    for (const { child } of this.children) {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

/** Ports handed out by this process: the kernel may give a just-closed one again at the next call. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export async function waitForPort(port: number, what: string, child?: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null)
      throw new Error(`${what} exited with status ${child.exitCode} before listening on 127.0.0.1:${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > end) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const CLOCK_TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * The fields of /proc/PID/stat after the command name, which may hold spaces and parentheses:
 * [0] the state, [1] the parent's PID, [11] and [12] user and system time in clock ticks.
 * Throws once the process has exited.
 */
export function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** A process's PID and its living descendants'. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(entry)[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const all: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.pop()!;
    all.push(p);
    queue.push(...(parents.get(p) ?? []));
  }
  return all;
}

/**
 * Lets only the target being measured run: every other target's process tree is stopped with
 * SIGSTOP until its own turn. Idle, a proxy is not quiet: a slave's event-loop delay monitor
 * wakes it every 10 ms and V8 collects garbage seconds after a round ends, and the slaves not
 * under test share the measured proxy's CPU. In one run's tail breakdown such a node process
 * held CPU 1 for 21.2 % of the time Squid's slowest 1 % of requests were in flight at 50 %.
 */
export class OneAtATime {
  private readonly stopped = new Set<number>();

  constructor(private readonly pids: readonly number[]) {}

  /** Stops every tree but `pid`'s (none for `undefined`, direct) and resumes `pid`'s. */
  async only(pid: number | undefined): Promise<void> {
    const stopping = this.pids
      .filter((p) => p !== pid && !this.stopped.has(p))
      .flatMap((p) => this.signal(p, 'SIGSTOP'));
    // A signal takes effect when its process next runs: wait until each is stopped (or gone).
    const running = () => stopping.filter((p) => !['T', 'Z', undefined].includes(processState(p)));
    await waitFor(
      () => running().length === 0,
      2000,
      () => `SIGSTOP: processes ${running().join(', ')} still running`,
    );
    if (pid === undefined || !this.stopped.has(pid)) return;
    this.signal(pid, 'SIGCONT');
    // Timers that fell due while it was stopped fire now, not in the first measured moments.
    await new Promise((r) => setTimeout(r, 200));
  }

  /** Resumes every stopped tree: a stopped process holds SIGTERM until it is continued. */
  resumeAll(): void {
    for (const p of [...this.stopped]) this.signal(p, 'SIGCONT');
  }

  /** Signals the tree of `pid`; returns the processes in it. */
  private signal(pid: number, sig: 'SIGSTOP' | 'SIGCONT'): number[] {
    const tree = descendants(pid);
    for (const p of tree) {
      try {
        process.kill(p, sig);
      } catch {
        // exited: the target's row carries the error
      }
    }
    if (sig === 'SIGSTOP') this.stopped.add(pid);
    else this.stopped.delete(pid);
    return tree;
  }
}

/** The state letter of /proc/PID/stat (R, S, D, T...), or undefined once it has exited. */
export function processState(pid: number): string | undefined {
  try {
    return statFields(pid)[0];
  } catch {
    return undefined;
  }
}

async function waitFor(done: () => boolean, timeoutMs: number, why: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`${why()} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Confines a process, its threads and its descendants to `cpus` (taskset syntax, e.g. "0" or
 * "0-1"). Processes it starts afterwards inherit the affinity.
 */
export function setAffinity(pid: number, cpus: string): void {
  for (const p of descendants(pid)) {
    const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(p)], { encoding: 'utf8' });
    if (r.status !== 0 && existsSync(`/proc/${p}`))
      throw new Error(`taskset -a -p -c ${cpus} ${p}: ${r.stderr.trim() || `status ${r.status}`}`);
  }
}

/** Resident memory of a process and all its descendants, in bytes (VmRSS from /proc). */
export function rssTreeBytes(pid: number): number {
  let total = 0;
  for (const p of descendants(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // exited while we looked
    }
  }
  return total;
}

/**
 * Nanoseconds on CPU of every living thread of `pid` (the first field of each thread's
 * `schedstat`, kept by the scheduler to the nanosecond); 0 where the kernel keeps none.
 */
function threadsCpuNs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited while we looked
    }
  }
  return ns;
}

/**
 * Whether the kernel keeps schedstat: the tick counts of /proc/PID/stat have a resolution of
 * 10 ms, while a 64 MiB download costs a proxy 50-60 ms of CPU, so one round would be off by up
 * to a fifth.
 */
const SCHEDSTAT = (() => {
  try {
    return threadsCpuNs(process.pid) > 0;
  } catch {
    return false;
  }
})();

/** How cpuTreeSeconds measures, for the bench's output. */
export const CPU_CLOCK = SCHEDSTAT
  ? "CPU time from each thread's /proc schedstat (ns)"
  : 'CPU time from /proc stat ticks (10 ms resolution: no schedstat here)';

/**
 * CPU time (user + system) a process and its living descendants have used, in seconds. Unlike
 * throughput on a shared machine, the CPU a proxy spends per request does not depend on how
 * busy the other processes keep the cores. With schedstat, a thread that exits between two
 * readings takes its time with it: the proxies measured here keep their threads.
 */
export function cpuTreeSeconds(pid: number): number {
  let total = 0;
  for (const p of descendants(pid)) {
    try {
      if (SCHEDSTAT) {
        total += threadsCpuNs(p) / 1e9;
        continue;
      }
      const fields = statFields(p);
      total += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
    } catch {
      // exited while we looked
    }
  }
  return total;
}

export function collectOutput(child: ChildProcess, limit = 64 * 1024): () => string {
  let out = '';
  const add = (d: Buffer) => {
    out = (out + d.toString()).slice(-limit);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

/** Runs a load generator to its end; its stdout and stderr together, or an error naming the command. */
export function runToEnd(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout!.on('data', (d) => (text += d));
    child.stderr!.on('data', (d) => (text += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${text}`));
    });
  });
}
