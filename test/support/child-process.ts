import { spawn } from 'node:child_process';

/** A program a test or bench started; stopped by its PID, never by name. */
export interface ChildHandle {
  /** How errors name it: "the master", "slave edge-1", "slapd". */
  readonly what: string;
  readonly pid: number;
  /** The last `captureLimit` characters of stdout, of stderr, and of both as they came. */
  stdout(): string;
  stderr(): string;
  output(): string;
  /** The end of the output (200 lines unless told), for errors that must say why the program did not come up. */
  outputTail(lines?: number): string;
  /** Called with every complete line the program writes, on stdout or stderr. */
  onLine(listener: (line: string) => void): void;
  running(): boolean;
  /** "code 1", "signal SIGKILL" or "no exit yet". */
  exitDescription(): string;
  /** Resolves with the exit code (null when a signal ended it) once the process is gone and its output read. */
  readonly exited: Promise<number | null>;
  /**
   * Sends `signal` (SIGTERM unless told) to the PID and SIGKILL after the grace period if it still
   * runs; resolves with the exit code once it is gone.
   */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Waits for the program to end by itself; SIGKILLs it after `timeoutMs`. */
  exitWithin(timeoutMs: number): Promise<number | null>;
  /** Synchronous SIGKILL, for `process.on('exit')` where nothing asynchronous runs any more. */
  killNow(): void;
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Characters kept of each output stream (the tail). Default 1 MiB. */
  captureLimit?: number;
  /** Between the stop signal and SIGKILL. Default 10 s. */
  stopGraceMs?: number;
  /** Discard stdout (a program that writes a lot there that nobody reads). */
  ignoreStdout?: boolean;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Starts `command args` with its output captured (bounded) and line by line. */
export function startChild(what: string, command: string, args: string[], opts: ChildOptions = {}): ChildHandle {
  const limit = opts.captureLimit ?? 1 << 20;
  const grace = opts.stopGraceMs ?? 10_000;
  const child = spawn(command, args, {
    stdio: ['ignore', opts.ignoreStdout ? 'ignore' : 'pipe', 'pipe'],
    env: opts.env,
    cwd: opts.cwd,
  });
  if (child.pid === undefined) {
    child.on('error', () => undefined);
    throw new Error(`could not start ${what} (${command}): no PID; is it installed?`);
  }
  const pid = child.pid;
  const captured = { stdout: '', stderr: '', both: '' };
  const listeners: ((line: string) => void)[] = [];
  const capture = (stream: 'stdout' | 'stderr') => {
    let partial = '';
    return (chunk: Buffer) => {
      const text = chunk.toString();
      captured[stream] = (captured[stream] + text).slice(-limit);
      captured.both = (captured.both + text).slice(-limit);
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) for (const l of listeners) l(line);
    };
  };
  child.stdout?.on('data', capture('stdout'));
  child.stderr!.on('data', capture('stderr'));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, sig) => {
      exit ??= { code, signal: sig };
      // The pipes usually close right after; a helper the program forked may hold them open longer.
      setTimeout(() => resolve(code), 1000).unref();
    });
    child.once('close', (code) => resolve(code));
    child.once('error', (err) => {
      spawnError = err;
      exit ??= { code: null, signal: null };
      resolve(null);
    });
  });
  const running = () => exit === undefined;
  const handle: ChildHandle = {
    what,
    pid,
    stdout: () => captured.stdout,
    stderr: () => captured.stderr,
    output: () => captured.both,
    outputTail: (lines = 200) => captured.both.trimEnd().split('\n').slice(-lines).join('\n') || '(no output)',
    onLine: (listener) => listeners.push(listener),
    running,
    exitDescription: () =>
      spawnError
        ? `error ${spawnError.message}`
        : !exit
          ? 'no exit yet'
          : exit.signal
            ? `signal ${exit.signal}`
            : `code ${exit.code}`,
    exited,
    async stop(sig: NodeJS.Signals = 'SIGTERM') {
      if (running()) {
        signal(pid, sig);
        const timer = setTimeout(() => running() && signal(pid, 'SIGKILL'), grace);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
    async exitWithin(timeoutMs: number) {
      const timer = setTimeout(() => running() && signal(pid, 'SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    killNow() {
      if (running()) signal(pid, 'SIGKILL');
    },
  };
  return handle;
}

/**
 * For a program that keeps its files in `dir`: waits for `ready`, and from then on its stop()
 * removes `dir` too. A program that never gets ready is SIGKILLed and `dir` removed before the
 * error goes on, so a failed start leaves nothing behind.
 */
export async function readyInDir(
  child: ChildHandle,
  dir: { remove(): void },
  ready: () => Promise<unknown>,
): Promise<ChildHandle> {
  const stop = child.stop.bind(child);
  try {
    await ready();
  } catch (err) {
    await stop('SIGKILL');
    dir.remove();
    throw err;
  }
  return Object.assign(child, {
    async stop(signal?: NodeJS.Signals) {
      const code = await stop(signal);
      dir.remove();
      return code;
    },
  });
}
