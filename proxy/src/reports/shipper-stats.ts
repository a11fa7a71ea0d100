/**
 * Posts the slave's live statistics and its pending warning/error lines to the master every
 * `intervalMs` (`POST /api/v1/slaves/<name>/stats`), on the report shipper's connection. Under
 * traffic that is one small request beside a batch per second; without traffic it is what keeps
 * the master's per-slave view live. A failed post is not retried: the next one carries newer
 * numbers, and the log lines stay pending (bounded) until a post is acknowledged.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { describeNetError, type MasterClient } from '../net/master-client.js';
import { CpuMeter, metricSum, readProxyCounters } from '../slave/slave-counters.js';
import type { LogForwarder } from './shipper-logs.js';
import { MAX_LOGS_PER_POST, type SlaveStatsPost } from './slave-stats-protocol.js';

export interface StatsReporterOptions {
  client: MasterClient;
  registry: Registry;
  logs?: LogForwarder;
  logger: Logger;
  version: string;
  /** `main`, or `worker-<n>`. */
  process?: string;
  /** Default 5 s. */
  intervalMs?: number;
  /** Default 10 s. */
  timeoutMs?: number;
}

export class StatsReporter {
  readonly startedAt = Date.now();
  private readonly cpu = new CpuMeter();
  private readonly timer: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private posting: Promise<boolean> | undefined;
  private stopped = false;
  private lastFailure: string | undefined;

  constructor(private readonly opts: StatsReporterOptions) {
    const interval = opts.intervalMs ?? 5000;
    if (!Number.isFinite(interval) || interval < 100)
      throw new RangeError(`stats intervalMs must be >= 100, got ${interval}`);
    this.timer = setInterval(() => void this.post(), interval);
    this.timer.unref();
    // The first post at once: the master shows the slave's numbers from its start.
    void this.post();
  }

  /** What the slave would post now (also what its /status page shows). */
  async snapshot(): Promise<SlaveStatsPost> {
    const r = this.opts.registry;
    const sum = (name: string) => metricSum(r, name);
    const [proxy, recordsSent, recordsDropped, queueRecords, spoolBatches, spoolBytes] = await Promise.all([
      readProxyCounters(r),
      sum('safesquid_report_records_sent_total'),
      sum('safesquid_report_records_dropped_total'),
      sum('safesquid_report_queue_depth'),
      sum('safesquid_report_spool_batches'),
      sum('safesquid_report_spool_bytes'),
    ]);
    const mem = process.memoryUsage();
    return {
      time: Date.now(),
      process: this.opts.process ?? 'main',
      startedAt: this.startedAt,
      version: this.opts.version,
      counters: {
        requests: proxy.requests,
        tunnels: proxy.tunnels,
        denies: proxy.denies,
        errors: proxy.errors,
        bytesUp: proxy.bytesUp,
        bytesDown: proxy.bytesDown,
        recordsSent,
        recordsDropped,
        logLinesDropped: this.opts.logs?.dropped ?? 0,
      },
      gauges: {
        activeConnections: proxy.activeConnections,
        activeTunnels: proxy.activeTunnels,
        cpuPercent: this.cpu.percent(),
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        queueRecords,
        spoolBatches,
        spoolBytes,
      },
      logs: this.opts.logs?.peek(MAX_LOGS_PER_POST) ?? [],
    };
  }

  /** Posts now (or joins the post under way); true when the master acknowledged it. */
  post(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    this.posting ??= this.send().finally(() => (this.posting = undefined));
    return this.posting;
  }

  private async send(): Promise<boolean> {
    const o = this.opts;
    const body = await this.snapshot();
    try {
      const { status, text } = await o.client.request(
        `/api/v1/slaves/${encodeURIComponent(o.client.slaveName)}/stats`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          timeoutMs: o.timeoutMs ?? 10_000,
          signal: this.abort.signal,
        },
      );
      if (status >= 200 && status < 300) {
        o.logs?.ack(body.logs);
        this.lastFailure = undefined;
        return true;
      }
      // A master that does not know this endpoint (older) or refuses the post: said once, at debug.
      this.noteFailure(`HTTP ${status} ${text.slice(0, 200)}`);
      if (status === 400) o.logs?.ack(body.logs); // never accepted: do not resend them forever
    } catch (err) {
      if (!this.stopped) this.noteFailure(describeNetError(err));
    }
    return false;
  }

  private noteFailure(reason: string): void {
    if (reason !== this.lastFailure) this.opts.logger.debug({ reason }, 'could not post statistics to the master');
    this.lastFailure = reason;
  }

  /** One last post (so the master sees the final numbers), then no more. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.timer);
    await this.posting;
    await Promise.race([this.post(), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.stopped = true;
    this.abort.abort();
  }
}
