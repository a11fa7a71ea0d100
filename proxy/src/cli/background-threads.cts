/**
 * Preloaded with `node --require` (node-flags.ts) before the event loop does any I/O. At that point
 * the process's threads besides the main one are node's V8 platform workers (the optimizing
 * compiler, the GC's helpers) and its signal watchdog; each gets nice 10 here. On a CPU they share
 * with the event loop they then take short slices, about a tenth of the CPU when both want it,
 * instead of 4-18 ms ones while requests wait. The libuv pool (DNS lookups, files, zlib), which a
 * request or a report can wait on, is started later by the main thread and keeps its nice 0.
 *
 * Measured with bench/proxy --tail-breakdown (slave pinned to one CPU, open loop, same runs against
 * the build without the preload): while the slowest 1 % of requests were in flight, the slave's own
 * background threads had 24-39 % of its CPU at 25 % of Squid's rate, 2-7 % at 50 % and 0-29 % at
 * 75 % (two runs); with the preload 15-16 %, 7-8 % and 0-6 % (one run at nice 19, one at 10). In
 * a harness at 3 327 req/s with nice 19, the first round after a warm-up (the compiler redoing what
 * the warm-up's closing connections had deoptimized) had p99 11.0-20.8 ms without the preload and
 * 4.3-5.0 ms with it in 5 of 6 runs; later rounds were alike. Not 19: in the one wrk comparison at 19 the slave did 0.81x the req/s of the
 * build without it (1.12x at 10; both inside this machine's run-to-run spread), and a compiler
 * starved under full load leaves the event loop in unoptimized code for longer.
 */
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

export const BACKGROUND_NICE = 10;

function lowerBackgroundThreads(): void {
  // Worker threads run preloads too; by then the pool and the workers exist and must keep nice 0.
  if (!isMainThread) return;
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return; // not Linux: threads cannot be told apart, priorities stay as they are
  }
  for (const tid of tids) {
    const t = Number(tid);
    if (t === process.pid) continue;
    try {
      setPriority(t, BACKGROUND_NICE);
    } catch {
      // exited meanwhile
    }
  }
}

lowerBackgroundThreads();
