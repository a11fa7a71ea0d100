/**
 * bench/proxy: the slave against Debian's Squid and against no proxy at all, in one run.
 * Keep-alive 100-byte GETs with wrk (closed loop: the maximum rate, CPU per request, one and two
 * workers), the same GETs at constant rates with vegeta's attacker (open loop: latency at equal
 * offered load), CONNECT bulk throughput and CPU per GB of a 64 MiB HTTPS download with curl, RSS,
 * and the RSS that idle CONNECT tunnels add. See `--help`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alignedRows } from '../aligned-rows.js';
import { downloadMBps, median } from './connect-bulk.js';
import { closeTunnels, openIdleTunnels } from './idle-tunnels.js';
import { CpuAwake } from './cpu-awake.js';
import {
  CPU_CLOCK,
  cpuTreeSeconds,
  descendants,
  OneAtATime,
  ProcessGroup,
  rssTreeBytes,
  setAffinity,
} from './processes.js';
import {
  ensureOpenLoopBinary,
  runOpenLoop,
  summarizeOpenLoop,
  type OpenLoopResult,
  type OpenLoopSummary,
} from './open-loop.js';
import { POLICY_RULES, startSlave } from './slave.js';
import { startSquid, type RunningProxy } from './squid.js';
import { startNginxUpstream } from './nginx-upstream.js';
import { startTcpRelay, type TcpRelay } from './tcp-relay.js';
import { BIG_BODY_BYTES, startUpstreams } from './upstreams.js';
import { runWrk, type WrkLoad, type WrkResult } from './wrk.js';
import {
  breakdown,
  shares,
  sumBreakdowns,
  SwitchRecorder,
  TAIL_CLASSES,
  type TailBreakdown,
} from './tail-breakdown.js';

const HELP = `usage: node bench/dist/proxy/main.js [options]
  --duration S        wrk duration of one round (default 5)
  --rounds N          wrk rounds per target, in alternating order (default 2)
  --warmup S          unmeasured wrk seconds per target before the rounds (default 2)
  --connections N     wrk connections (default 50)
  --threads N         wrk threads (default 2)
  --tunnels N         idle CONNECT tunnels per proxy (default 10000, lowered to fit the fd limit)
  --only LIST         comma-separated subset of direct,tcp-relay,squid,slave,slave+auth,slave-w2
                      (tcp-relay: HAProxy in TCP mode with splice, a floor for one extra hop; not a proxy)
                      (slave+auth: the slave requiring Basic auth of a bcrypt user, every request authenticated)
                      (slave-w2: the slave with --workers 2, on every CPU; wrk rounds only)
  --phases LIST       comma-separated subset of tunnels,wrk,latency,connect (default all)
  --latency-rates L   open-loop rates in % of squid's wrk req/s of this run (default 25,50,75)
  --latency-duration S  seconds of constant-rate load per target and rate (default 5)
  --latency-warmup S  seconds at the rate before those, not counted (default 1): the generator's
                      start-up, its 100 connections opened, is the first 30 ms' slowest requests
  --latency-rounds N  open-loop rounds, each every target at every rate in alternating order; each
                      figure is the median over rounds (default 3)
  --latency-connections N  most connections the open-loop generator keeps to a target (default 100);
                      a request finding all busy waits for one, and the wait is in its latency
  --connect-rounds N  counted 64 MiB downloads per target (default 10)
  --connect-warmup N  unmeasured 64 MiB downloads per target first (default 16: 1 GiB, until the
                      slave's JIT has compiled the relay; fewer measure its compiler too)
  --idle-loops        keep every CPU busy with a SCHED_IDLE loop during the open loop, as idle=poll
                      would (default: idle CPUs halt); for a VM whose halted vCPUs are slow to wake
  --tail-breakdown    record the proxy's CPU (perf scheduler events) during each open-loop run and print
                      what it ran while the slowest 1 % of requests were in flight: the proxy's event
                      loop, its other threads, other tasks (named), or nothing (the wait was elsewhere)
  --no-pin            do not pin processes to CPUs (default with 2+ CPUs: the proxy under test on
                      the last CPU, load generators and upstreams on the others)
  --slave-arg ARG     extra argument for "safesquid slave" (repeatable)
  --cpu-prof DIR      run the slave under node --cpu-prof, profiles written to DIR
  --node-arg ARG      node option for the slave processes, e.g. --max-semi-space-size=64 (repeatable)
  --baseline-node-arg ARG
                      node option for slave-base only (repeatable): with --baseline . this compares
                      node options on one build
  --baseline DIR      also measure "slave-base": the slave built in another checkout DIR (its
                      proxy/dist, e.g. of the previous commit), same policy and arguments, in the same
                      alternating rounds, so a change is judged against the same-run anchors
`;

interface Options {
  load: WrkLoad;
  rounds: number;
  warmupS: number;
  tunnels: number;
  only: Set<string>;
  slaveArgs: string[];
  cpuProfDir?: string;
  nodeArgs: string[];
  baselineNodeArgs: string[];
  baselineRoot?: string;
  phases: Set<string>;
  latencyRates: number[];
  latencyDurationS: number;
  latencyWarmupS: number;
  latencyConnections: number;
  latencyRounds: number;
  connectRounds: number;
  connectWarmup: number;
  idleLoops: boolean;
  tailBreakdown: boolean;
  pin: boolean;
}

interface Row {
  name: string;
  wrk?: WrkResult;
  connectMBps?: number;
  /** Proxy CPU seconds spent during the wrk rounds, and during the counted downloads. */
  wrkCpuS?: number;
  connectCpuS?: number;
  connectBytes?: number;
  rssIdle?: number;
  rssLoaded?: number;
  tunnels?: { opened: number; requested: number; addedBytes: number; failures: string };
  /** Open-loop runs, by rate in % of squid's maximum: the median over rounds. */
  latency?: Map<number, OpenLoopSummary>;
  /** With --tail-breakdown: the proxy CPU's time during the slowest requests, by rate, all rounds. */
  tail?: Map<number, TailBreakdown>;
  error?: string;
}

