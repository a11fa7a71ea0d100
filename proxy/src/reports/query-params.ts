/**
 * Turns the query string of a report request into a ReportFilter and friends, rejecting
 * anything it does not understand with an error that names the parameter.
 */
import type { ReportAction, ReportFilter, TimelineBucket } from './query-types.js';
import { BUCKET_MS } from './report-sql.js';
import { QueryParamError } from '../errors.js';
export { QueryParamError };

export const DEFAULT_WINDOW_MS = 24 * 3_600_000;
/** More buckets than this is a mistake (a minute timeline over a year), not a chart. */
export const MAX_BUCKETS = 50_000;

const FILTER_PARAMS = ['from', 'to', 'user', 'host', 'action', 'category', 'slave', 'url', 'format'] as const;
const ACTIONS: readonly ReportAction[] = ['allow', 'deny', 'redirect'];
const BUCKETS = Object.keys(BUCKET_MS) as TimelineBucket[];

export type Query = Record<string, unknown>;

function single(q: Query, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new QueryParamError(name, 'give it once, as a plain value');
  return v;
}

function text(q: Query, name: string): string | undefined {
  const v = single(q, name);
  if (v === undefined) return undefined;
  if (v === '') throw new QueryParamError(name, 'must not be empty (leave it out to not filter)');
  if (v.length > 512) throw new QueryParamError(name, 'longer than 512 characters');
  return v;
}

/** ISO 8601 or epoch milliseconds. */
export function parseTime(name: string, v: string): number {
  const t = /^\d{1,16}$/.test(v) ? Number(v) : /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t))
    throw new QueryParamError(name, `expected ISO 8601 (2026-01-31T12:00:00Z) or epoch milliseconds, got "${v}"`);
  return t;
}

export function parseInteger(q: Query, name: string, min: number, max: number, dflt: number): number {
  const v = single(q, name);
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new QueryParamError(name, `expected an integer ${min}..${max}, got "${v}"`);
  }
  return Number(v);
}

/** Rejects parameters the endpoint does not take, so a typo does not silently widen a report. */
export function checkKnown(q: Query, extra: readonly string[]): void {
  for (const name of Object.keys(q)) {
    if (!(FILTER_PARAMS as readonly string[]).includes(name) && !extra.includes(name)) {
      throw new QueryParamError(
        name,
        `unknown parameter; this report takes ${[...FILTER_PARAMS, ...extra].join(', ')}`,
      );
    }
  }
}

export function parseFilter(q: Query, now = Date.now()): ReportFilter {
  const toRaw = single(q, 'to');
  const fromRaw = single(q, 'from');
  const to = toRaw === undefined ? now : parseTime('to', toRaw);
  const from = fromRaw === undefined ? to - DEFAULT_WINDOW_MS : parseTime('from', fromRaw);
  if (from >= to) throw new QueryParamError('from', `must be before to (${new Date(to).toISOString()})`);
  const filter: ReportFilter = { from, to };
  const action = single(q, 'action');
  if (action !== undefined) {
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new QueryParamError('action', `expected ${ACTIONS.join('|')}, got "${action}"`);
    }
    filter.action = action as ReportAction;
  }
  const user = text(q, 'user');
  if (user !== undefined) filter.user = user;
  const host = text(q, 'host');
  if (host !== undefined) filter.host = host.toLowerCase();
  const category = text(q, 'category');
  if (category !== undefined) filter.category = category;
  const slave = text(q, 'slave');
  if (slave !== undefined) filter.slave = slave;
  const url = text(q, 'url');
  if (url !== undefined) filter.url = url;
  return filter;
}

export type Format = 'json' | 'csv';

export function parseFormat(q: Query): Format {
  const v = single(q, 'format') ?? 'json';
  if (v !== 'json' && v !== 'csv') throw new QueryParamError('format', `expected json|csv, got "${v}"`);
  return v;
}

export function parseBucket(q: Query, filter: ReportFilter): TimelineBucket {
  const v = single(q, 'bucket') ?? 'hour';
  if (!(BUCKETS as string[]).includes(v))
    throw new QueryParamError('bucket', `expected ${BUCKETS.join('|')}, got "${v}"`);
  const bucket = v as TimelineBucket;
  const n = Math.ceil((filter.to - filter.from) / BUCKET_MS[bucket]);
  if (n > MAX_BUCKETS) {
    throw new QueryParamError(
      'bucket',
      `${n} ${bucket} buckets between from and to (at most ${MAX_BUCKETS}); use a coarser bucket or a shorter range`,
    );
  }
  return bucket;
}

export function parseCursor(q: Query): string | undefined {
  return text(q, 'cursor');
}
