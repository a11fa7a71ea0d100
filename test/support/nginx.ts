/**
 * A real nginx (Debian's nginx-light) on 127.0.0.1 as an upstream that normalises URLs the way
 * web servers do: it decodes every escape (`%73`, and `%2F` too), merges repeated slashes and
 * removes dot segments before it picks a file. It serves `files` from a directory of its own and
 * logs each request line exactly as it arrived, so a test can check what was forwarded to it.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readyInDir, startChild, type ChildHandle } from './child-process.js';
import { freePort } from './free-port.js';
import { tempDir } from './temp-dir.js';
import { waitForPort } from './wait-for-port.js';

export const NGINX = '/usr/sbin/nginx';

export interface RunningNginx extends ChildHandle {
  port: number;
  /** The request targets nginx received so far, as they arrived (`$request_uri`), in order. */
  requestTargets(): string[];
}

/** `files`: path under the document root (`secret/index.html`) → content. */
export async function startNginx(files: Record<string, string>): Promise<RunningNginx> {
  const dir = tempDir('nginx');
  const root = join(dir.path, 'root');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  // nginx's worker runs as another user when started by root: it must be able to read the files.
  chmodSync(dir.path, 0o755);
  mkdirSync(join(dir.path, 'logs'));
  const accessLog = join(dir.path, 'logs', 'access.log');
  writeFileSync(accessLog, '');
  const port = await freePort();
  const conf = join(dir.path, 'nginx.conf');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
    (t) => `  ${t}_temp_path ${join(dir.path, t)};`,
  );
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir.path, 'nginx.pid')};`,
      `error_log ${join(dir.path, 'logs', 'error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  log_format target "$request_uri";',
      `  access_log ${accessLog} target;`,
      ...temp,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      `    root ${root};`,
      '    default_type text/plain;',
      '    location / { }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  // daemon off and master_process on: the PID is the master's, and stop() (SIGTERM) ends its worker too.
  const child = startChild('nginx', NGINX, ['-c', conf, '-p', dir.path], { stopGraceMs: 3000 });
  const ready = await readyInDir(child, dir, () => waitForPort(port, child));
  return Object.assign(ready, {
    port,
    requestTargets: () =>
      readFileSync(accessLog, 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
  });
}
