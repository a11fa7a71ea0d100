import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One binary of the control plane, started by us and stopped by its PID. */
export interface ControlPlaneProcess {
  name: string;
  pid: number;
  binary: string;
  logPath: string;
}

export interface StartedProcess extends ControlPlaneProcess {
  /** Set once the process has exited (null code means killed by a signal). */
  exit: { code: number | null; signal: string | null } | null;
}

/**
 * Starts `binary` with stdout and stderr appended to `<logDir>/<name>.log`. Detached processes lead
 * their own session and outlive this Node process (`make cluster-up`); the others are ours to kill.
 */
export function startProcess(
  name: string,
  binary: string,
  args: string[],
  logDir: string,
  detached: boolean,
): StartedProcess {
  const logPath = join(logDir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(binary, args, { stdio: ['ignore', fd, fd], detached, env: { ...process.env, KUBECONFIG: '' } });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${binary}): no PID; see ${logPath}`);
    const started: StartedProcess = { name, pid: child.pid, binary, logPath, exit: null };
    child.on('exit', (code, signal) => {
      started.exit = { code, signal };
    });
    child.on('error', (err) => {
      started.exit = { code: null, signal: null };
      process.stderr.write(`test control plane: ${name} (${binary}): ${err.message}\n`);
    });
    child.unref();
    return started;
  } finally {
    closeSync(fd);
  }
}

// Waits for the parent to vanish, SIGKILLs each recorded PID that still runs the recorded binary,
// then removes the control plane's temp dir.
const REAPER_SCRIPT = `parent=$1; dir=$2; shift 2
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
for entry in "$@"; do
  pid=\${entry%%:*}; bin=\${entry#*:}
  [ "$(tr '\\0' '\\n' < /proc/$pid/cmdline 2>/dev/null | head -n 1)" = "$bin" ] && kill -9 "$pid"
done
sleep 1
rm -rf "$dir"`;

/**
 * A small detached shell that kills `procs` and removes `dir` if this Node process dies without
 * running its exit hooks (SIGKILL, OOM kill), so a crashed test run leaves no API server behind.
 * Stop it like the others.
 */
export function startReaper(procs: ControlPlaneProcess[], dir: string, logDir: string): StartedProcess {
  const entries = procs.map((p) => `${p.pid}:${p.binary}`);
  return startProcess(
    'reaper',
    '/bin/sh',
    ['-c', REAPER_SCRIPT, 'reaper', String(process.pid), dir, ...entries],
    logDir,
    true,
  );
}

/** True while `pid` runs `binary`: a PID recorded earlier may since belong to another program. */
export function isRunning(proc: ControlPlaneProcess): boolean {
  try {
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
    // A zombie has exited; only its parent's wait() is missing.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmdline.split('\0')[0] === proc.binary;
  } catch {
    return false;
  }
}

function signal(proc: ControlPlaneProcess, sig: NodeJS.Signals): void {
  if (!isRunning(proc)) return;
  try {
    process.kill(proc.pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM each process in order, then SIGKILL whatever is still running after `graceMs`. */
export async function stopProcesses(procs: ControlPlaneProcess[], graceMs = 5000): Promise<void> {
  for (const p of procs) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (procs.some(isRunning) && Date.now() < deadline) await sleep(50);
  for (const p of procs) signal(p, 'SIGKILL');
  while (procs.some(isRunning) && Date.now() < deadline + 2000) await sleep(20);
}

/** Synchronous last resort for process 'exit' handlers, where nothing asynchronous runs any more. */
export function killProcessesNow(procs: ControlPlaneProcess[]): void {
  for (const p of procs) signal(p, 'SIGKILL');
}

/** Resident set size in bytes, or 0 when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The last lines of a log, for error messages that must say why a binary did not come up. */
export function logTail(logPath: string, lines = 15): string {
  if (!existsSync(logPath)) return '(no log)';
  return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}
