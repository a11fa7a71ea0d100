// What a real node changes on the host, recorded before it starts so that teardown can put back
// exactly that and a test can check nothing is left: sysctls, network links and routes, netfilter
// tables and chains, mounts, cgroups and the well-known dirs kubelet, containerd and CNI fall back to.
// Everything here is synchronous so it also runs from a process 'exit' handler.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The sysctls kubelet, kube-proxy and the CNI bridge plugin set (and a few they may). */
export const WATCHED_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.forwarding',
  'net.ipv6.conf.all.forwarding',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
  'net.netfilter.nf_conntrack_max',
  'net.netfilter.nf_conntrack_tcp_timeout_established',
  'net.netfilter.nf_conntrack_tcp_timeout_close_wait',
  'net.netfilter.nf_conntrack_tcp_be_liberal',
];

/**
 * Dirs the components write to whatever their config says (shim sockets and fifos under
 * /run/containerd, the kubelet's /var/log/containers links, libcni's cache in /var/lib/cni) or would
 * with a config mistake: the ones that did not exist before are removed at teardown.
 */
export const WATCHED_PATHS = [
  '/var/lib/kubelet',
  '/var/log/pods',
  '/var/log/containers',
  '/run/containerd',
  '/var/lib/containerd',
  '/opt/containerd',
  '/var/lib/cni',
  '/etc/cni',
  '/opt/cni',
  '/run/netns',
  '/etc/kubernetes',
  '/var/lib/kube-proxy',
  '/usr/libexec/kubernetes',
];

const IPTABLES = [
  { family: 'ip', save: 'iptables-save', cmd: 'iptables' },
  { family: 'ip6', save: 'ip6tables-save', cmd: 'ip6tables' },
] as const;
const CGROUP_ROOT = '/sys/fs/cgroup';

export interface HostSnapshot {
  sysctls: Record<string, string | null>;
  /** Existence of each of WATCHED_PATHS. */
  paths: Record<string, boolean>;
  /** Network interface names. */
  links: string[];
  /** `ip route` and `ip -6 route` lines of the main table. */
  routes: string[];
  /** nftables tables as `family name` (iptables-nft keeps its rules in these). */
  nftTables: string[];
  /** iptables chains as `family/table/chain`. */
  chains: string[];
  mounts: string[];
  /** First-level cgroups as `hierarchy/name` (kubelet's kubepods lives there). */
  cgroups: string[];
}

function sysctlPath(name: string): string {
  return join('/proc/sys', ...name.split('.'));
}

function readSysctl(name: string): string | null {
  try {
    return readFileSync(sysctlPath(name), 'utf8').trim();
  } catch {
    return null;
  }
}

function lines(cmd: string, args: string[]): string[] {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.error || res.status !== 0) return [];
  return res.stdout.split('\n').filter((l) => l.trim() !== '');
}

function iptablesChains(): string[] {
  const chains: string[] = [];
  for (const { family, save } of IPTABLES) {
    let table = '';
    for (const line of lines(save, [])) {
      if (line.startsWith('*')) table = line.slice(1);
      else if (line.startsWith(':')) chains.push(`${family}/${table}/${line.slice(1).split(' ')[0]}`);
    }
  }
  return chains.sort();
}

function nftTables(): string[] {
  return lines('nft', ['list', 'tables'])
    .map((l) => l.replace(/^table /, ''))
    .sort();
}

