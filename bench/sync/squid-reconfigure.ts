import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild } from '@safesquid/test/dist/support/child-process.js';
import { freePort } from '@safesquid/test/dist/support/free-port.js';
import type { ProcessGroup } from '@safesquid/test/dist/support/process-group.js';
import { waitForPort } from '@safesquid/test/dist/support/wait-for-port.js';
import { giveToSquidUser, squidBaseConfig } from '../proxy/squid-config.js';

function squidConf(dir: string, port: number, blocked: string): string {
  return [
    ...squidBaseConfig(dir, port),
    'access_log none',
    `acl blocked urlpath_regex ^/${blocked}`,
    'http_access deny blocked',
    'http_access allow localhost',
    'http_access deny all',
    '',
  ].join('\n');
}

function status(proxyPort: number, url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxyPort, path: url, headers: { host: new URL(url).host }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.setTimeout(5000, () => req.destroy());
    req.end();
  });
}

/**
 * The anchor: one Squid, an ACL change by `squid -k reconfigure`, timed until Squid enforces it
 * (polled every 5 ms). This is the best case for a single Squid; a fleet adds its own rollout.
 */
export async function squidReconfigureMs(
  group: ProcessGroup,
  upstreamPort: number,
  changes: number,
): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sync-squid-'));
  try {
    const port = await freePort();
    const conf = join(dir, 'squid.conf');
    writeFileSync(conf, squidConf(dir, port, 'p0'));
    giveToSquidUser(dir);
    const child = group.add(
      startChild('squid', '/usr/sbin/squid', ['-N', '-f', conf], { captureLimit: 64 * 1024, stopGraceMs: 5000 }),
    );
    await waitForPort(port, child, 15_000);
    const times: number[] = [];
    for (let i = 1; i <= changes; i++) {
      const path = `p${i}`;
      writeFileSync(conf, squidConf(dir, port, path));
      const t0 = performance.now();
      const r = spawnSync('/usr/sbin/squid', ['-k', 'reconfigure', '-f', conf], { encoding: 'utf8', timeout: 10_000 });
      if (r.status !== 0) throw new Error(`squid -k reconfigure failed: ${r.stderr}`);
      const deadline = Date.now() + 30_000;
      while ((await status(port, `http://127.0.0.1:${upstreamPort}/${path}/x`)) !== 403) {
        if (Date.now() > deadline) throw new Error('squid did not enforce the new ACL within 30 s');
        await new Promise((res) => setTimeout(res, 5));
      }
      times.push(performance.now() - t0);
    }
    await child.stop();
    return times;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
