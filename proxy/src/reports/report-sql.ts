/**
 * The report queries as SQL, written once for both stores. Statements use `?` placeholders;
 * the PostgreSQL store numbers them. Only the few spots where the dialects differ take `dialect`.
 */
import type { ReportFilter, TimelineBucket } from './query-types.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Sql {
  text: string;
  params: unknown[];
}

/** Columns an ingested record fills, in AccessRecord order; the policy as its id in `policy_hashes`. */
export const RECORD_COLUMNS = [
  'ts',
  'slave',
  'client',
  'user_name',
  'method',
  'host',
  'url',
  'status',
  'bytes_up',
  'bytes_down',
  'duration_ms',
  'action',
  'rule',
  'category',
  'policy_id',
] as const;

/** What a search reads of a record: the policy's hash from `policy_hashes`, or the row's own (stored before migration 4). */
const RECORD_SELECT = [
  'id',
  ...RECORD_COLUMNS.slice(0, -1),
  'coalesce(policy_hash, (SELECT hash FROM policy_hashes p WHERE p.id = records.policy_id)) AS policy_hash',
].join(', ');

export const BUCKET_MS: Record<TimelineBucket, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The WHERE of the partial index records_action_ts (schema.ts), said literally so both planners can use it. */
const NOT_ALLOW = "action <> 'allow'";

function where(f: ReportFilter, dialect: Dialect, extra: string[] = [], extraParams: unknown[] = []): Sql {
  const conds = ['ts >= ?', 'ts < ?'];
  const params: unknown[] = [f.from, f.to];
  const eq = (col: string, v: string | undefined) => {
    if (v === undefined) return;
    conds.push(`${col} = ?`);
    params.push(v);
  };
  eq('user_name', f.user);
  eq('host', f.host);
  eq('action', f.action);
  if (f.action !== undefined && f.action !== 'allow') conds.push(NOT_ALLOW);
  eq('category', f.category);
  eq('slave', f.slave);
  if (f.url !== undefined) {
    // Case-sensitive substring in both (SQLite's LIKE would fold ASCII case, PostgreSQL's would not).
    conds.push(dialect === 'sqlite' ? 'instr(url, ?) > 0' : 'strpos(url, ?) > 0');
    params.push(f.url);
  }
  conds.push(...extra);
  params.push(...extraParams);
  return { text: `WHERE ${conds.join(' AND ')}`, params };
}

export const HOUR_MS = 3_600_000;

/** Columns every aggregate reads, from raw records or from the hourly rollup alike. */
const RAW_SOURCE = `slave, host, user_name, action, category, rule, 1 AS requests, bytes_up, bytes_down,
  ts AS first_ts, ts AS last_ts, ts AS bucket_ts`;
// The rollup keys use '' for "none" (NULLs would never conflict in its primary key).
const ROLLUP_SOURCE = `slave, host, NULLIF(user_name, '') AS user_name, action, NULLIF(category, '') AS category,
  NULLIF(rule, '') AS rule, requests, bytes_up, bytes_down, first_ts, last_ts, hour AS bucket_ts`;

function dimensionConds(f: ReportFilter): { conds: string[]; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  for (const [col, v] of [
    ['user_name', f.user],
    ['host', f.host],
    ['action', f.action],
    ['category', f.category],
    ['slave', f.slave],
  ] as const) {
    if (v === undefined) continue;
    conds.push(`${col} = ?`);
    params.push(v);
  }
  if (f.action !== undefined && f.action !== 'allow') conds.push(NOT_ALLOW);
  return { conds, params };
}

/**
 * The rows an aggregate reads. Whole hours inside the window come from `records_hourly`
 * (one row per hour, slave, host, user, action, category and rule, kept at ingestion), the
 * ragged edges from `records`; a URL filter or minute buckets need the raw records throughout.
 */
function source(f: ReportFilter, d: Dialect, rollup: boolean): Sql {
  const hs = Math.ceil(f.from / HOUR_MS) * HOUR_MS;
  const he = Math.floor(f.to / HOUR_MS) * HOUR_MS;
  if (!rollup || f.url !== undefined || hs >= he) {
    const w = where(f, d);
    return { text: `SELECT ${RAW_SOURCE} FROM records ${w.text}`, params: w.params };
  }
  const dims = dimensionConds(f);
  const and = dims.conds.map((c) => ` AND ${c}`).join('');
  // One SELECT per edge rather than an OR of the two ranges: SQLite plans each arm of an OR on
  // its own terms, so it could not use a partial index (schema.ts) there, nor the edges' ts range.
  return {
    text: `SELECT ${RAW_SOURCE} FROM records WHERE ts >= ? AND ts < ?${and}
      UNION ALL SELECT ${RAW_SOURCE} FROM records WHERE ts >= ? AND ts < ?${and}
      UNION ALL SELECT ${ROLLUP_SOURCE} FROM records_hourly WHERE hour >= ? AND hour < ?${and}`,
    params: [f.from, hs, ...dims.params, he, f.to, ...dims.params, hs, he, ...dims.params],
  };
}

const BLOCKED = "sum(CASE WHEN action = 'deny' THEN requests ELSE 0 END)";

