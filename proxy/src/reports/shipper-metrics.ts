/**
 * The report shipper's Prometheus metrics (see shipper.ts). Gauges are read at scrape time from
 * the queue and the spool; counters are bumped by the shipper.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RecordQueue } from './record-queue.js';
import type { Spool } from './spool.js';

export type DropReason = 'queue_full' | 'spool_full' | 'invalid';

export class ShipperMetrics {
  readonly sentRecords: Counter;
  readonly sentBatches: Counter;
  readonly failures: Counter;
  readonly rejected: Counter;
  readonly dropped: Counter<'reason'>;

  constructor(registry: Registry, queue: RecordQueue, spool: Spool) {
    const registers = [registry];
    // The proxy may already export the depth of the queue it fills on this registry.
    if (!registry.getSingleMetric('safesquid_report_queue_depth')) {
      new Gauge({
        name: 'safesquid_report_queue_depth',
        help: 'Access records waiting in memory to be batched',
        registers,
        collect() {
          this.set(queue.size);
        },
      });
    }
    new Gauge({
      name: 'safesquid_report_queue_bytes',
      help: 'Bytes of access records (their JSON) waiting in memory to be batched',
      registers,
      collect() {
        this.set(queue.bytes);
      },
    });
    new Gauge({
      name: 'safesquid_report_spool_bytes',
      help: 'Bytes of report batches spooled on disk, not yet acknowledged',
      registers,
      collect() {
        this.set(spool.bytes);
      },
    });
    new Gauge({
      name: 'safesquid_report_spool_batches',
      help: 'Report batches spooled on disk, not yet acknowledged',
      registers,
      collect() {
        this.set(spool.batches);
      },
    });
    this.sentRecords = new Counter({
      name: 'safesquid_report_records_sent_total',
      help: 'Access records acknowledged by the master',
      registers,
    });
    this.sentBatches = new Counter({
      name: 'safesquid_report_batches_sent_total',
      help: 'Report batches acknowledged by the master',
      registers,
    });
    this.failures = new Counter({
      name: 'safesquid_report_send_failures_total',
      help: 'Failed attempts to deliver a report batch (retried)',
      registers,
    });
    this.rejected = new Counter({
      name: 'safesquid_report_batches_rejected_total',
      help: "Report batches the master refused as malformed, moved to the spool's rejected/",
      registers,
    });
    this.dropped = new Counter({
      name: 'safesquid_report_records_dropped_total',
      help: 'Access records lost: queue full (master slow), spool full (master away too long), or invalid (the master refused the record)',
      labelNames: ['reason'] as const,
      registers,
    });
    for (const reason of ['queue_full', 'spool_full', 'invalid'] satisfies DropReason[])
      this.dropped.inc({ reason }, 0);
  }

  drop(reason: DropReason, records = 1): void {
    this.dropped.inc({ reason }, records);
  }
}
