/**
 * The slave's Prometheus metrics, on a registry of its own (several slaves may share a process in
 * tests). Series are resolved once here: the request path only calls `inc`/`observe`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestCounter, RequestHistogram } from './request-metrics.js';
import type { RecordQueue } from '../reports/record-queue.js';

export interface ActionCounters {
  allow: { inc(n?: number): void };
  deny: { inc(n?: number): void };
  redirect: { inc(n?: number): void };
}

export class ProxyMetrics {
  readonly requests: ActionCounters;
  readonly tunnels: ActionCounters;
  readonly bytesUp: { inc(n: number): void };
  readonly bytesDown: { inc(n: number): void };
  readonly requestSeconds: { observe(v: number): void };
  readonly tunnelSeconds: { observe(v: number): void };
  readonly decisionSeconds: { observe(v: number): void };
  readonly activeConnections: Gauge;
  readonly activeTunnels: Gauge;
  readonly rejected: Counter<'reason'>;
  private readonly policyInfo: Gauge<'hash'>;

  constructor(
    readonly registry: Registry,
    queue: RecordQueue | undefined,
    opts: { defaultMetrics?: boolean } = {},
  ) {
    const registers = [registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
    // Updated per request: plain series (request-metrics.ts), not prom-client's per-call label hashing.
    const requests = new RequestCounter(
      'safesquid_proxy_requests_total',
      'HTTP requests handled, by policy action',
      'action',
      registry,
    );
    const tunnels = new RequestCounter(
      'safesquid_proxy_tunnels_total',
      'CONNECT tunnels requested, by policy action',
      'action',
      registry,
    );
    const byAction = (c: RequestCounter): ActionCounters => ({
      allow: c.series('allow'),
      deny: c.series('deny'),
      redirect: c.series('redirect'),
    });
    this.requests = byAction(requests);
    this.tunnels = byAction(tunnels);
    const bytes = new RequestCounter(
      'safesquid_proxy_bytes_total',
      'Bytes relayed: up = client to upstream, down = upstream to client',
      'direction',
      registry,
    );
    this.bytesUp = bytes.series('up');
    this.bytesDown = bytes.series('down');
    const duration = new RequestHistogram(
      'safesquid_proxy_duration_seconds',
      'Time from request to end of response (http) or tunnel lifetime (connect)',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      'kind',
      registry,
    );
    this.requestSeconds = duration.series('http');
    this.tunnelSeconds = duration.series('connect');
    this.decisionSeconds = new RequestHistogram(
      'safesquid_proxy_decision_seconds',
      'Time the policy engine took to decide a request',
      [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01],
      undefined,
      registry,
    ).series();
    this.activeConnections = new Gauge({
      name: 'safesquid_proxy_active_connections',
      help: 'Open client connections',
      registers,
    });
    this.activeTunnels = new Gauge({
      name: 'safesquid_proxy_active_tunnels',
      help: 'Open CONNECT tunnels',
      registers,
    });
    this.rejected = new Counter({
      name: 'safesquid_proxy_rejected_total',
      help: 'Requests refused before policy: bad syntax, timeouts, limits',
      labelNames: ['reason'],
      registers,
    });
    this.policyInfo = new Gauge({
      name: 'safesquid_policy_info',
      help: 'The policy bundle in force (value 1, hash as label)',
      labelNames: ['hash'],
      // Summed over --workers it would read N; every worker enforcing a hash is still "1".
      aggregator: 'max',
      registers,
    });
    new Gauge({
      name: 'safesquid_report_queue_depth',
      help: 'Access records waiting to be shipped to the master',
      registers,
      collect() {
        this.set(queue?.size ?? 0);
      },
    });
    new Gauge({
      name: 'safesquid_report_queue_dropped',
      help: 'Access records dropped because the queue was full',
      registers,
      collect() {
        this.set(queue?.dropped ?? 0);
      },
    });
  }

  setPolicyHash(hash: string | undefined): void {
    this.policyInfo.reset();
    if (hash) this.policyInfo.labels(hash).set(1);
  }
}