export function summarySql(f: ReportFilter, d: Dialect): Sql {
  const s = source(f, d, true);
  return {
    text: `SELECT sum(requests) AS requests, ${BLOCKED} AS blocked,
      sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down,
      count(DISTINCT user_name) AS distinct_users, count(DISTINCT host) AS distinct_hosts,
      count(DISTINCT slave) AS distinct_slaves, min(first_ts) AS first_time, max(last_ts) AS last_time
      FROM (${s.text}) src`,
    params: s.params,
  };
}

export function topSitesSql(f: ReportFilter, limit: number, d: Dialect): Sql {
  const s = source(f, d, true);
  return {
    text: `SELECT host, sum(requests) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up, count(DISTINCT user_name) AS distinct_users
      FROM (${s.text}) src GROUP BY host ORDER BY requests DESC, host LIMIT ?`,
    params: [...s.params, limit],
  };
}

export function topUsersSql(f: ReportFilter, limit: number, d: Dialect): Sql {
  const s = source(f, d, true);
  return {
    text: `SELECT user_name, sum(requests) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up, count(DISTINCT host) AS distinct_hosts
      FROM (${s.text}) src GROUP BY user_name ORDER BY requests DESC, user_name LIMIT ?`,
    params: [...s.params, limit],
  };
}

export function blockedSql(f: ReportFilter, limit: number, d: Dialect): Sql {
  // The blocked report is about denials whatever `action` the caller passed.
  const s = source({ ...f, action: 'deny' }, d, true);
  return {
    text: `SELECT rule, host, max(category) AS category, sum(requests) AS requests,
      count(DISTINCT user_name) AS distinct_users, max(last_ts) AS last_time
      FROM (${s.text}) src GROUP BY rule, host ORDER BY requests DESC, host LIMIT ?`,
    params: [...s.params, limit],
  };
}

export function perSlaveSql(f: ReportFilter, d: Dialect): Sql {
  const s = source(f, d, true);
  return {
    text: `SELECT slave, sum(requests) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up, min(first_ts) AS first_time, max(last_ts) AS last_time
      FROM (${s.text}) src GROUP BY slave ORDER BY slave`,
    params: s.params,
  };
}

export function timelineSql(f: ReportFilter, bucket: TimelineBucket, d: Dialect): Sql {
  const s = source(f, d, bucket !== 'minute');
  const ms = BUCKET_MS[bucket];
  // Integer division in both dialects (the time columns are integers): UTC bucket starts.
  return {
    text: `SELECT (bucket_ts / ${ms}) * ${ms} AS bucket, sum(requests) AS requests, ${BLOCKED} AS blocked,
      sum(bytes_down) AS bytes_down, sum(bytes_up) AS bytes_up
      FROM (${s.text}) src GROUP BY bucket ORDER BY bucket`,
    params: s.params,
  };
}

export function categoriesSql(f: ReportFilter, d: Dialect): Sql {
  const s = source(f, d, true);
  return {
    text: `SELECT category, sum(requests) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up
      FROM (${s.text}) src GROUP BY category ORDER BY requests DESC, category`,
    params: s.params,
  };
}

/** Columns of `records_hourly` in the order rollupRows() produces values. */
export const ROLLUP_COLUMNS = [
  'hour',
  'slave',
  'host',
  'user_name',
  'action',
  'category',
  'rule',
  'requests',
  'bytes_up',
  'bytes_down',
  'first_ts',
  'last_ts',
] as const;
export const ROLLUP_KEY = 'hour, slave, host, user_name, action, category, rule';

/** Recomputes the rollup of one hour from the records still stored (after a purge cut into it). */
export function rebuildHourSql(): Sql {
  return {
    text: `INSERT INTO records_hourly (${ROLLUP_COLUMNS.join(', ')})
      SELECT ?, slave, host, coalesce(user_name, ''), action, coalesce(category, ''), coalesce(rule, ''),
        count(*), sum(bytes_up), sum(bytes_down), min(ts), max(ts)
      FROM records WHERE ts >= ? AND ts < ? GROUP BY slave, host, user_name, action, category, rule`,
    params: [],
  };
}

export interface SearchCursor {
  ts: number;
  id: number;
}

export function searchSql(f: ReportFilter, limit: number, cursor: SearchCursor | undefined, d: Dialect): Sql {
  const w = cursor
    ? // A row-value comparison, so both engines walk the (ts, id) order of records_ts from the cursor.
      where(f, d, ['(ts, id) < (?, ?)'], [cursor.ts, cursor.id])
    : where(f, d);
  return {
    text: `SELECT ${RECORD_SELECT} FROM records ${w.text} ORDER BY ts DESC, id DESC LIMIT ?`,
    params: [...w.params, limit],
  };
}

export function encodeCursor(c: SearchCursor): string {
  return Buffer.from(`${c.ts}.${c.id}`).toString('base64url');
}

/** Throws a RangeError naming the cursor when it is not one this API handed out. */
export function decodeCursor(s: string): SearchCursor {
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(Buffer.from(s, 'base64url').toString());
  if (!m) throw new RangeError(`cursor: "${s}" is not a cursor returned by /search`);
  return { ts: Number(m[1]), id: Number(m[2]) };
}
