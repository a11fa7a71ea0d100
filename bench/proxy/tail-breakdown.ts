/**
 * Where the slowest requests of an open-loop point spent their time, seen from the proxy's CPU.
 *
 * `perf record -e sched:sched_switch` on the proxy's CPU gives every interval of that CPU and the
 * task that ran in it; the generator's `-trace` gives every request's start and latency on the same
 * clock (CLOCK_MONOTONIC). Over the time the slowest 1 % of the point's requests were in flight,
 * the CPU's time is split among: the proxy's own threads (its event loop, and the rest: V8's
 * compiler and GC helpers, Squid's helpers), tasks that are neither the proxy nor the busy loops
 * (kernel threads and other processes, named), and idle (the idle task or, with --idle-loops, the busy loops: the proxy
 * had nothing to run, so those requests were waiting on the other CPU, the load generator or the
 * upstream). Compared with the same split over the whole point, it shows what the tail is made of.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';

export const TAIL_CLASSES = ['event loop', 'proxy threads', 'idle', 'other'] as const;
export type TailClass = (typeof TAIL_CLASSES)[number];

/** One task's stay on the CPU, in µs on CLOCK_MONOTONIC. */
export interface CpuSlice {
  start: number;
  end: number;
  pid: number;
  tid: number;
  comm: string;
}

export interface TailBreakdown {
  /** The slowest 1 % of the point's requests. */
  slowRequests: number;
  /** µs of the CPU by class: over the slow requests' in-flight windows, and over the whole point. */
  slow: Map<TailClass, number>;
  whole: Map<TailClass, number>;
  /** µs of the slow windows each 'other' task took, by command name. */
  others: Map<string, number>;
}

/**
 * `perf script -F pid,tid,time,event,trace` of one CPU's sched_switch and sched_stat_runtime
 * events, as slices: each switch ends the slice of the task leaving the CPU.
 *
 * This VM traces nothing in a halted vCPU's context, so the switch from the idle task to the task
 * it wakes for is missing: a switch whose leaving task is not the one the previous switch put on
 * the CPU had an untraced switch before it. The runtime the scheduler reported for that task since
 * the previous switch says when it began, and the rest of the gap was the previous task's (idle);
 * with no runtime reported the gap is its own slice, named so, rather than guessed.
 */
export function parseSwitches(text: string): CpuSlice[] {
  const slices: CpuSlice[] = [];
  const ranNs = new Map<number, number>();
  let last: { at: number; tid: number; comm: string } | undefined;
  const switchRe =
    /^\s*(-?\d+)\/(\d+)\s+(\d+\.\d+):\s+sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) .*==> next_comm=(.*?) next_pid=(\d+) /;
  const runtimeRe = /^\s*-?\d+\/\d+\s+\d+\.\d+:\s+sched:sched_stat_runtime: comm=.*? pid=(\d+) runtime=(\d+) /;
  for (const line of text.split('\n')) {
    const r = runtimeRe.exec(line);
    if (r) {
      ranNs.set(Number(r[1]), (ranNs.get(Number(r[1])) ?? 0) + Number(r[2]));
      continue;
    }
    const m = switchRe.exec(line);
    if (!m) continue;
    const [at, pid, tid, comm] = [Math.round(Number(m[3]) * 1e6), Number(m[1]), Number(m[5]), m[4]];
    if (last?.tid === tid) slices.push({ start: last.at, end: at, pid, tid, comm });
    else if (last) {
      const ran = ranNs.get(tid);
      if (ran === undefined) {
        slices.push({ start: last.at, end: at, pid: -1, tid: -1, comm: `untraced: ${last.comm}, then ${comm}` });
      } else {
        const began = Math.max(last.at, at - Math.round(ran / 1000));
        slices.push({ start: last.at, end: began, pid: last.tid === 0 ? 0 : -1, tid: last.tid, comm: last.comm });
        slices.push({ start: began, end: at, pid, tid, comm });
      }
    }
    ranNs.clear();
    last = { at, tid: Number(m[7]), comm: m[6] };
  }
  return slices.filter((sl) => sl.end > sl.start);
}

/**
 * `-trace` lines (start µs, latency µs): the in-flight windows of the slowest 1 % of requests (by
 * rank, so ties at the p99 value do not swell the set), merged where they overlap.
 */
