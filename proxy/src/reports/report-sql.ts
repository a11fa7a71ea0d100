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

/** Column list of `records` in AccessRecord order, shared by inserts and selects. */
export const RECORD_COLUMNS = [
  'ts', 'slave', 'client', 'user_name', 'method', 'host', 'url', 'status',
  'bytes_up', 'bytes_down', 'duration_ms', 'action', 'rule', 'category', 'policy_hash',
] as const;

export const BUCKET_MS: Record<TimelineBucket, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

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

const BLOCKED = "sum(CASE WHEN action = 'deny' THEN 1 ELSE 0 END)";

export function summarySql(f: ReportFilter, d: Dialect): Sql {
  const w = where(f, d);
  return {
    text: `SELECT count(*) AS requests, ${BLOCKED} AS blocked,
      sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down,
      count(DISTINCT user_name) AS distinct_users, count(DISTINCT host) AS distinct_hosts,
      count(DISTINCT slave) AS distinct_slaves, min(ts) AS first_time, max(ts) AS last_time
      FROM records ${w.text}`,
    params: w.params,
  };
}

export function topSitesSql(f: ReportFilter, limit: number, d: Dialect): Sql {
  const w = where(f, d);
  return {
    text: `SELECT host, count(*) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up, count(DISTINCT user_name) AS distinct_users
      FROM records ${w.text} GROUP BY host ORDER BY requests DESC, host LIMIT ?`,
    params: [...w.params, limit],
  };
}

export function topUsersSql(f: ReportFilter, limit: number, d: Dialect): Sql {
  const w = where(f, d);
  return {
    text: `SELECT user_name, count(*) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up, count(DISTINCT host) AS distinct_hosts
      FROM records ${w.text} GROUP BY user_name ORDER BY requests DESC, user_name LIMIT ?`,
    params: [...w.params, limit],
  };
}

export function blockedSql(f: ReportFilter, limit: number, d: Dialect): Sql {
  // The blocked report is about denials whatever `action` the caller passed.
  const w = where({ ...f, action: 'deny' }, d);
  return {
    text: `SELECT rule, host, max(category) AS category, count(*) AS requests,
      count(DISTINCT user_name) AS distinct_users, max(ts) AS last_time
      FROM records ${w.text} GROUP BY rule, host ORDER BY requests DESC, host LIMIT ?`,
    params: [...w.params, limit],
  };
}

export function perSlaveSql(f: ReportFilter, d: Dialect): Sql {
  const w = where(f, d);
  return {
    text: `SELECT slave, count(*) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up, min(ts) AS first_time, max(ts) AS last_time
      FROM records ${w.text} GROUP BY slave ORDER BY slave`,
    params: w.params,
  };
}

export function timelineSql(f: ReportFilter, bucket: TimelineBucket, d: Dialect): Sql {
  const w = where(f, d);
  const ms = BUCKET_MS[bucket];
  // Integer division in both dialects (ts is an integer column): UTC bucket starts.
  return {
    text: `SELECT (ts / ${ms}) * ${ms} AS bucket, count(*) AS requests, ${BLOCKED} AS blocked,
      sum(bytes_down) AS bytes_down, sum(bytes_up) AS bytes_up
      FROM records ${w.text} GROUP BY bucket ORDER BY bucket`,
    params: w.params,
  };
}

export function categoriesSql(f: ReportFilter, d: Dialect): Sql {
  const w = where(f, d);
  return {
    text: `SELECT category, count(*) AS requests, ${BLOCKED} AS blocked, sum(bytes_down) AS bytes_down,
      sum(bytes_up) AS bytes_up
      FROM records ${w.text} GROUP BY category ORDER BY requests DESC, category`,
    params: w.params,
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
    text: `SELECT id, ${RECORD_COLUMNS.join(', ')} FROM records ${w.text} ORDER BY ts DESC, id DESC LIMIT ?`,
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
