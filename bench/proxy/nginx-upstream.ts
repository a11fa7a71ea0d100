import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { collectOutput, freePort, type ProcessGroup, waitForPort } from './processes.js';
import { SMALL_BODY } from './upstreams.js';

export interface NginxUpstream {
  port: number;
  child: ChildProcess;
  cleanup(): void;
}

/**
 * Debian's nginx answering every GET with the 100-byte body, keep-alive without a request
 * limit. The request-rate runs use it rather than a node server: a node upstream spends a third
 * of this 2-core machine answering, and the proxies would be measured on what it leaves them.
 * One process (`master_process off`): the PID the bench starts is the one that serves, so stopping
 * it by PID leaves no worker behind, even when the bench itself is killed and cannot stop it.
 */
export async function startNginxUpstream(group: ProcessGroup): Promise<NginxUpstream> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  mkdirSync(join(dir, 'logs'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`);
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process off;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'logs', 'error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      '  keepalive_requests 10000000;',
      '  keepalive_timeout 120s;',
      ...temp,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      `    location / { default_type text/plain; return 200 "${SMALL_BODY.toString('latin1')}"; }`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child = group.start('nginx', '/usr/sbin/nginx', ['-c', conf, '-p', dir]);
  const output = collectOutput(child);
  try {
    await waitForPort(port, 'nginx', child);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output()}`);
  }
  return { port, child, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
