/**
 * Constant-rate (open-loop) load with vegeta's attacker (`open-loop/main.go`). Unlike wrk, whose
 * connections each wait for an answer before sending again, requests leave on schedule whatever
 * the proxy does, so a stall shows in the latency of every request scheduled during it instead of
 * hiding as a lower request rate (coordinated omission).
 *
 * The generator is built with `go build` into a cache outside the repository, named by a hash of its
 * sources, so a checkout never carries a binary and a changed source is rebuilt once.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './connect-bulk.js';
import { runToEnd } from './processes.js';

export interface OpenLoopResult {
  requests: number;
  /** Requests sent per second, as scheduled; and answered with 2xx/3xx per second. */
  sentPerSec: number;
  okPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  errors: number;
  /** The first error vegeta saw, when there were any. */
  firstError?: string;
  /**
   * SYNs the kernel dropped during the point (accept queues full, TcpExt ListenOverflows) and SYNs
   * it sent again: each such connection waited 1 s or more, whichever process's queue it was.
   */
  listenOverflows: number;
  synRetransmits: number;
}

export interface OpenLoopLoad {
  rate: number;
  durationS: number;
  /** Seconds at the rate before `durationS`, not counted: the generator's start-up is not the target's. */
  warmupS: number;
  /** `taskset -c` list for the generator; none: wherever the scheduler puts it. */
  cpus?: string;
  /** File for the generator's per-request trace: start (µs, CLOCK_MONOTONIC) and latency (µs). */
  trace?: string;
  /** Most connections the generator keeps to the proxy; requests beyond wait for one, in their latency. */
  connections: number;
}

const SOURCE_DIR = fileURLToPath(new URL('../../proxy/open-loop/', import.meta.url));
const CACHE_DIR = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'safesquid-bench', 'bin');

/** Path of the built generator, building it first if this version of its sources has no binary yet. */
export function ensureOpenLoopBinary(): string {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(SOURCE_DIR, f)));
  const bin = join(CACHE_DIR, `open-loop-vegeta-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(bin)) return bin;
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync('go', ['build', '-trimpath', '-o', tmp, '.'], {
    cwd: SOURCE_DIR,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.error || r.status !== 0)
    throw new Error(
      `building the open-loop generator (go build in ${SOURCE_DIR}) failed: ${r.error?.message ?? r.stderr.trim()}; ` +
        'it needs Go 1.22 or later on PATH and the Go module proxy reachable',
    );
  renameSync(tmp, bin);
  return bin;
}

/** Constant-rate GETs of `url`, through `proxyPort` on 127.0.0.1 or direct. */
export async function runOpenLoop(
  bin: string,
  url: string,
  proxyPort: number | undefined,
  load: OpenLoopLoad,
): Promise<OpenLoopResult> {
  const args = ['-url', url, '-rate', String(load.rate), '-duration', `${load.durationS}s`, '-timeout', '5s'];
  args.push('-warmup', `${load.warmupS}s`);
  args.push('-connections', String(load.connections));
  if (load.trace) args.push('-trace', load.trace);
  if (proxyPort !== undefined) args.push('-proxy', `http://127.0.0.1:${proxyPort}`);
  const [cmd, argv] = load.cpus === undefined ? [bin, args] : ['taskset', ['-c', load.cpus, bin, ...args]];
  const tcp0 = tcpCounters();
  const out = await runToEnd(cmd, argv, (load.warmupS + load.durationS + 30) * 1000);
  const tcp1 = tcpCounters();
  const m = /^OPENLOOP (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)$/m.exec(out);
  if (!m) throw new Error(`the open-loop generator printed no result line:\n${out}`);
  const [requests, sentPerSec, okPerSec, p50Ms, p99Ms, p999Ms, maxMs, errors] = m.slice(1).map(Number);
  const firstError = /^open-loop: first error: (.*)$/m.exec(out)?.[1];
  return {
    requests,
    sentPerSec,
    okPerSec,
    p50Ms,
    p99Ms,
    p999Ms,
    maxMs,
    errors,
    firstError,
    listenOverflows: tcp1.ListenOverflows - tcp0.ListenOverflows,
    synRetransmits: tcp1.TCPSynRetrans - tcp0.TCPSynRetrans,
  };
}

export interface OpenLoopSummary extends OpenLoopResult {
  /** p99 of each round, in the order they ran. */
  p99ByRound: number[];
}

/**
 * Rounds of one target at one rate: rates and percentiles are the median over rounds, errors and
 * dropped SYNs the sum, max the largest.
 */
export function summarizeOpenLoop(rounds: OpenLoopResult[]): OpenLoopSummary {
  const med = (f: (r: OpenLoopResult) => number) => median(rounds.map(f));
  const sum = (f: (r: OpenLoopResult) => number) => rounds.reduce((n, r) => n + f(r), 0);
  return {
    requests: sum((r) => r.requests),
    sentPerSec: med((r) => r.sentPerSec),
    okPerSec: med((r) => r.okPerSec),
    p50Ms: med((r) => r.p50Ms),
    p99Ms: med((r) => r.p99Ms),
    p999Ms: med((r) => r.p999Ms),
    maxMs: Math.max(...rounds.map((r) => r.maxMs)),
    errors: sum((r) => r.errors),
    firstError: rounds.find((r) => r.firstError)?.firstError,
    listenOverflows: sum((r) => r.listenOverflows),
    synRetransmits: sum((r) => r.synRetransmits),
    p99ByRound: rounds.map((r) => r.p99Ms),
  };
}

/** The machine's TcpExt counters of dropped and resent SYNs (`/proc/net/netstat`); 0 where absent. */
export function tcpCounters(): { ListenOverflows: number; TCPSynRetrans: number } {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = i === -1 ? [] : lines[i].split(/\s+/);
  const values = i === -1 ? [] : lines[i + 1].split(/\s+/).map(Number);
  const get = (n: string) => values[names.indexOf(n)] ?? 0;
  return { ListenOverflows: get('ListenOverflows'), TCPSynRetrans: get('TCPSynRetrans') };
}