/** Where each process runs (`taskset -c` lists); undefined lists: not pinned. */
interface Pinning {
  load?: string;
  proxy?: string;
  all?: string;
}

const MB = 1024 * 1024;
const TUNNEL_TARGET = 10_000;
const TARGETS = ['direct', 'tcp-relay', 'squid', 'slave', 'slave+auth', 'slave-w2'] as const;
const PHASES = ['tunnels', 'wrk', 'latency', 'connect'] as const;
/** Open-loop targets: the issue's comparison is the slave against Squid, with direct as the floor. */
const LATENCY_TARGETS = ['direct', 'squid', 'slave', 'slave-base'];

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    load: { durationS: 5, connections: 50, threads: 2 },
    rounds: 2,
    warmupS: 2,
    tunnels: TUNNEL_TARGET,
    only: new Set(TARGETS),
    slaveArgs: [],
    nodeArgs: [],
    baselineNodeArgs: [],
    phases: new Set(PHASES),
    latencyRates: [25, 50, 75],
    latencyDurationS: 5,
    latencyWarmupS: 1,
    latencyConnections: 100,
    latencyRounds: 3,
    connectRounds: 10,
    connectWarmup: 16,
    idleLoops: false,
    tailBreakdown: false,
    pin: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = () => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got "${v}"`);
      return n;
    };
    switch (flag) {
      case '--duration':
        opts.load.durationS = int();
        break;
      case '--connections':
        opts.load.connections = int();
        break;
      case '--threads':
        opts.load.threads = int();
        break;
      case '--tunnels':
        opts.tunnels = int();
        break;
      case '--rounds':
        opts.rounds = int();
        break;
      case '--warmup':
        opts.warmupS = int();
        break;
      case '--only':
        opts.only = new Set(value().split(','));
        break;
      case '--slave-arg':
        opts.slaveArgs.push(value());
        break;
      case '--cpu-prof':
        opts.cpuProfDir = value();
        break;
      case '--node-arg':
        opts.nodeArgs.push(value());
        break;
      case '--baseline-node-arg':
        opts.baselineNodeArgs.push(value());
        break;
      case '--baseline':
        opts.baselineRoot = resolve(value());
        break;
      case '--phases':
        opts.phases = new Set(value().split(','));
        for (const p of opts.phases)
          if (!(PHASES as readonly string[]).includes(p))
            throw new Error(`--phases: unknown phase "${p}" (expected some of ${PHASES.join(',')})`);
        break;
      case '--latency-rates': {
        const v = value();
        opts.latencyRates = v.split(',').map(Number);
        if (opts.latencyRates.some((r) => !Number.isFinite(r) || r <= 0 || r > 200))
          throw new Error(`--latency-rates: expected percentages between 0 and 200 like 25,50,75, got "${v}"`);
        break;
      }
      case '--latency-duration':
        opts.latencyDurationS = int();
        break;
      case '--latency-warmup': {
        const v = value();
        opts.latencyWarmupS = Number(v);
        if (!Number.isInteger(opts.latencyWarmupS) || opts.latencyWarmupS < 0)
          throw new Error(`--latency-warmup: expected a whole number of seconds, 0 or more, got "${v}"`);
        break;
      }
      case '--latency-rounds':
        opts.latencyRounds = int();
        break;
      case '--latency-connections':
        opts.latencyConnections = int();
        break;
      case '--connect-rounds':
        opts.connectRounds = int();
        break;
      case '--connect-warmup':
        opts.connectWarmup = int();
        break;
      case '--idle-loops':
        opts.idleLoops = true;
        break;
      case '--tail-breakdown':
        opts.tailBreakdown = true;
        break;
      case '--no-pin':
        opts.pin = false;
        break;
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${flag}\n\n${HELP}`);
    }
  }
  for (const name of opts.only)
    if (!(TARGETS as readonly string[]).includes(name)) throw new Error(`--only: unknown target "${name}"`);
  if (opts.tailBreakdown && (!opts.pin || cpus().length < 2))
    throw new Error('--tail-breakdown watches the CPU the proxy is pinned to: it needs 2+ CPUs and no --no-pin');
  if (opts.tailBreakdown) SwitchRecorder.check();
  return opts;
}

