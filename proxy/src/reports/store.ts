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
import { IngestPausedError } from '../errors.js';
export { IngestPausedError };

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
  /**
   * SQLite only: a consistent copy of the database in `file` (which must not exist), taken
   * while batches keep arriving; says how many records and batch ids the copy holds.
   * PostgreSQL is backed up with pg_dump (docs/operations.md).
   */
  backupTo?(file: string): Promise<{ records: number; batches: number }>;
  /**
   * From now on refuse new batches with IngestPausedError (slaves keep them in
   * their spool and retry); resolves once every batch accepted before is committed. For the
   * last backup before this master is replaced: what it acknowledged is all in that backup.
   */
  pauseIngest?(reason: string): Promise<void>;
  /** Records stored (for metrics and tests). */
  count(): Promise<number>;
  close(): Promise<void>;
}

export type ReportStoreOptions = { sqlitePath: string } | { postgresUrl: string };

export const DEFAULT_PURGE_CHUNK = 10_000;
