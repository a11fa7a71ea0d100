import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { collectOutput, freePort, type ProcessGroup, waitForPort } from './processes.js';

export interface TcpRelay {
  name: string;
  /** Relays to the HTTP upstream (wrk sends origin-form requests here) and to the HTTPS one. */
  httpPort: number;
  httpsPort: number;
  child: ChildProcess;
  cleanup(): void;
}

/**
 * HAProxy in TCP mode with kernel splicing: the cheapest extra hop a userspace relay can be. It
 * parses nothing and decides nothing, so it is not a forward proxy; it shows what one more hop
 * costs on this machine, a floor under the proxies' figures.
 */
export async function startTcpRelay(
  group: ProcessGroup,
  httpUpstream: number,
  httpsUpstream: number,
): Promise<TcpRelay> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-haproxy-'));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    [
      'global',
      '  maxconn 5000',
      'defaults',
      '  mode tcp',
      '  option splice-auto',
      '  timeout connect 5s',
      '  timeout client 120s',
      '  timeout server 120s',
      'listen http',
      `  bind 127.0.0.1:${httpPort}`,
      `  server upstream 127.0.0.1:${httpUpstream}`,
      'listen https',
      `  bind 127.0.0.1:${httpsPort}`,
      `  server upstream 127.0.0.1:${httpsUpstream}`,
      '',
    ].join('\n'),
  );
  // -db: stay in the foreground, so the group's PID is HAProxy's own.
  const child = group.start('tcp-relay', '/usr/sbin/haproxy', ['-db', '-f', conf]);
  const output = collectOutput(child);
  try {
    await waitForPort(httpPort, 'haproxy', child);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output()}`);
  }
  return {
    name: 'tcp-relay',
    httpPort,
    httpsPort,
    child,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
