/**
 * A master and slaves as real processes (`node proxy/dist/cli/main.js ...`) on loopback, a real
 * upstream, and plain HTTP helpers for the portal API and for requests through a slave.
 * Every process started here is stopped by PID by its `stop()`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ChildHandle } from '../support/child-process.js';
import type { ClusterSecrets } from '../support/cluster-secrets.js';
import { portalListening, startSafesquid } from '../support/safesquid-process.js';
import { masterFlags, startSlave as startSlaveProcess, type SlaveProcess } from '../support/slave-process.js';

/** A master or slave process; `stop()` sends SIGTERM (or the given signal) to its PID, SIGKILL after 10 s. */
export type Proc = ChildHandle;

export interface MasterProc extends Proc {
  url: string;
  port: number;
}

export async function startMaster(
  s: ClusterSecrets,
  o: { port?: number; allow?: string[]; extra?: string[]; dataDir?: string } = {},
): Promise<MasterProc> {
  const args = [
    'master',
    '--listen',
    `127.0.0.1:${o.port ?? 0}`,
    '--data-dir',
    o.dataDir ?? join(s.dir, 'master'),
    '--token-file',
    s.tokenFile,
    '--admin-token-file',
    s.adminTokenFile,
    ...(o.allow ?? ['127.0.0.0/8']).flatMap((a) => ['--allow', a]),
    ...(o.extra ?? []),
  ];
  const p = await startSafesquid('the master', args, portalListening);
  return Object.assign(p, { url: p.ready, port: Number(new URL(p.ready).port) });
}

export type SlaveProc = SlaveProcess;

/** A slave of the cluster `s`: policy from `o.masterUrl`, reports there, state under `s.dir/<name>`. */
export async function startSlave(
  s: ClusterSecrets,
  o: { name: string; masterUrl: string; port?: number; metricsPort?: number; tokenFile?: string; extra?: string[] },
): Promise<SlaveProc> {
  const master = { url: o.masterUrl, tokenFile: o.tokenFile ?? s.tokenFile };
  return startSlaveProcess([...masterFlags(master, join(s.dir, o.name)), ...(o.extra ?? [])], {
    name: o.name,
    listen: `127.0.0.1:${o.port ?? 0}`,
    metricsListen: `127.0.0.1:${o.metricsPort ?? 0}`,
  });
}

export interface Upstream {
  port: number;
  hits: number;
  close(): Promise<void>;
}

/** A real origin server on 127.0.0.1 that answers 200 "ok <path>" to everything. */
export async function startUpstream(): Promise<Upstream> {
  const u = { port: 0, hits: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    u.hits++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  u.port = (server.address() as AddressInfo).port;
  u.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return u;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

export function request(
  url: string,
  o: {
    method?: string;
    token?: string;
    body?: string;
    type?: string;
    headers?: Record<string, string>;
    localAddress?: string;
    proxyPort?: number;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined) headers['content-type'] = o.type ?? 'application/yaml';
    // Through a slave: absolute-form request line to the proxy port.
    const opts: http.RequestOptions = o.proxyPort
      ? {
          host: '127.0.0.1',
          port: o.proxyPort,
          path: url,
          method: o.method ?? 'GET',
          headers: { ...headers, host: target.host },
          agent,
          localAddress: o.localAddress,
        }
      : {
          host: target.hostname,
          port: target.port,
          path: target.pathname + target.search,
          method: o.method ?? 'GET',
          headers,
          agent,
          localAddress: o.localAddress,
        };
    if (o.localAddress) opts.agent = false;
    const req = http.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${o.method ?? 'GET'} ${url} timed out`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A policy for tests: paths starting with `/<blocked>` are denied; loopback upstreams allowed. */
export function blockingPolicy(blocked: string): string {
  return `rules:
  - name: block-${blocked}
    action: deny
    message: ${blocked} is blocked
    match: {urlRegex: "^/${blocked}"}
accessRestriction:
  defaultAction: allow
  ssrf: {allowRanges: [127.0.0.0/8]}
`;
}

export function closeAgent(): void {
  agent.destroy();
}
