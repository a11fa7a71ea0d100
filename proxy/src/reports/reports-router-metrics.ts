/** The reports router's Prometheus metrics: what slaves' batches did on arrival. */
import { Counter, Histogram, type Registry } from 'prom-client';

export class ReportsRouterMetrics {
  /** Access records stored from slave batches. */
  readonly ingestedRecords: Counter;
  /** Batches received, by result: inserted, duplicate, invalid, store_error. */
  readonly batches: Counter<'result'>;
  /** Time to decode, validate and store one batch. */
  readonly ingestSeconds: Histogram;

  /** Without a registry the series exist but are exported nowhere (tests, tools). */
  constructor(registry?: Registry) {
    const registers = registry ? [registry] : [];
    this.ingestedRecords = new Counter({
      name: 'safesquid_report_ingested_records_total',
      help: 'Access records stored from slave batches',
      registers,
    });
    this.batches = new Counter({
      name: 'safesquid_report_ingested_batches_total',
      help: 'Report batches received, by result',
      labelNames: ['result'] as const,
      registers,
    });
    this.ingestSeconds = new Histogram({
      name: 'safesquid_report_ingest_seconds',
      help: 'Time to decode, validate and store one batch',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }
}
