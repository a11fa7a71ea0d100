import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { collectOutput, freePort, type ProcessGroup, waitForPort } from './processes.js';
import { giveToSquidUser, squidBaseConfig } from './squid-config.js';

export interface RunningProxy {
  name: string;
  port: number;
  /** `user:password` the proxy requires (Basic), if any. */
  credentials?: string;
  child: ChildProcess;
  output(): string;
  cleanup(): void;
}

/**
 * Debian's Squid as an anchor: caching off, access log on, Debian's default ACLs (Safe_ports,
 * CONNECT only to SSL_ports, localhost allowed), with the tunnel ports added to SSL_ports.
 */
export async function startSquid(group: ProcessGroup, connectPorts: number[]): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-squid-'));
  const port = await freePort();
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      ...squidBaseConfig(dir, port),
      `access_log stdio:${join(dir, 'access.log')} squid`,
      // Squid reserves descriptors per connection: give it all the process may have.
      'max_filedescriptors 20000',
      'acl SSL_ports port 443',
      ...connectPorts.map((p) => `acl SSL_ports port ${p}`),
      'acl Safe_ports port 80 21 443 70 210 1025-65535 280 488 591 777',
      'http_access deny !Safe_ports',
      'http_access deny CONNECT !SSL_ports',
      'http_access allow localhost',
      'http_access deny all',
      '',
    ].join('\n'),
  );
  giveToSquidUser(dir);
  const parse = spawnSync('/usr/sbin/squid', ['-k', 'parse', '-f', conf], { encoding: 'utf8', timeout: 10_000 });
  if (parse.status !== 0) throw new Error(`squid refused the generated ${conf}: ${parse.stderr}`);
  const child = group.start('squid', '/usr/sbin/squid', ['-N', '-f', conf]);
  const output = collectOutput(child);
  try {
    await waitForPort(port, 'squid', child);
  } catch (err) {
    let log = '';
    try {
      log = readFileSync(join(dir, 'cache.log'), 'utf8').slice(-2000);
    } catch {
      // no log yet
    }
    throw new Error(`${(err as Error).message}\n${output()}\n${log}`);
  }
  return { name: 'squid', port, child, output, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
