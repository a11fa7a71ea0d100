/**
 * The master's report store: ingests batches exactly once and answers the report queries.
 * SQLite (a file on the master's volume) by default, PostgreSQL when a URL is given.
 */
import type { AccessRecord } from './access-record.js';
import type {
  BlockedRow,
  CategoryRow,
  IngestResult,
  PerSlaveRow,
  ReportFilter,
  SearchQuery,
  SearchResult,
  SummaryResult,
  TimelineBucket,
  TimelineRow,
  TopQuery,
  TopSiteRow,
  TopUserRow,
} from './query-types.js';

export interface ReportStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Stores the records and the batch id in one transaction. A batch id seen before
   * inserts nothing and answers `duplicate: true`, so a slave may safely resend.
   */
  ingestBatch(batchId: string, slave: string, records: readonly AccessRecord[]): Promise<IngestResult>;
  summary(filter: ReportFilter): Promise<SummaryResult>;
  topSites(q: TopQuery): Promise<TopSiteRow[]>;
  topUsers(q: TopQuery): Promise<TopUserRow[]>;
  blocked(q: TopQuery): Promise<BlockedRow[]>;
  perSlave(filter: ReportFilter): Promise<PerSlaveRow[]>;
  timeline(filter: ReportFilter, bucket: TimelineBucket): Promise<TimelineRow[]>;
  categories(filter: ReportFilter): Promise<CategoryRow[]>;
  search(q: SearchQuery): Promise<SearchResult>;
  /**
   * Deletes up to `maxRows` records older than `cutoff` (epoch ms), oldest first, and the
   * batch ids received before it; returns the records deleted. Call again while it returns `maxRows`.
   */
  purgeOlderThan(cutoff: number, maxRows?: number): Promise<number>;
  /** Records stored (for metrics and tests). */
  count(): Promise<number>;
  close(): Promise<void>;
}

export type ReportStoreOptions = { sqlitePath: string } | { postgresUrl: string };

export const DEFAULT_PURGE_CHUNK = 10_000;
