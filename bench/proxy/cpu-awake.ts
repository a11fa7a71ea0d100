import { cpus } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { collectOutput, type ProcessGroup } from './processes.js';

/**
 * With `--idle-loops`: a busy loop at SCHED_IDLE on every CPU, so that no CPU goes idle while the
 * open loop runs. SCHED_IDLE yields to any other runnable thread at once, so the loops take only
 * time that would otherwise be idle: the same as booting with idle=poll.
 *
 * On a VM an idle vCPU halts, and waking it (an interrupt to the host, the host scheduling the
 * vCPU's thread again) once took long enough here to be most of every proxy's tail, and the loops
 * were the default. On another day they did the harm instead: the load generator's timer-driven
 * sends then came about every 1.06 ms, and the slave's p99 at 25 % rose from 0.7-1.0 to 2.8-3.8 ms
 * (bench/proxy/README.md has the figures).
 */
export class CpuAwake {
  private readonly loops: ChildProcess[] = [];

  constructor(private readonly group: ProcessGroup) {}

  async start(): Promise<void> {
    const outputs: [ChildProcess, () => string][] = [];
    for (let cpu = 0; cpu < cpus().length; cpu++) {
      // taskset and chrt exec what they run: the PID is the shell's, and stopping it stops the loop.
      const child = this.group.start(`idle loop on CPU ${cpu}`, 'taskset', [
        '-c',
        String(cpu),
        'chrt',
        '--idle',
        '0',
        'sh',
        '-c',
        'while :; do :; done',
      ]);
      this.loops.push(child);
      outputs.push([child, collectOutput(child)]);
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const [child, output] of outputs)
      if (child.exitCode !== null)
        throw new Error(`the idle loop (taskset, chrt --idle, sh) exited with ${child.exitCode}: ${output().trim()}`);
  }

  /** PIDs of the running loops (the shells: taskset and chrt exec them). */
  pids(): number[] {
    return this.loops.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.splice(0).map((c) => this.group.stop(c)));
  }
}
