import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics, on a registry of its own. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles: Counter<'kind' | 'result'>;
  readonly reconcileSeconds: Histogram<'kind'>;
  readonly queueDepth: Gauge;
  readonly leader: Gauge;
  readonly apiRequests: Counter<'verb' | 'resource' | 'code'>;
  readonly childWrites: Counter<'kind' | 'outcome'>;
  readonly watchRestarts: Counter<'kind' | 'reason'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'safesquid_operator_' });
    this.reconciles = new Counter({
      name: 'safesquid_operator_reconciles_total',
      help: 'Reconciles by kind and result (success, error, requeue).',
      labelNames: ['kind', 'result'],
      registers: [this.registry],
    });
    this.reconcileSeconds = new Histogram({
      name: 'safesquid_operator_reconcile_duration_seconds',
      help: 'Time one reconcile took.',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.queueDepth = new Gauge({
      name: 'safesquid_operator_queue_depth',
      help: 'Keys waiting in the work queue.',
      registers: [this.registry],
    });
    this.leader = new Gauge({
      name: 'safesquid_operator_leader',
      help: '1 while this process holds the leader lease (or runs without election).',
      registers: [this.registry],
    });
    this.apiRequests = new Counter({
      name: 'safesquid_operator_kube_requests_total',
      help: 'Requests to the Kubernetes API by verb, resource and HTTP code (watches not included).',
      labelNames: ['verb', 'resource', 'code'],
      registers: [this.registry],
    });
    this.childWrites = new Counter({
      name: 'safesquid_operator_child_applies_total',
      help: 'Children the operator applied, by kind and outcome (created, updated); unchanged ones are not applied.',
      labelNames: ['kind', 'outcome'],
      registers: [this.registry],
    });
    this.watchRestarts = new Counter({
      name: 'safesquid_operator_watch_restarts_total',
      help: 'Watches re-listed (expired) or retried after an error.',
      labelNames: ['kind', 'reason'],
      registers: [this.registry],
    });
  }
}

function resourcePart(path: string): string[] {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  const rest = parts.slice(parts[0] === 'api' ? 2 : 3);
  return rest[0] === 'namespaces' && rest.length >= 3 ? rest.slice(2) : rest;
}

/** The resource plural of an API path: /apis/apps/v1/namespaces/x/deployments/y → deployments. */
export function resourceOfPath(path: string): string {
  return resourcePart(path)[0] ?? 'unknown';
}

/** The verb as RBAC names it: GET of a collection is `list`, of one object `get`. */
export function verbOf(method: string, path: string): string {
  if (method !== 'GET') return method.toLowerCase();
  return resourcePart(path).length === 1 ? 'list' : 'get';
}

export interface HealthServerOptions {
  host: string;
  port: number;
  metrics: OperatorMetrics;
  /** /readyz: 200 when true (informers synced). */
  ready: () => boolean;
}

/** /metrics, /healthz and /readyz on one plain HTTP port (9090 by default). */
export async function startHealthServer(
  o: HealthServerOptions,
): Promise<{ server: Server; address: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = o.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'informers not synced\n');
    } else if (path === '/metrics') {
      o.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return {
    server,
    address,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
