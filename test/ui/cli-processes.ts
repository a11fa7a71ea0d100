/**
 * The real `safesquid` CLI as child processes: a master (`safesquid master`) on a free loopback
 * port with its own data directory, token and admin password, and slaves pointed at it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../proxy/dist/cli/main.js', import.meta.url));

interface Spawned {
  pid: number;
  /** Everything the process printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `safesquid ARGS` and resolves once it logs the JSON line `pick` accepts. */
async function spawnCli<T>(what: string, args: string[], pick: (entry: Record<string, unknown>) => T | undefined): Promise<Spawned & { ready: T }> {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!running()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => running() && child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    for (const line of output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const found = pick(JSON.parse(line) as Record<string, unknown>);
        if (found !== undefined) return { pid: child.pid!, output: () => output, stop, ready: found };
      } catch {
        // a partial line: the rest is on its way
      }
    }
    if (!running() || Date.now() > deadline) {
      await stop();
      throw new Error(`${what} ${running() ? 'not ready after 15 s' : 'exited before it was ready'}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface MasterProcess extends Spawned {
  url: string;
  clusterToken: string;
  tokenFile: string;
  /** Bearer token with administrator rights, for checks the test makes outside the browser. */
  adminToken: string;
  admin: { username: string; password: string };
  /** Scratch directory for this master and its slaves; removed by stop(). */
  dir: string;
}

export async function startMasterProcess(extraArgs: string[] = []): Promise<MasterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'safesquid-ui-'));
  const clusterToken = `cluster-${Math.random().toString(36).slice(2)}`;
  const admin = { username: 'admin', password: `pw-${Math.random().toString(36).slice(2)}` };
  const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${clusterToken}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'admin-token'), `${adminToken}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'admin-password'), `${admin.password}\n`, { mode: 0o600 });
  const args = ['master', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--token-file', tokenFile];
  args.push('--admin-password-file', join(dir, 'admin-password'), '--admin-token-file', join(dir, 'admin-token'), '--allow', '127.0.0.0/8', ...extraArgs);
  let p;
  try {
    p = await spawnCli('the master', args, (e) => (e.msg === 'Configuration Portal listening' ? String(e.url) : undefined));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const stopProcess = p.stop;
  return {
    ...p,
    url: p.ready,
    clusterToken,
    tokenFile,
    adminToken,
    admin,
    dir,
    async stop() {
      await stopProcess();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SlaveProcess extends Spawned {
  name: string;
  /** The forward proxy's port on 127.0.0.1. */
  port: number;
}

/** A slave that takes its policy from `master` and ships reports to it; resolves once the master lists it in sync. */
export async function startSlaveProcess(master: MasterProcess, name: string): Promise<SlaveProcess> {
  const args = ['slave', '--name', name, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'];
  args.push('--master', master.url, '--token-file', master.tokenFile, '--state-dir', join(master.dir, name));
  const p = await spawnCli(`slave ${name}`, args, (e) => (e.msg === 'slave started' ? Number(String((e.listen as string[])[0]).split(':').pop()) : undefined));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(`${master.url}/api/v1/slaves`, { headers: { Authorization: `Bearer ${master.adminToken}` } });
    const slaves = (await res.json()) as { name: string; inSync: boolean }[];
    if (slaves.some((s) => s.name === name && s.inSync)) return { ...p, name, port: p.ready };
    if (Date.now() > deadline) {
      await p.stop();
      throw new Error(`slave ${name} not in sync with the master after 10 s:\n${p.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
