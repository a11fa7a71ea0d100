/**
 * The real master: `node proxy/dist/cli/main.js master` as a child process on a free loopback
 * port, with its own data directory, cluster token and admin password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../proxy/dist/cli/main.js', import.meta.url));

export interface MasterProcess {
  url: string;
  pid: number;
  clusterToken: string;
  admin: { username: string; password: string };
  /** Everything the master logged, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export async function startMasterProcess(extraArgs: string[] = []): Promise<MasterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'safesquid-ui-master-'));
  const clusterToken = `cluster-${Math.random().toString(36).slice(2)}`;
  const admin = { username: 'admin', password: `pw-${Math.random().toString(36).slice(2)}` };
  writeFileSync(join(dir, 'token'), `${clusterToken}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'admin-password'), `${admin.password}\n`, { mode: 0o600 });
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'master', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--token-file', join(dir, 'token'), '--admin-password-file', join(dir, 'admin-password'), '--allow', '127.0.0.0/8', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`master did not report its URL within 15 s:\n${output}`)), 15_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        for (const line of output.split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            const entry = JSON.parse(line) as { msg?: string; url?: string };
            if (entry.msg === 'Configuration Portal listening' && entry.url) {
              clearTimeout(timer);
              resolve(entry.url);
              return;
            }
          } catch {
            // a partial line: wait for the rest
          }
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`master exited (${code ?? signal}) before listening:\n${output}`));
      });
    });
    return { url, pid: child.pid!, clusterToken, admin, log: () => output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
