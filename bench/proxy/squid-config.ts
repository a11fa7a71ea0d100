import { spawnSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * What every Squid anchor in these benchmarks shares: loopback only, caching off, its files in
 * `dir`, a quick shutdown. Callers add their logging and access rules.
 */
export function squidBaseConfig(dir: string, port: number): string[] {
  return [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${join(dir, 'squid.pid')}`,
    'cache_effective_user proxy',
    `cache_log ${join(dir, 'cache.log')}`,
    'cache_store_log none',
    'netdb_filename none',
    `coredump_dir ${dir}`,
    'cache deny all',
    'cache_mem 0 MB',
    'shutdown_lifetime 1 seconds',
  ];
}

/** Squid drops to the proxy user: the files it writes in `dir` must be that user's. */
export function giveToSquidUser(dir: string): void {
  const proxyUser = spawnSync('id', ['-u', 'proxy'], { encoding: 'utf8' });
  const proxyGroup = spawnSync('id', ['-g', 'proxy'], { encoding: 'utf8' });
  if (userInfo().uid === 0 && proxyUser.status === 0)
    chownSync(dir, Number(proxyUser.stdout), Number(proxyGroup.stdout));
}
