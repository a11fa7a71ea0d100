import { SAFESQUID_CLI } from './repo.js';
import { LOG } from '@safesquid/proxy/log-messages';
import { startChild, type ChildHandle, type ChildOptions } from './child-process.js';

export { SAFESQUID_CLI };

export type LogEntry = Record<string, unknown>;

export interface SafesquidProcess<T> extends ChildHandle {
  /** What `ready` picked from the log line that said the process was up. */
  ready: T;
}

export interface SafesquidOptions extends ChildOptions {
  /** How long it may take to log the ready line. Default 15 s. */
  readyTimeoutMs?: number;
  /** Run as `nice -n 19 node ...` (nice execs node in place, so the PID stays the process's own). */
  nice?: boolean;
}

/**
 * Starts `safesquid ARGS` and resolves once it logs a JSON line that `ready` accepts (returns
 * something other than undefined for). If it exits first or does not get there in time, it is
 * SIGKILLed and the error carries the end of its log.
 */
export async function startSafesquid<T>(
  what: string,
  args: string[],
  ready: (entry: LogEntry) => T | undefined,
  opts: SafesquidOptions = {},
): Promise<SafesquidProcess<T>> {
  const argv = [SAFESQUID_CLI, ...args];
  const child = opts.nice
    ? startChild(what, 'nice', ['-n', '19', process.execPath, ...argv], opts)
    : startChild(what, process.execPath, argv, opts);
  const timeoutMs = opts.readyTimeoutMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const found = await new Promise<T>((resolvePick, reject) => {
      child.onLine((line) => {
        if (!line.startsWith('{')) return;
        let entry: LogEntry;
        try {
          entry = JSON.parse(line) as LogEntry;
        } catch {
          return; // not a log line
        }
        const picked = ready(entry);
        if (picked !== undefined) resolvePick(picked);
      });
      void child.exited.then(() =>
        reject(new Error(`${what} exited with ${child.exitDescription()} before it was ready:\n${child.outputTail()}`)),
      );
      timer = setTimeout(
        () => reject(new Error(`${what} not ready after ${timeoutMs / 1000} s:\n${child.outputTail()}`)),
        timeoutMs,
      );
    });
    return Object.assign(child, { ready: found });
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The master's "Configuration Portal listening" line: its URL. */
export function portalListening(entry: LogEntry): string | undefined {
  return entry.msg === LOG.portalListening ? String(entry.url) : undefined;
}

/** The slave's "slave started" line: its first proxy port and its metrics port (undefined when off). */
export function slaveStarted(entry: LogEntry): { port: number; metricsPort: number } | undefined {
  if (entry.msg !== LOG.slaveStarted) return undefined;
  return {
    port: Number(
      String((entry.listen as string[])[0])
        .split(':')
        .pop(),
    ),
    metricsPort: entry.metrics as number,
  };
}