/**
 * With 2+ CPUs the proxy under test gets the last CPU and everything that makes or answers load
 * the others, so the proxies are compared on a CPU of their own rather than on what wrk and the
 * upstreams leave them. The 2-worker slave gets every CPU: what a second core buys is the point.
 */
function pinning(opts: Options): Pinning {
  const n = cpus().length;
  if (!opts.pin || n < 2) return {};
  return { load: n === 2 ? '0' : `0-${n - 2}`, proxy: String(n - 1), all: `0-${n - 1}` };
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
}

/** Each tunnel costs the proxy two descriptors (client and upstream); keep clear of the limit. */
function tunnelsThatFit(requested: number): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const limit = !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  return Math.min(requested, Math.floor((limit - 500) / 2));
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), 'bench-proxy-'));
  group.killOnExit();
  const pin = pinning(opts);
  // Children started from here on (upstreams, wrk, curl, vegeta) inherit the load CPUs.
  if (pin.load) setAffinity(process.pid, pin.load);
  const openLoop = opts.phases.has('latency') ? ensureOpenLoopBinary() : undefined;
  /** `cat /proc/loadavg` as each phase starts: the machine is shared. */
  const loads: [string, string][] = [];
  // The whole run is bounded: wrk runs plus downloads plus tunnels, with room to spare.
  const watchdog = setTimeout(
    () => {
      process.stderr.write('bench: did not finish within its time bound; killing everything\n');
      group.killAllNow();
      process.exit(1);
    },
    (opts.load.durationS * opts.rounds * 4 +
      opts.latencyRounds * opts.latencyRates.length * 4 * (opts.latencyWarmupS + opts.latencyDurationS + 10) +
      300) *
      1000,
  );
  watchdog.unref();

  const loadBefore = loadavg()[0];
  const upstreams = await startUpstreams();
  const nginx = await startNginxUpstream(group);
  const sink = group.start('tcp-sink', process.execPath, [fileURLToPath(new URL('./tcp-sink.js', import.meta.url))]);
  const sinkPort = await new Promise<number>((resolve, reject) => {
    sink.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    sink.once('exit', (code) => reject(new Error(`tcp sink exited with ${code}`)));
  });
  const connectPorts = [upstreams.httpsPort, sinkPort];
  const rows: Row[] = [];
  const proxies: RunningProxy[] = [];
  let relay: TcpRelay | undefined;
  let solo: OneAtATime | undefined;
  try {
    const targets: { row: Row; proxy?: RunningProxy; relay?: TcpRelay }[] = [];
    if (opts.only.has('direct')) targets.push({ row: { name: 'direct' } });
    if (opts.only.has('tcp-relay')) {
      const started = await startTcpRelay(group, nginx.port, upstreams.httpsPort).catch((err: Error) => err);
      if (started instanceof Error) rows.push({ name: 'tcp-relay', error: started.message });
      else targets.push({ row: { name: 'tcp-relay' }, relay: (relay = started) });
    }
    if (opts.only.has('squid')) {
      const squid = await startSquid(group, connectPorts).catch((err: Error) => err);
      if (squid instanceof Error) rows.push({ name: 'squid', error: squid.message });
      else proxies.push(squid);
    }
    const profArgs = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
    const slaves = [
      { name: 'slave', root },
      { name: 'slave+auth', root },
      { name: 'slave-w2', root },
      ...(opts.baselineRoot ? [{ name: 'slave-base', root: opts.baselineRoot }] : []),
    ];
    for (const { name, root: slaveRoot } of slaves) {
      if (!opts.only.has(name) && !(name === 'slave-base' && opts.only.has('slave'))) continue;
      const nodeArgs = [...profArgs, ...(name === 'slave-base' ? opts.baselineNodeArgs : opts.nodeArgs)];
      const extraArgs = name === 'slave-w2' ? [...opts.slaveArgs, '--workers', '2'] : opts.slaveArgs;
      // Each worker loads the policy on its own: on a loaded machine a cluster takes longer to listen.
      const listenTimeoutMs = name === 'slave-w2' ? 60_000 : undefined;
      const launch = { name, extraArgs, nodeArgs, withAuth: name === 'slave+auth', listenTimeoutMs };
      const slave = await startSlave(group, slaveRoot, connectPorts, launch).catch((err: Error) => err);
      if (slave instanceof Error) rows.push({ name, error: slave.message });
      else proxies.push(slave);
    }
    for (const proxy of proxies) targets.push({ row: { name: proxy.name }, proxy });
    rows.unshift(...targets.map((t) => t.row));
    await new Promise((r) => setTimeout(r, 1000));
    const pidOf = (t: (typeof targets)[number]) => (t.proxy ?? t.relay)?.child.pid;
    // After the wait: a cluster's workers exist by now, and any forked later inherit the primary's CPUs.
    for (const t of targets) {
      const cpuList = t.row.name === 'slave-w2' ? pin.all : pin.proxy;
      if (pidOf(t) && cpuList) setAffinity(pidOf(t)!, cpuList);
    }
    for (const t of targets) if (pidOf(t)) t.row.rssIdle = rssTreeBytes(pidOf(t)!);
    // From the wrk phase on, each target runs alone (the tunnels phase measures memory only).
    solo = new OneAtATime(targets.flatMap((t) => pidOf(t) ?? []));

    // Idle tunnels first, on fresh processes: later, garbage left by the load phases is collected
    // at random moments and would swamp the difference being measured.
    const tunnels = tunnelsThatFit(opts.tunnels);
    if (opts.phases.has('tunnels')) loads.push(['idle tunnels', loadAverage()]);
    for (const t of targets) {
      if (!opts.phases.has('tunnels')) break;
      // The authenticated and the 2-worker slave tunnel like the plain one; their request figures are the point.
      if (!t.proxy || t.row.error || t.proxy.credentials || t.row.name === 'slave-w2') continue;
      const pid = t.proxy.child.pid!;
      const before = rssTreeBytes(pid);
      const result = await openIdleTunnels(t.proxy.port, sinkPort, tunnels);
      await new Promise((r) => setTimeout(r, 2000));
      const withTunnels = rssTreeBytes(pid);
      closeTunnels(result.sockets);
      t.row.tunnels = {
        opened: result.opened,
        requested: tunnels,
        addedBytes: withTunnels - before,
        failures: [...result.failures].map(([why, n]) => `${n}× ${why}`).join('; '),
      };
      await new Promise((r) => setTimeout(r, 1000));
    }
    // The machine is shared: alternate the order (A B C C B A ...) so drifting load hits every target alike.
    const order = (round: number) => (round % 2 === 0 ? targets : [...targets].reverse());
    // The relay takes origin-form requests like the upstream itself; proxies get absolute-form.
    const wrkAt = (t: (typeof targets)[number], load: WrkLoad) =>
      t.relay
        ? runWrk(dir, t.row.name, t.relay.httpPort, undefined, load)
        : runWrk(dir, t.row.name, nginx.port, t.proxy, load);
    // Unmeasured first: the slave's JIT and every proxy's connection pools warm up here, not in round 1.
    const wrkPhase = opts.phases.has('wrk') || opts.phases.has('latency');
    if (wrkPhase) loads.push(['wrk', loadAverage()]);
    for (const t of targets) {
      if (t.row.error || !wrkPhase) continue;
      await solo.only(pidOf(t));
      await wrkAt(t, { ...opts.load, durationS: opts.warmupS }).catch(
        (err: unknown) => (t.row.error = describe(err, t.proxy)),
      );
    }
    const wrkRuns = new Map<Row, WrkResult[]>();
    for (let round = 0; round < (wrkPhase ? opts.rounds : 0); round++) {
      for (const t of order(round)) {
        if (t.row.error) continue;
        try {
          const pid = pidOf(t);
          await solo.only(pid);
          const cpu0 = pid ? cpuTreeSeconds(pid) : 0;
          const r = await wrkAt(t, opts.load);
          if (pid) t.row.wrkCpuS = (t.row.wrkCpuS ?? 0) + cpuTreeSeconds(pid) - cpu0;
          wrkRuns.set(t.row, [...(wrkRuns.get(t.row) ?? []), r]);
        } catch (err) {
          t.row.error = describe(err, t.proxy);
        }
      }
    }
    for (const [row, runs] of wrkRuns) row.wrk = combine(runs, opts.load.durationS);

    // Open loop at fractions of the rate Squid reached under wrk in this run.
    const squidMax = rows.find((r) => r.name === 'squid')?.wrk?.reqPerSec;
    if (opts.phases.has('latency') && openLoop && squidMax) {
      loads.push(['open-loop latency', loadAverage()]);
      const latencyTargets = targets.filter((t) => LATENCY_TARGETS.includes(t.row.name));
      const url = `http://127.0.0.1:${nginx.port}/bench`;
      // One 5 s point is at the mercy of whatever else the machine did in those seconds: rounds,
      // alternating the order of targets, and the median of each figure over them.
      const runs = new Map<Row, Map<number, OpenLoopResult[]>>();
      const tails = new Map<Row, Map<number, TailBreakdown[]>>();
      const awake = new CpuAwake(group);
      try {
        // In the try: loops started before one failed to start are stopped too.
        if (opts.idleLoops) await awake.start();
        for (let round = 0; round < opts.latencyRounds; round++) {
          for (const [i, pct] of opts.latencyRates.entries()) {
            const rate = Math.max(1, Math.round((squidMax * pct) / 100));
            for (const t of (i + round) % 2 === 0 ? latencyTargets : [...latencyTargets].reverse()) {
              if (t.row.error) continue;
              const watch =
                opts.tailBreakdown && t.proxy ? new SwitchRecorder(pin.proxy!, join(dir, 'sched.data')) : undefined;
              const trace = watch ? join(dir, 'open-loop-trace.txt') : undefined;
              try {
                await solo.only(pidOf(t));
                await watch?.start();
                const r = await runOpenLoop(openLoop, url, t.proxy?.port, {
                  rate,
                  durationS: opts.latencyDurationS,
                  warmupS: opts.latencyWarmupS,
                  connections: opts.latencyConnections,
                  cpus: pin.load,
                  trace,
                });
                const byRate = runs.get(t.row) ?? new Map<number, OpenLoopResult[]>();
                runs.set(t.row, byRate.set(pct, [...(byRate.get(pct) ?? []), r]));
                if (watch && trace && t.proxy) {
                  await watch.end();
                  const roles = { proxy: new Set(descendants(t.proxy.child.pid!)), idleLoops: new Set(awake.pids()) };
                  const b = breakdown(watch.slices(), readFileSync(trace, 'utf8'), roles);
                  const tailByRate = tails.get(t.row) ?? new Map<number, TailBreakdown[]>();
                  tails.set(t.row, tailByRate.set(pct, [...(tailByRate.get(pct) ?? []), b]));
                }
              } catch (err) {
                t.row.error = describe(err, t.proxy);
              } finally {
                await watch?.end();
              }
            }
          }
        }
      } finally {
        await awake.stop();
      }
      for (const [row, byRate] of runs)
        row.latency = new Map([...byRate].map(([pct, rs]) => [pct, summarizeOpenLoop(rs)]));
      for (const [row, byRate] of tails) row.tail = new Map([...byRate].map(([pct, bs]) => [pct, sumBreakdowns(bs)]));
    }

    const speeds = new Map<Row, number[]>();
    if (opts.phases.has('connect')) loads.push(['CONNECT', loadAverage()]);
    const firstRound = -opts.connectWarmup;
    for (let round = firstRound; round < (opts.phases.has('connect') ? opts.connectRounds : firstRound); round++) {
      for (const t of order(round + 1)) {
        if (t.row.error || t.row.name === 'slave-w2') continue;
        try {
          const pid = pidOf(t);
          await solo.only(pid);
          const cpu0 = pid ? cpuTreeSeconds(pid) : 0;
          const mbps = t.relay
            ? await downloadMBps(t.relay.httpsPort, undefined)
            : await downloadMBps(upstreams.httpsPort, t.proxy);
          // Warm-up rounds are not counted: in the first 1 GiB the slave's optimizing compiler
          // took 16-22 % of its samples, and the upstream's JIT and TLS warm up too.
          if (round < 0) continue;
          speeds.set(t.row, [...(speeds.get(t.row) ?? []), mbps]);
          if (pid) {
            t.row.connectCpuS = (t.row.connectCpuS ?? 0) + cpuTreeSeconds(pid) - cpu0;
            t.row.connectBytes = (t.row.connectBytes ?? 0) + BIG_BODY_BYTES;
          }
        } catch (err) {
          t.row.error = describe(err, t.proxy);
        }
      }
    }
    for (const [row, s] of speeds) row.connectMBps = median(s);
    for (const t of targets) if (pidOf(t) && !t.row.error) t.row.rssLoaded = rssTreeBytes(pidOf(t)!);

    loads.push(['end', loadAverage()]);
    print(rows, opts, tunnels < opts.tunnels ? tunnels : undefined, [loadBefore, loadavg()[0]], {
      pin,
      loads,
      squidMax,
    });
    return 0;
  } finally {
    solo?.resumeAll();
    await group.stopAll();
    for (const p of proxies) p.cleanup();
    relay?.cleanup();
    nginx.cleanup();
    await upstreams.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function describe(err: unknown, proxy: RunningProxy | undefined): string {
  return `${(err as Error).message}${proxy ? `\n${proxy.output().slice(-2000)}` : ''}`;
}

/** Requests over the summed time; latency percentiles as the mean over rounds. */
function combine(runs: WrkResult[], durationS: number): WrkResult {
  const sum = (f: (r: WrkResult) => number) => runs.reduce((a, r) => a + f(r), 0);
  return {
    requests: sum((r) => r.requests),
    reqPerSec: sum((r) => r.reqPerSec * durationS) / (runs.length * durationS),
    p50Ms: sum((r) => r.p50Ms) / runs.length,
    p99Ms: sum((r) => r.p99Ms) / runs.length,
    errors: sum((r) => r.errors),
  };
}

function print(
  rows: Row[],
  opts: Options,
  fdLimitedTunnels: number | undefined,
  load1m: [number, number],
  run: { pin: Pinning; loads: [string, string][]; squidMax: number | undefined },
): void {
  const { load } = opts;
  const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  const mb = (b: number | undefined) => (b === undefined ? '-' : (b / MB).toFixed(1));
  const out: string[] = [];
  out.push(
    `proxy bench: wrk -t${load.threads} -c${load.connections}, ${opts.rounds} rounds of ${load.durationS}s per target in alternating order, keep-alive`,
  );
  out.push(
    `100-byte GETs from nginx (absolute-form through proxies; p50/p99 = mean over rounds; ${opts.warmupS}s unmeasured warm-up each);`,
  );
  out.push(`CONNECT: median of ${opts.connectRounds} curl downloads after ${opts.connectWarmup} unmeasured ones`);
  out.push(`of 64 MiB over HTTPS; slave policy: ${POLICY_RULES} deny rules + 1 allow; all on 127.0.0.1`);
  // Everything here shares the machine's cores with wrk, curl, the upstreams and whatever else runs.
  out.push(
    'CPU us/req and CPU s/GB: CPU time the proxy process tree used per request / per GB tunnelled (less sensitive to machine load)',
  );
  out.push(`CPU clock: ${CPU_CLOCK}`);
  out.push(
    `machine: ${cpus().length} cores, 1-min load average ${load1m[0].toFixed(1)} at start, ${load1m[1].toFixed(1)} at end`,
  );
  out.push(`/proc/loadavg as each phase started: ${run.loads.map(([phase, l]) => `${phase} ${l}`).join('; ')}`);
  const { pin } = run;
  out.push(
    pin.proxy
      ? `pinning (taskset -a -c): proxy under test (squid, slave, slave+auth, tcp-relay) on CPU ${pin.proxy}; ` +
          `slave-w2 on CPUs ${pin.all}; bench, wrk, vegeta, curl, nginx and the HTTPS upstream on CPU ${pin.load}`
      : 'pinning: none (--no-pin or a single CPU)',
  );
  out.push(
    'one target at a time: the other proxies are stopped (SIGSTOP) while one runs wrk, the open loop or CONNECT',
  );
  out.push('');
  const head = [
    '',
    'req/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'CPU us/req',
    'CONNECT MB/s',
    'CPU s/GB',
    'RSS idle MB',
    'RSS loaded MB',
    `idle tunnels`,
    'RSS added MB',
  ];
  const table = [head];
  for (const r of rows) {
    table.push([
      r.name,
      fmt(r.wrk?.reqPerSec),
      fmt(r.wrk?.p50Ms, 2),
      fmt(r.wrk?.p99Ms, 2),
      fmt(r.wrk?.errors),
      r.wrkCpuS !== undefined && r.wrk ? fmt((r.wrkCpuS / r.wrk.requests) * 1e6, 1) : '-',
      fmt(r.connectMBps, 0),
      r.connectCpuS !== undefined && r.connectBytes ? fmt(r.connectCpuS / (r.connectBytes / 1e9), 2) : '-',
      mb(r.rssIdle),
      mb(r.rssLoaded),
      r.tunnels ? `${r.tunnels.opened}/${r.tunnels.requested}` : '-',
      mb(r.tunnels?.addedBytes),
    ]);
  }
  out.push(...alignedRows(table));
  out.push('');
  const latencyRows = rows.filter((r) => r.latency?.size);
  if (latencyRows.length && run.squidMax) {
    out.push(
      `open loop (vegeta attacker, constant rate, ${opts.latencyDurationS}s per point after ${opts.latencyWarmupS}s not counted, median of ${opts.latencyRounds} rounds, keep-alive, at most ${opts.latencyConnections} connections, absolute-form through proxies); ` +
        `rates in % of squid's wrk req/s of this run (${fmt(run.squidMax)}); ` +
        (opts.idleLoops
          ? 'every CPU kept from halting by a SCHED_IDLE busy loop (--idle-loops):'
          : 'idle CPUs halt (--idle-loops keeps them busy):'),
    );
    const lhead = [
      '',
      'rate %',
      'offered/s',
      'sent/s',
      'ok/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'errors',
      'SYN drops',
      'p99 ms by round',
    ];
    const ltable = [lhead];
    for (const pct of opts.latencyRates) {
      for (const r of latencyRows) {
        const l = r.latency!.get(pct);
        if (!l) continue;
        ltable.push([
          r.name,
          String(pct),
          fmt(Math.round((run.squidMax * pct) / 100)),
          fmt(l.sentPerSec),
          fmt(l.okPerSec),
          fmt(l.p50Ms, 2),
          fmt(l.p99Ms, 2),
          fmt(l.p999Ms, 2),
          fmt(l.maxMs, 1),
          fmt(l.errors),
          l.listenOverflows || l.synRetransmits ? `${fmt(l.listenOverflows)}/${fmt(l.synRetransmits)}` : '0',
          l.p99ByRound.map((v) => fmt(v, 1)).join(' '),
        ]);
      }
    }
    out.push(...alignedRows(ltable));
    out.push(
      'SYN drops: accept-queue overflows / SYN retransmits on the machine during the point (TcpExt); each costs a connection 1 s or more',
    );
    out.push('');
  }
  const tailRows = rows.filter((r) => r.tail?.size);
  if (tailRows.length) {
    out.push(
      `where the slowest 1 % of requests waited: what CPU ${run.pin.proxy} (the proxy's) ran while the slowest 1 % of each round's requests were in flight, ` +
        'all rounds, from perf sched_switch and sched_stat_runtime; in brackets, the same over the whole runs. idle: the proxy had nothing to run (the wait was on the other CPU: load generator, upstream, network)',
    );
    const thead = ['', 'rate %', 'slow req', ...TAIL_CLASSES, 'most of other'];
    const ttable = [thead];
    const pc = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;
    for (const pct of opts.latencyRates) {
      for (const r of tailRows) {
        const t = r.tail!.get(pct);
        if (!t) continue;
        const slow = shares(t.slow);
        const whole = shares(t.whole);
        const slowUs = [...t.slow.values()].reduce((a, b) => a + b, 0);
        const others = [...t.others]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 2)
          .map(([comm, us]) => `${comm} ${pc(slowUs ? us / slowUs : 0)}`);
        ttable.push([
          r.name,
          String(pct),
          fmt(t.slowRequests),
          ...TAIL_CLASSES.map((c) => `${pc(slow.get(c))} (${pc(whole.get(c))})`),
          others.join(', ') || '-',
        ]);
      }
    }
    out.push(...alignedRows(ttable, new Set([0, thead.length - 1])));
    out.push('');
  }
  const by = (n: string) => rows.find((r) => r.name === n && !r.error);
  const direct = by('direct');
  const squid = by('squid');
  const slave = by('slave');
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  if (slave?.wrk && squid?.wrk) {
    const ratio = slave.wrk.reqPerSec / squid.wrk.reqPerSec;
    out.push(
      `target slave req/s >= 2x squid:      ${ratio.toFixed(2)}x (${fmt(slave.wrk.reqPerSec)} vs ${fmt(squid.wrk.reqPerSec)})  ${verdict(ratio >= 2)}`,
    );
    const p99 = slave.wrk.p99Ms / squid.wrk.p99Ms;
    out.push(
      `target slave p99 <= 1/2 squid p99:   ${p99.toFixed(2)}x (${fmt(slave.wrk.p99Ms, 2)} vs ${fmt(squid.wrk.p99Ms, 2)} ms)  ${verdict(p99 <= 0.5)}`,
    );
  }
  if (slave?.latency && squid?.latency && run.squidMax) {
    // A rate is sustained when nearly all of it was answered without error; past that p99 is a queue.
    const sustained = (l: OpenLoopResult | undefined, offered: number) =>
      l !== undefined && l.errors === 0 && l.okPerSec >= 0.97 * offered;
    const parts: string[] = [];
    let met = true;
    let compared = 0;
    for (const pct of opts.latencyRates) {
      const offered = (run.squidMax * pct) / 100;
      const a = slave.latency.get(pct);
      const b = squid.latency.get(pct);
      // Direct is the floor: a rate it does not sustain is beyond the generator and upstream on their CPU.
      if (direct?.latency && !sustained(direct.latency.get(pct), offered)) {
        parts.push(`${pct}%: beyond the generator (direct not sustained)`);
        continue;
      }
      if (!sustained(a, offered) || !sustained(b, offered)) {
        parts.push(`${pct}%: not sustained by both`);
        continue;
      }
      const ratio = a!.p99Ms / b!.p99Ms;
      met &&= ratio <= 0.5;
      compared++;
      parts.push(`${pct}%: ${ratio.toFixed(2)}x (${fmt(a!.p99Ms, 2)} vs ${fmt(b!.p99Ms, 2)} ms)`);
    }
    out.push(`target open-loop slave p99 <= 1/2 squid: ${parts.join(', ')}  ${compared ? verdict(met) : 'not judged'}`);
  }
  const w2 = by('slave-w2');
  if (w2?.wrk && slave?.wrk) {
    const cpu = (r: Row) => (r.wrkCpuS !== undefined && r.wrk ? (r.wrkCpuS / r.wrk.requests) * 1e6 : NaN);
    out.push(
      `--workers 2 vs 1: ${(w2.wrk.reqPerSec / slave.wrk.reqPerSec).toFixed(2)}x req/s (${fmt(w2.wrk.reqPerSec)} vs ${fmt(slave.wrk.reqPerSec)}), ` +
        `${fmt(cpu(w2), 1)} vs ${fmt(cpu(slave), 1)} us CPU/req` +
        (pin.proxy
          ? ` (2 workers on CPUs ${pin.all}, sharing CPU ${pin.load} with the load; 1 worker on CPU ${pin.proxy})`
          : ''),
    );
  }
  if (
    slave?.connectCpuS !== undefined &&
    squid?.connectCpuS !== undefined &&
    slave.connectBytes &&
    squid.connectBytes
  ) {
    const a = slave.connectCpuS / (slave.connectBytes / 1e9);
    const b = squid.connectCpuS / (squid.connectBytes / 1e9);
    const relay = by('tcp-relay');
    const floor =
      relay?.connectCpuS !== undefined && relay.connectBytes
        ? `; tcp-relay (splice) ${fmt(relay.connectCpuS / (relay.connectBytes / 1e9), 2)}`
        : '';
    out.push(`target CONNECT CPU s/GB slave <= squid: ${fmt(a, 2)} vs ${fmt(b, 2)}${floor}  ${verdict(a <= b)}`);
  }
  const hop = by('tcp-relay');
  if (hop?.wrk && direct?.wrk) {
    out.push(
      `one extra hop (tcp-relay, no parsing or policy): ${(hop.wrk.reqPerSec / direct.wrk.reqPerSec).toFixed(2)}x direct req/s` +
        (hop.connectMBps !== undefined && direct.connectMBps !== undefined
          ? `, ${(hop.connectMBps / direct.connectMBps).toFixed(2)}x direct CONNECT MB/s`
          : ''),
    );
  }
  if (slave?.connectMBps !== undefined && direct?.connectMBps !== undefined) {
    const ratio = slave.connectMBps / direct.connectMBps;
    out.push(
      `target slave CONNECT >= 0.85x direct: ${ratio.toFixed(2)}x (${fmt(slave.connectMBps)} vs ${fmt(direct.connectMBps)} MB/s)  ${verdict(ratio >= 0.85)}`,
    );
  }
  const base = by('slave-base');
  if (base?.wrk && slave?.wrk) {
    const cpu = (r: Row) => (r.wrkCpuS !== undefined && r.wrk ? (r.wrkCpuS / r.wrk.requests) * 1e6 : NaN);
    out.push(
      `slave vs slave-base (${opts.baselineRoot}): ${(slave.wrk.reqPerSec / base.wrk.reqPerSec).toFixed(2)}x req/s, ${fmt(cpu(slave), 1)} vs ${fmt(cpu(base), 1)} us CPU/req`,
    );
  }
  const authed = by('slave+auth');
  if (authed?.wrk && slave?.wrk) {
    const cpu = (r: Row) => (r.wrkCpuS !== undefined && r.wrk ? (r.wrkCpuS / r.wrk.requests) * 1e6 : NaN);
    out.push(
      `auth on every request (cached bcrypt):   ${(authed.wrk.reqPerSec / slave.wrk.reqPerSec).toFixed(2)}x the slave's req/s, ` +
        `${fmt(cpu(authed) - cpu(slave), 1)} us CPU/req more`,
    );
  }
  // A few tunnels are lost in the noise of garbage collection: judge only a real population.
  if (slave?.tunnels && slave.tunnels.opened >= 1000) {
    const per10k = (slave.tunnels.addedBytes / slave.tunnels.opened) * TUNNEL_TARGET;
    const scaled =
      slave.tunnels.opened === TUNNEL_TARGET
        ? ''
        : ` (${slave.tunnels.opened} opened, scaled linearly to ${TUNNEL_TARGET})`;
    const anchor = squid?.tunnels?.opened
      ? `; squid ${mb((squid.tunnels.addedBytes / squid.tunnels.opened) * TUNNEL_TARGET)} MB`
      : '';
    out.push(
      `target 10000 idle tunnels <= 100 MB:  ${mb(per10k)} MB${scaled}${anchor}  ${verdict(per10k <= 100 * MB && slave.tunnels.opened === slave.tunnels.requested)}`,
    );
  }
  if (fdLimitedTunnels !== undefined) {
    out.push(
      `note: the fd limit allows ${fdLimitedTunnels} tunnels per proxy here (2 descriptors each); raise "ulimit -n" to measure ${opts.tunnels}`,
    );
  }
  for (const r of rows) {
    for (const [pct, l] of r.latency ?? [])
      if (l.firstError) out.push(`${r.name} open loop at ${pct}%: ${l.errors} errors, first: ${l.firstError}`);
    if (r.tunnels?.failures) out.push(`${r.name} tunnel failures: ${r.tunnels.failures}`);
    if (r.error) out.push(`${r.name}: not measured: ${r.error}`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench/proxy: ${err.message}\n`);
    process.exit(1);
  },
);
