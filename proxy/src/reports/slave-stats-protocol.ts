import { StatsPostError } from '../errors.js';
export { StatsPostError };
/**
 * What a slave posts to `POST /api/v1/slaves/<name>/stats` (the statistics channel beside its
 * report batches): live counters and gauges, and its recent warning/error log lines. The slave
 * sends them on the shipper's connection every few seconds; they are never spooled (a snapshot
 * delivered an hour late would show a past state as the present), while report batches are.
 * Both ends use `validateSlaveStats`, so a field that one end changes fails a test of the other.
 */

/** Counted since the process started (`startedAt`): the master turns them into rates. */
export interface SlaveCounters {
  /** HTTP requests decided (every action). */
  requests: number;
  /** CONNECT tunnels requested (every action). */
  tunnels: number;
  /** Requests and tunnels denied by policy. */
  denies: number;
  /** Requests refused before policy: bad syntax, timeouts, connection and tunnel limits. */
  errors: number;
  /** Bytes relayed client → upstream and upstream → client. */
  bytesUp: number;
  bytesDown: number;
  /** Access records the master acknowledged, and records lost (queue or spool full, invalid). */
  recordsSent: number;
  recordsDropped: number;
  /** Warning and error log lines held back by the rate limit or the bound (never sent). */
  logLinesDropped: number;
}

/** Values now. */
export interface SlaveGauges {
  activeConnections: number;
  activeTunnels: number;
  /** CPU time of the process over the last interval, in % of one core. */
  cpuPercent: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Access records waiting in memory, and report batches/bytes on disk not yet acknowledged. */
  queueRecords: number;
  spoolBatches: number;
  spoolBytes: number;
}

export type SlaveLogLevel = 'warn' | 'error' | 'fatal';
export const SLAVE_LOG_LEVELS: readonly SlaveLogLevel[] = ['warn', 'error', 'fatal'];

export interface SlaveLogLine {
  /** Epoch ms in the slave's clock. */
  time: number;
  level: SlaveLogLevel;
  msg: string;
  /** The line's other fields as compact JSON, cut at MAX_LOG_DETAIL characters. */
  detail?: string;
  /** Lines the rate limit held back just before this one. */
  suppressedBefore?: number;
}

export interface SlaveStatsPost {
  /** Epoch ms, in the slave's clock. */
  time: number;
  /** `main`, or `worker-<n>` for each process of `--workers N` (each posts its own share). */
  process: string;
  /** When this process started (epoch ms): counters restart from 0 with a new value. */
  startedAt: number;
  version: string;
  counters: SlaveCounters;
  gauges: SlaveGauges;
  logs: SlaveLogLine[];
}

export const MAX_LOG_MSG = 300;
export const MAX_LOG_DETAIL = 600;
/** Most log lines in one post. */
export const MAX_LOGS_PER_POST = 50;
/** A post is small: 50 lines of at most ~1 KB, plus ~20 numbers. */
export const MAX_STATS_POST_BYTES = 128 * 1024;

export const COUNTER_FIELDS: readonly (keyof SlaveCounters)[] = [
  'requests',
  'tunnels',
  'denies',
  'errors',
  'bytesUp',
  'bytesDown',
  'recordsSent',
  'recordsDropped',
  'logLinesDropped',
];
export const GAUGE_FIELDS: readonly (keyof SlaveGauges)[] = [
  'activeConnections',
  'activeTunnels',
  'cpuPercent',
  'rssBytes',
  'heapUsedBytes',
  'queueRecords',
  'spoolBatches',
  'spoolBytes',
];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function numbers<K extends string>(v: unknown, field: string, keys: readonly K[]): Record<K, number> {
  if (!isObject(v)) throw new StatsPostError(field, 'must be an object');
  const out = {} as Record<K, number>;
  for (const k of keys) {
    const n = v[k];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
      throw new StatsPostError(`${field}.${k}`, 'must be a number >= 0');
    out[k] = n;
  }
  return out;
}

/** Checks a post and keeps only the known fields; throws StatsPostError naming the field. */
export function validateSlaveStats(body: unknown): SlaveStatsPost {
  if (!isObject(body)) throw new StatsPostError('body', 'send a JSON object {time, process, counters, gauges, logs}');
  const time = body.time;
  if (typeof time !== 'number' || !Number.isFinite(time))
    throw new StatsPostError('time', 'must be epoch milliseconds');
  const startedAt = body.startedAt;
  if (typeof startedAt !== 'number' || !Number.isFinite(startedAt))
    throw new StatsPostError('startedAt', 'must be epoch milliseconds');
  const proc = body.process;
  if (typeof proc !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(proc))
    throw new StatsPostError('process', 'must be 1-64 letters, digits, ".", "_" or "-"');
  const version = typeof body.version === 'string' ? body.version.slice(0, 64) : '';
  const logsIn = body.logs ?? [];
  if (!Array.isArray(logsIn) || logsIn.length > MAX_LOGS_PER_POST)
    throw new StatsPostError('logs', `must be an array of at most ${MAX_LOGS_PER_POST} lines`);
  const logs = logsIn.map((l: unknown, i): SlaveLogLine => {
    const f = `logs[${i}]`;
    if (!isObject(l)) throw new StatsPostError(f, 'must be an object {time, level, msg}');
    if (typeof l.time !== 'number' || !Number.isFinite(l.time))
      throw new StatsPostError(`${f}.time`, 'must be epoch milliseconds');
    if (!SLAVE_LOG_LEVELS.includes(l.level as SlaveLogLevel))
      throw new StatsPostError(`${f}.level`, `must be one of ${SLAVE_LOG_LEVELS.join(', ')}`);
    if (typeof l.msg !== 'string') throw new StatsPostError(`${f}.msg`, 'must be a string');
    if (l.detail !== undefined && typeof l.detail !== 'string')
      throw new StatsPostError(`${f}.detail`, 'must be a string');
    const line: SlaveLogLine = { time: l.time, level: l.level as SlaveLogLevel, msg: l.msg.slice(0, MAX_LOG_MSG) };
    if (l.detail) line.detail = l.detail.slice(0, MAX_LOG_DETAIL);
    if (typeof l.suppressedBefore === 'number' && l.suppressedBefore > 0)
      line.suppressedBefore = Math.floor(l.suppressedBefore);
    return line;
  });
  return {
    time,
    startedAt,
    process: proc,
    version,
    counters: numbers(body.counters, 'counters', COUNTER_FIELDS),
    gauges: numbers(body.gauges, 'gauges', GAUGE_FIELDS),
    logs,
  };
}