function mountPoints(): string[] {
  // mountinfo field 5 is the mount point, with spaces etc. octal-escaped.
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

function cgroupHierarchies(): string[] {
  try {
    return readdirSync(CGROUP_ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function firstLevelCgroups(): string[] {
  const out: string[] = [];
  for (const h of cgroupHierarchies()) {
    try {
      for (const d of readdirSync(join(CGROUP_ROOT, h), { withFileTypes: true }))
        if (d.isDirectory()) out.push(`${h}/${d.name}`);
    } catch {
      // a hierarchy we may not read: not ours to check
    }
  }
  return out.sort();
}

export function snapshotHost(): HostSnapshot {
  return {
    sysctls: Object.fromEntries(WATCHED_SYSCTLS.map((s) => [s, readSysctl(s)])),
    paths: Object.fromEntries(WATCHED_PATHS.map((p) => [p, existsSync(p)])),
    links: readdirSync('/sys/class/net').sort(),
    routes: [...lines('ip', ['route', 'show']), ...lines('ip', ['-6', 'route', 'show'])].sort(),
    nftTables: nftTables(),
    chains: iptablesChains(),
    mounts: mountPoints().sort(),
    cgroups: firstLevelCgroups(),
  };
}

/** Human-readable differences (`+` appeared, `-` vanished, `~` changed); empty when the host is as it was. */
export function diffHostSnapshots(before: HostSnapshot, after: HostSnapshot): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(before.sysctls)) {
    if (after.sysctls[name] !== value) out.push(`~ sysctl ${name}: ${value} -> ${after.sysctls[name]}`);
  }
  for (const [path, existed] of Object.entries(before.paths)) {
    if (after.paths[path] !== existed) out.push(`${existed ? '-' : '+'} path ${path}`);
  }
  const lists: [string, keyof HostSnapshot][] = [
    ['link', 'links'],
    ['route', 'routes'],
    ['nft table', 'nftTables'],
    ['chain', 'chains'],
    ['mount', 'mounts'],
    ['cgroup', 'cgroups'],
  ];
  for (const [what, key] of lists) {
    const a = new Set(before[key] as string[]);
    const b = new Set(after[key] as string[]);
    for (const x of b) if (!a.has(x)) out.push(`+ ${what} ${x}`);
    for (const x of a) if (!b.has(x)) out.push(`- ${what} ${x}`);
  }
  return out;
}

export interface RestoreOptions {
  /** Dirs of this node (control plane dir): new mounts under them are unmounted. */
  ownDirs: string[];
  /** Report each action and failure; default silent. */
  log?: (line: string) => void;
}

function tryRun(cmd: string, args: string[], log: (l: string) => void): boolean {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    log(`${cmd} ${args.join(' ')}: ${(res.stderr || res.error?.message || `exit ${res.status}`).trim()}`);
    return false;
  }
  return true;
}

function pidsOfCgroup(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    try {
      pids.push(...readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // vanished meanwhile
    }
  };
  walk(dir);
  return pids;
}

function rmdirTree(dir: string, log: (l: string) => void): void {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirTree(join(dir, e.name), log);
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log(`rmdir ${dir}: ${(err as Error).message}`);
  }
}

/** Deletes every rule that jumps to one of `doomed` in a chain that stays, then flushes and deletes `doomed`. */
function deleteChains(
  cmd: string,
  table: string,
  allChains: string[],
  doomed: Set<string>,
  log: (l: string) => void,
): void {
  for (const chain of allChains) {
    if (doomed.has(chain)) continue;
    const rules = lines(cmd, ['-w', '5', '-t', table, '-S', chain]).filter((l) => l.startsWith('-A '));
    // Rule numbers count from 1 in listing order; delete from the end so earlier numbers hold.
    for (let i = rules.length - 1; i >= 0; i--) {
      const target = /\s-[jg] (\S+)/.exec(rules[i])?.[1];
      if (target && doomed.has(target)) tryRun(cmd, ['-w', '5', '-t', table, '-D', chain, String(i + 1)], log);
    }
  }
  for (const chain of doomed) tryRun(cmd, ['-w', '5', '-t', table, '-F', chain], log);
  for (const chain of doomed) tryRun(cmd, ['-w', '5', '-t', table, '-X', chain], log);
}

/**
 * Undoes what appeared since `before`: kills what still runs in new cgroups (containers) by PID,
 * unmounts new mounts under `ownDirs` and WATCHED_PATHS, deletes new links, new iptables chains
 * (with the rules jumping to them) and new nft tables, removes new cgroups and WATCHED_PATHS, and
 * writes back changed sysctls. Returns what could not be undone (empty when the host is as it was).
 */