export function slowWindows(trace: string): { count: number; windows: [number, number][]; span: [number, number] } {
  const reqs = trace
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').map(Number) as [number, number]);
  if (reqs.length === 0) return { count: 0, windows: [], span: [0, 0] };
  const count = Math.ceil(reqs.length / 100);
  const slow = [...reqs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .sort((a, b) => a[0] - b[0]);
  const windows: [number, number][] = [];
  for (const [start, lat] of slow) {
    const w = windows[windows.length - 1];
    if (w && start <= w[1]) w[1] = Math.max(w[1], start + lat);
    else windows.push([start, start + lat]);
  }
  const span: [number, number] = [reqs[0][0], Math.max(...reqs.map((r) => r[0] + r[1]))];
  return { count, windows, span };
}

export interface TaskRoles {
  /** PIDs (thread-group ids) of the proxy's processes. */
  proxy: Set<number>;
  /** PIDs of the busy loops that keep CPUs from halting: their time is idle time. */
  idleLoops: Set<number>;
}

export function classify(slice: CpuSlice, roles: TaskRoles): TailClass {
  if (slice.pid === 0 || roles.idleLoops.has(slice.pid)) return 'idle';
  if (roles.proxy.has(slice.pid)) return slice.tid === slice.pid ? 'event loop' : 'proxy threads';
  return 'other';
}

/** µs of each slice inside the windows (both sorted by start), added up by `key`. */
function overlap<K>(slices: CpuSlice[], windows: [number, number][], key: (s: CpuSlice) => K): Map<K, number> {
  const out = new Map<K, number>();
  let i = 0;
  for (const [a, b] of windows) {
    while (i < slices.length && slices[i].end <= a) i++;
    for (let j = i; j < slices.length && slices[j].start < b; j++) {
      const us = Math.min(b, slices[j].end) - Math.max(a, slices[j].start);
      if (us > 0) out.set(key(slices[j]), (out.get(key(slices[j])) ?? 0) + us);
    }
  }
  return out;
}

export function breakdown(slices: CpuSlice[], trace: string, roles: TaskRoles): TailBreakdown {
  const { count, windows, span } = slowWindows(trace);
  const others = overlap(slices, windows, (s) => (classify(s, roles) === 'other' ? s.comm : ''));
  others.delete('');
  return {
    slowRequests: count,
    slow: overlap(slices, windows, (s) => classify(s, roles)),
    whole: overlap(slices, [span], (s) => classify(s, roles)),
    others,
  };
}

/** Rounds of one point together: their µs added up. */
export function sumBreakdowns(parts: TailBreakdown[]): TailBreakdown {
  const add = <K>(maps: Map<K, number>[]) => {
    const out = new Map<K, number>();
    for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
    return out;
  };
  return {
    slowRequests: parts.reduce((n, p) => n + p.slowRequests, 0),
    slow: add(parts.map((p) => p.slow)),
    whole: add(parts.map((p) => p.whole)),
    others: add(parts.map((p) => p.others)),
  };
}

/** Each key's share of the map's total. */
export function shares<K>(us: Map<K, number>): Map<K, number> {
  const total = [...us.values()].reduce((a, b) => a + b, 0);
  return new Map([...us].map(([k, v]) => [k, total ? v / total : 0]));
}

const EVENTS = ['-e', 'sched:sched_switch', '-e', 'sched:sched_stat_runtime'];

/** `perf record` of the scheduler's switches on one CPU, for the length of one open-loop run. */
export class SwitchRecorder {
  private child?: ChildProcess;
  private output = '';

  constructor(
    private readonly cpu: string,
    private readonly file: string,
  ) {}

  /** Fails with what perf said when it is missing or not allowed to trace (perf_event_paranoid). */
  static check(): void {
    const r = spawnSync('perf', ['record', '-q', ...EVENTS, '-a', '-o', '/dev/null', '--', 'true'], {
      encoding: 'utf8',
    });
    if (r.error || r.status !== 0)
      throw new Error(
        `--tail-breakdown needs perf tracing sched:sched_switch and sched:sched_stat_runtime on all CPUs (Debian: linux-perf; root or ` +
          `kernel.perf_event_paranoid <= -1): ${r.error?.message ?? r.stderr.trim()}`,
      );
  }

  async start(): Promise<void> {
    this.child = spawn('perf', ['record', '-q', ...EVENTS, '-k', 'CLOCK_MONOTONIC', '-C', this.cpu, '-o', this.file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (d) => (this.output += d));
    // perf has no ready signal; the file's header is written once the events are enabled.
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      if (this.child.exitCode !== null)
        throw new Error(`perf record exited with ${this.child.exitCode}: ${this.output}`);
      if (fileSize(this.file) > 0) return;
    }
    // Going on would measure a run whose start perf missed, and the breakdown would not say so.
    await this.end();
    throw new Error(
      `perf record -C ${this.cpu} wrote nothing to ${this.file} within 1 s of starting` +
        (this.output ? `: ${this.output.trim()}` : '; is the disk full, or the machine too loaded to start it?'),
    );
  }

  /** Stops the recording; again: nothing. */
  async end(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }

  /** The recording's slices, once ended. */
  slices(): CpuSlice[] {
    const r = spawnSync('perf', ['script', '-i', this.file, '-F', 'pid,tid,time,event,trace', '--ns'], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    if (r.status !== 0) throw new Error(`perf script -i ${this.file} failed: ${r.stderr}`);
    return parseSwitches(r.stdout);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0; // not created yet
  }
}
