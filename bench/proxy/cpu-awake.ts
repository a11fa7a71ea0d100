import { cpus } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { collectOutput, type ProcessGroup } from './processes.js';

/**
 * A busy loop at SCHED_IDLE on every CPU, so that no CPU goes idle while the open loop runs.
 *
 * On a VM an idle vCPU halts, and waking it (an interrupt to the host, the host scheduling the
 * vCPU's thread again) took long enough here to be most of every proxy's tail: with a proxy on
 * one CPU and vegeta and nginx on the other, each request wakes a CPU four times. Measured at
 * 25 % of Squid's rate, 3 rounds each: p99 of Squid 5.2-6.8 ms and of the slave 3.8-9.6 ms
 * without the loops, 1.1-1.4 and 1.1-1.8 ms with them; direct's 0.77-0.92 and 0.41-0.46 ms.
 * SCHED_IDLE yields to any other runnable thread at once, so the loops take only time that
 * would otherwise be idle; the same as booting the guest with idle=poll, for this phase only.
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
