/**
 * The slave's operations endpoint (port 9090 by default): `/metrics` for Prometheus, `/healthz`
 * (the process answers) and `/readyz` (ready only with a policy loaded: a load balancer must not
 * send traffic to a proxy that cannot decide), and `/status` (a read-only HTML page, or JSON for
 * `Accept: application/json`) with `/status.json`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SlaveStatus } from './slave-status.js';
import { renderStatusPage } from './status-page.js';

export interface MetricsServerOptions {
  /** Prometheus text exposition and its content type. */
  metrics: () => Promise<{ contentType: string; body: string }>;
  readiness: () => { ready: boolean; detail: string };
  /** What `/status` shows; without it `/status` is 404. */
  status?: () => Promise<SlaveStatus>;
}

export class MetricsServer {
  private readonly server: http.Server;

  constructor(opts: MetricsServerOptions) {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const r = opts.readiness();
        res.writeHead(r.ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${r.detail}\n`);
      } else if (path === '/metrics') {
        opts.metrics().then(
          (m) => res.writeHead(200, { 'Content-Type': m.contentType }).end(m.body),
          (err: Error) =>
            res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics collection failed: ${err.message}\n`),
        );
      } else if ((path === '/status' || path === '/status.json') && opts.status) {
        const json = path === '/status.json' || /\bapplication\/json\b/.test(req.headers.accept ?? '');
        opts.status().then(
          (s) =>
            json
              ? res
                  .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
                  .end(`${JSON.stringify(s, null, 2)}\n`)
              : res
                  .writeHead(200, {
                    'Content-Type': 'text/html; charset=utf-8',
                    'Cache-Control': 'no-store',
                    // Nothing on the page runs or loads: say so to the browser too.
                    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
                    'X-Content-Type-Options': 'nosniff',
                  })
                  .end(renderStatusPage(s)),
          (err: Error) =>
            res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`status collection failed: ${err.message}\n`),
        );
      } else {
        res
          .writeHead(404, { 'Content-Type': 'text/plain' })
          .end(`not found: try /metrics, /healthz, /readyz${opts.status ? ' or /status' : ''}\n`);
      }
    });
    this.server.keepAliveTimeout = 65_000;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: host || undefined, port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