export function restoreHost(before: HostSnapshot, opts: RestoreOptions): string[] {
  const log = opts.log ?? (() => undefined);
  const oldCgroups = new Set(before.cgroups);
  const newCgroups = firstLevelCgroups().filter((c) => !oldCgroups.has(c));
  for (const cg of newCgroups) {
    for (const pid of pidsOfCgroup(join(CGROUP_ROOT, cg))) {
      try {
        process.kill(pid, 'SIGKILL');
        log(`killed pid ${pid} left in cgroup ${cg}`);
      } catch {
        // gone already
      }
    }
  }

  const oldMounts = new Set(before.mounts);
  const roots = [...opts.ownDirs, ...WATCHED_PATHS.filter((p) => !before.paths[p])];
  const under = (m: string) => roots.some((r) => m === r || m.startsWith(`${r}/`));
  // Deepest first; a mount hidden under another shows up again once the upper one is gone.
  for (let round = 0; round < 5; round++) {
    const doomed = mountPoints()
      .filter((m) => !oldMounts.has(m) && under(m))
      .sort((a, b) => b.length - a.length);
    if (doomed.length === 0) break;
    for (const m of doomed) {
      if (!tryRun('umount', [m], log)) tryRun('umount', ['-l', m], log);
    }
  }

  const oldLinks = new Set(before.links);
  for (const link of readdirSync('/sys/class/net')) {
    if (!oldLinks.has(link)) tryRun('ip', ['link', 'delete', link], log);
  }
  const oldRoutes = new Set(before.routes);
  for (const route of lines('ip', ['route', 'show'])) {
    if (!oldRoutes.has(route)) tryRun('ip', ['route', 'delete', ...route.split(' ').filter(Boolean)], log);
  }

  const oldChains = new Set(before.chains);
  const oldTables = new Set(before.nftTables);
  for (const { family, cmd } of IPTABLES) {
    const byTable = new Map<string, string[]>();
    for (const c of iptablesChains()) {
      const [f, table, chain] = c.split('/');
      if (f !== family || !oldTables.has(`${family} ${table}`)) continue; // a new table goes whole, below
      byTable.set(table, [...(byTable.get(table) ?? []), chain]);
    }
    for (const [table, chains] of byTable) {
      const doomed = new Set(chains.filter((c) => !oldChains.has(`${family}/${table}/${c}`)));
      if (doomed.size > 0) deleteChains(cmd, table, chains, doomed, log);
    }
  }
  for (const t of nftTables()) {
    if (!oldTables.has(t)) tryRun('nft', ['delete', 'table', ...t.split(' ')], log);
  }

  for (const cg of newCgroups) rmdirTree(join(CGROUP_ROOT, cg), log);

  for (const [name, value] of Object.entries(before.sysctls)) {
    if (value === null || readSysctl(name) === value) continue;
    try {
      writeFileSync(sysctlPath(name), value);
    } catch (err) {
      log(`sysctl ${name}=${value}: ${(err as Error).message}`);
    }
  }

  for (const path of WATCHED_PATHS) {
    if (!before.paths[path]) {
      rmSync(path, { recursive: true, force: true });
    } else if (path === '/var/log/containers') {
      removeLinksInto(path, opts.ownDirs, log);
    }
  }
  return diffHostSnapshots(before, snapshotHost());
}

// The kubelet links each container's log into /var/log/containers whatever its pod log dir is.
function removeLinksInto(dir: string, targets: string[], log: (l: string) => void): void {
  try {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!lstatSync(path).isSymbolicLink()) continue;
      const to = readlinkSync(path);
      if (targets.some((t) => to.startsWith(`${t}/`))) rmSync(path, { force: true });
    }
  } catch (err) {
    log(`cleaning ${dir}: ${(err as Error).message}`);
  }
}

/** PIDs of processes whose command line contains `needle` (containerd shims name their daemon's socket). */
export function pidsWithArg(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Whether the netfilter tools this module drives are there (CI installs them with the node's packages). */
export function hostToolsMissing(): string[] {
  return ['ip', 'iptables-save', 'ip6tables-save', 'iptables', 'ip6tables', 'nft', 'umount'].filter(
    (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
  );
}
