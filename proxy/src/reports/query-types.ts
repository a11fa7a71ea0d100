/**
 * The shapes of the report queries, shared by the stores, the HTTP router (`/api/v1/reports/...`)
 * and the portal UI. Times are epoch milliseconds everywhere.
 */
import type { AccessRecord } from './access-record.js';

export type ReportAction = AccessRecord['action'];
export type TimelineBucket = 'minute' | 'hour' | 'day';

/**
 * Which records a report looks at. Over HTTP: `from`/`to` accept ISO 8601 or epoch ms;
 * `to` defaults to now and `from` to 24 h before `to` (aggregates over all time on a large
 * table are slow; ask for them explicitly).
 */
export interface ReportFilter {
  /** Inclusive. */
  from: number;
  /** Exclusive. */
  to: number;
  user?: string;
  /** Exact host name (lower case). */
  host?: string;
  action?: ReportAction;
  category?: string;
  slave?: string;
  /** Substring of the URL (search only). */
  url?: string;
}

/** GET /summary */
export interface SummaryResult {
  from: number;
  to: number;
  requests: number;
  /** Requests with action `deny`. */
  blocked: number;
  bytesUp: number;
  bytesDown: number;
  distinctUsers: number;
  distinctHosts: number;
  distinctSlaves: number;
  /** Time of the first and last record in the window, null when there is none. */
  firstTime: number | null;
  lastTime: number | null;
}

/** One row of GET /top-sites (ordered by requests, then bytes). */
export interface TopSiteRow {
  host: string;
  requests: number;
  blocked: number;
  bytesDown: number;
  bytesUp: number;
  distinctUsers: number;
}

/** One row of GET /top-users; `user` is null for unauthenticated traffic. */
export interface TopUserRow {
  user: string | null;
  requests: number;
  blocked: number;
  bytesDown: number;
  bytesUp: number;
  distinctHosts: number;
}

/** One row of GET /blocked: denied requests grouped by rule and host. */
export interface BlockedRow {
  rule: string | null;
  host: string;
  category: string | null;
  requests: number;
  distinctUsers: number;
  lastTime: number;
}

/** One row of GET /per-slave. */
export interface PerSlaveRow {
  slave: string;
  requests: number;
  blocked: number;
  bytesDown: number;
  bytesUp: number;
  firstTime: number;
  lastTime: number;
}

/** One row of GET /timeline: only buckets that hold records are returned, oldest first. */
export interface TimelineRow {
  /** Start of the bucket (UTC). */
  time: number;
  requests: number;
  blocked: number;
  bytesDown: number;
  bytesUp: number;
}

/** One row of GET /categories; `category` is null for uncategorised traffic. */
export interface CategoryRow {
  category: string | null;
  requests: number;
  blocked: number;
  bytesDown: number;
  bytesUp: number;
}

/** A record as stored: the access record plus its storage id (stable order within a time). */
export interface StoredRecord extends AccessRecord {
  id: number;
}

/** GET /search: newest first; pass `nextCursor` back as `cursor` for the next page. */
export interface SearchResult {
  records: StoredRecord[];
  nextCursor: string | null;
}

export interface TopQuery {
  filter: ReportFilter;
  limit: number;
}

export interface SearchQuery {
  filter: ReportFilter;
  limit: number;
  cursor?: string;
}

export interface IngestResult {
  inserted: number;
  /** True when the batch id was ingested before: nothing was inserted this time. */
  duplicate: boolean;
}

/** POST /batches answer. */
export interface IngestResponse extends IngestResult {
  batchId: string;
}

/** Body of every 4xx/5xx answer of the reports API. */
/** What the report API answers on an error (the master's one error shape). */
export type { ErrorBody as ReportsError } from '../net/error-body.js';

/** The wire shape of a batch (gzip JSON): slaves send it, the master validates it. */
export interface ReportBatch {
  batchId: string;
  slave: string;
  records: AccessRecord[];
}
