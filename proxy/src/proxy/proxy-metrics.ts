/**
 * The slave's Prometheus metrics, on a registry of its own (several slaves may share a process in
 * tests). Label children are resolved once here: the request path only calls `inc`/`observe`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RecordQueue } from '../reports/record-queue.js';

type Action = 'allow' | 'deny' | 'redirect';
const ACTIONS: readonly Action[] = ['allow', 'deny', 'redirect'];

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
    queue: RecordQueue,
    opts: { defaultMetrics?: boolean } = {},
  ) {
    const registers = [registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
    const requests = new Counter({
      name: 'safesquid_proxy_requests_total',
      help: 'HTTP requests handled, by policy action',
      labelNames: ['action'],
      registers,
    });
    const tunnels = new Counter({
      name: 'safesquid_proxy_tunnels_total',
      help: 'CONNECT tunnels requested, by policy action',
      labelNames: ['action'],
      registers,
    });
    const byAction = (c: Counter<'action'>): ActionCounters =>
      Object.fromEntries(ACTIONS.map((a) => [a, c.labels(a)])) as unknown as ActionCounters;
    this.requests = byAction(requests);
    this.tunnels = byAction(tunnels);
    const bytes = new Counter({
      name: 'safesquid_proxy_bytes_total',
      help: 'Bytes relayed: up = client to upstream, down = upstream to client',
      labelNames: ['direction'],
      registers,
    });
    this.bytesUp = bytes.labels('up');
    this.bytesDown = bytes.labels('down');
    const duration = new Histogram({
      name: 'safesquid_proxy_duration_seconds',
      help: 'Time from request to end of response (http) or tunnel lifetime (connect)',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.requestSeconds = duration.labels('http');
    this.tunnelSeconds = duration.labels('connect');
    this.decisionSeconds = new Histogram({
      name: 'safesquid_proxy_decision_seconds',
      help: 'Time the policy engine took to decide a request',
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01],
      registers,
    });
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
        this.set(queue.size);
      },
    });
    new Gauge({
      name: 'safesquid_report_queue_dropped',
      help: 'Access records dropped because the queue was full',
      registers,
      collect() {
        this.set(queue.dropped);
      },
    });
  }

  setPolicyHash(hash: string | undefined): void {
    this.policyInfo.reset();
    if (hash) this.policyInfo.labels(hash).set(1);
  }
}
