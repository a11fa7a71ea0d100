/**
 * bench/proxy: the slave against Debian's Squid and against no proxy at all, in one run.
 * Keep-alive 100-byte GETs with wrk, CONNECT bulk throughput of a 64 MiB HTTPS download with
 * curl, RSS, and the RSS that idle CONNECT tunnels add. See `--help`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBulkMBps } from './connect-bulk.js';
import { closeTunnels, openIdleTunnels } from './idle-tunnels.js';
import { ProcessGroup, rssTreeBytes } from './processes.js';
import { POLICY_RULES, startSlave } from './slave.js';
import { startSquid, type RunningProxy } from './squid.js';
import { startUpstreams } from './upstreams.js';
import { runWrk, type WrkLoad, type WrkResult } from './wrk.js';

const HELP = `usage: node bench/dist/proxy/main.js [options]
  --duration S        wrk duration per target (default 10)
  --connections N     wrk connections (default 50)
  --threads N         wrk threads (default 2)
  --tunnels N         idle CONNECT tunnels per proxy (default 10000, lowered to fit the fd limit)
  --only LIST         comma-separated subset of direct,squid,slave
  --slave-arg ARG     extra argument for "safesquid slave" (repeatable)
  --cpu-prof DIR      run the slave under node --cpu-prof, profiles written to DIR
`;

interface Options {
  load: WrkLoad;
  tunnels: number;
  only: Set<string>;
  slaveArgs: string[];
  cpuProfDir?: string;
}

interface Row {
  name: string;
  wrk?: WrkResult;
  connectMBps?: number;
  rssIdle?: number;
  rssLoaded?: number;
  tunnels?: { opened: number; requested: number; addedBytes: number; failures: string };
  error?: string;
}

const MB = 1024 * 1024;
const TUNNEL_TARGET = 10_000;

function parseOptions(argv: string[]): Options {
  const opts: Options = { load: { durationS: 10, connections: 50, threads: 2 }, tunnels: TUNNEL_TARGET, only: new Set(['direct', 'squid', 'slave']), slaveArgs: [] };
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
      case '--duration': opts.load.durationS = int(); break;
      case '--connections': opts.load.connections = int(); break;
      case '--threads': opts.load.threads = int(); break;
      case '--tunnels': opts.tunnels = int(); break;
      case '--only': opts.only = new Set(value().split(',')); break;
      case '--slave-arg': opts.slaveArgs.push(value()); break;
      case '--cpu-prof': opts.cpuProfDir = value(); break;
      case '--help': case '-h': process.stdout.write(HELP); process.exit(0); break;
      default: throw new Error(`unknown option ${flag}\n\n${HELP}`);
    }
  }
  for (const name of opts.only) if (!['direct', 'squid', 'slave'].includes(name)) throw new Error(`--only: unknown target "${name}"`);
  return opts;
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
  process.on('exit', () => group.killAllNow());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      group.killAllNow();
      process.exit(130);
    });
  }
  // The whole run is bounded: wrk runs plus downloads plus tunnels, with room to spare.
  const watchdog = setTimeout(() => {
    process.stderr.write('bench: did not finish within its time bound; killing everything\n');
    group.killAllNow();
    process.exit(1);
  }, (opts.load.durationS * 3 + 240) * 1000);
  watchdog.unref();

  const upstreams = await startUpstreams();
  const sink = group.start('tcp-sink', process.execPath, [fileURLToPath(new URL('./tcp-sink.js', import.meta.url))]);
  const sinkPort = await new Promise<number>((resolve, reject) => {
    sink.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    sink.once('exit', (code) => reject(new Error(`tcp sink exited with ${code}`)));
  });
  const connectPorts = [upstreams.httpsPort, sinkPort];
  const rows: Row[] = [];
  const proxies: RunningProxy[] = [];
  try {
    if (opts.only.has('direct')) rows.push(await measure('direct', undefined));
    if (opts.only.has('squid')) {
      const squid = await startSquid(group, connectPorts).catch((err: Error) => err);
      rows.push(squid instanceof Error ? { name: 'squid', error: squid.message } : await measure('squid', squid));
      if (!(squid instanceof Error)) proxies.push(squid);
    }
    if (opts.only.has('slave')) {
      const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
      const slave = await startSlave(group, root, connectPorts, opts.slaveArgs, nodeArgs).catch((err: Error) => err);
      rows.push(slave instanceof Error ? { name: 'slave', error: slave.message } : await measure('slave', slave));
      if (!(slave instanceof Error)) proxies.push(slave);
    }
    const tunnels = tunnelsThatFit(opts.tunnels);
    for (const proxy of proxies) {
      const row = rows.find((r) => r.name === proxy.name)!;
      if (row.error) continue;
      const before = rssTreeBytes(proxy.child.pid!);
      const result = await openIdleTunnels(proxy.port, sinkPort, tunnels);
      await new Promise((r) => setTimeout(r, 2000));
      const withTunnels = rssTreeBytes(proxy.child.pid!);
      closeTunnels(result.sockets);
      row.tunnels = {
        opened: result.opened,
        requested: tunnels,
        addedBytes: withTunnels - before,
        failures: [...result.failures].map(([why, n]) => `${n}× ${why}`).join('; '),
      };
      await new Promise((r) => setTimeout(r, 1000));
    }
    print(rows, opts, tunnels < opts.tunnels ? tunnels : undefined);
    return 0;
  } finally {
    await group.stopAll();
    for (const p of proxies) p.cleanup();
    await upstreams.close();
    rmSync(dir, { recursive: true, force: true });
  }

  async function measure(name: string, proxy: RunningProxy | undefined): Promise<Row> {
    const row: Row = { name };
    const pid = proxy?.child.pid;
    try {
      if (pid) row.rssIdle = rssTreeBytes(pid);
      row.wrk = await runWrk(dir, name, upstreams.httpPort, proxy?.port, opts.load);
      row.connectMBps = await connectBulkMBps(upstreams.httpsPort, proxy?.port);
      if (pid) row.rssLoaded = rssTreeBytes(pid);
    } catch (err) {
      row.error = `${(err as Error).message}${proxy ? `\n${proxy.output().slice(-2000)}` : ''}`;
    }
    return row;
  }
}

function print(rows: Row[], opts: Options, fdLimitedTunnels: number | undefined): void {
  const { load } = opts;
  const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  const mb = (b: number | undefined) => (b === undefined ? '-' : (b / MB).toFixed(1));
  const out: string[] = [];
  out.push(`proxy bench: wrk -t${load.threads} -c${load.connections} -d${load.durationS}s keep-alive 100-byte GETs (absolute-form through proxies);`);
  out.push(`CONNECT: median of 3 curl downloads of 64 MiB over HTTPS; slave policy: ${POLICY_RULES} deny rules + 1 allow; all on 127.0.0.1`);
  out.push('');
  const head = ['', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'CONNECT MB/s', 'RSS idle MB', 'RSS loaded MB', `idle tunnels`, 'RSS added MB'];
  const table = [head];
  for (const r of rows) {
    table.push([
      r.name,
      fmt(r.wrk?.reqPerSec),
      fmt(r.wrk?.p50Ms, 2),
      fmt(r.wrk?.p99Ms, 2),
      fmt(r.wrk?.errors),
      fmt(r.connectMBps, 0),
      mb(r.rssIdle),
      mb(r.rssLoaded),
      r.tunnels ? `${r.tunnels.opened}/${r.tunnels.requested}` : '-',
      mb(r.tunnels?.addedBytes),
    ]);
  }
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) out.push(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  out.push('');
  const by = (n: string) => rows.find((r) => r.name === n && !r.error);
  const direct = by('direct');
  const squid = by('squid');
  const slave = by('slave');
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  if (slave?.wrk && squid?.wrk) {
    const ratio = slave.wrk.reqPerSec / squid.wrk.reqPerSec;
    out.push(`target slave req/s >= 2x squid:      ${ratio.toFixed(2)}x (${fmt(slave.wrk.reqPerSec)} vs ${fmt(squid.wrk.reqPerSec)})  ${verdict(ratio >= 2)}`);
    const p99 = slave.wrk.p99Ms / squid.wrk.p99Ms;
    out.push(`target slave p99 <= 1/2 squid p99:   ${p99.toFixed(2)}x (${fmt(slave.wrk.p99Ms, 2)} vs ${fmt(squid.wrk.p99Ms, 2)} ms)  ${verdict(p99 <= 0.5)}`);
  }
  if (slave?.connectMBps !== undefined && direct?.connectMBps !== undefined) {
    const ratio = slave.connectMBps / direct.connectMBps;
    out.push(`target slave CONNECT >= 0.85x direct: ${ratio.toFixed(2)}x (${fmt(slave.connectMBps)} vs ${fmt(direct.connectMBps)} MB/s)  ${verdict(ratio >= 0.85)}`);
  }
  if (slave?.tunnels && slave.tunnels.opened > 0) {
    const per10k = (slave.tunnels.addedBytes / slave.tunnels.opened) * TUNNEL_TARGET;
    const scaled = slave.tunnels.opened === TUNNEL_TARGET ? '' : ` (${slave.tunnels.opened} opened, scaled linearly to ${TUNNEL_TARGET})`;
    const anchor = squid?.tunnels?.opened ? `; squid ${mb((squid.tunnels.addedBytes / squid.tunnels.opened) * TUNNEL_TARGET)} MB` : '';
    out.push(`target 10000 idle tunnels <= 100 MB:  ${mb(per10k)} MB${scaled}${anchor}  ${verdict(per10k <= 100 * MB && slave.tunnels.opened === slave.tunnels.requested)}`);
  }
  if (fdLimitedTunnels !== undefined) {
    out.push(`note: the fd limit allows ${fdLimitedTunnels} tunnels per proxy here (2 descriptors each); raise "ulimit -n" to measure ${opts.tunnels}`);
  }
  for (const r of rows) {
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
