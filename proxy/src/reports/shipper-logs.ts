/**
 * Takes the slave's own warning and error log lines (a pino destination beside stderr) and keeps
 * them for the master, which shows them in its per-slave event view. Bounded twice: at most
 * `burst` lines per `windowMs` pass (a master outage or a flood of refused clients must not turn
 * into a flood of posts; the next line that passes says how many were held back), and at most
 * `maxPending` wait for delivery (the oldest go first). Dropped lines are counted, never sent.
 */
import type { Logger } from 'pino';
import { tapWarnings } from '../log-tap.js';
import {
  MAX_LOG_DETAIL,
  MAX_LOG_MSG,
  SLAVE_LOG_LEVELS,
  type SlaveLogLevel,
  type SlaveLogLine,
} from './slave-stats-protocol.js';

export interface LogForwarderOptions {
  /** Lines let through per window. Default 10: the master shows a sample; the full log is the slave's own. */
  burst?: number;
  /** Default 10 s. */
  windowMs?: number;
  /** Lines kept while the master is away. Default 100. */
  maxPending?: number;
  /** Lines kept for the slave's own /status page. Default 20. */
  maxRecent?: number;
  now?: () => number;
}

/** Fields every line carries (pino's and makeLogger's base): not worth sending again. */
const BASE_FIELDS = new Set(['level', 'time', 'msg', 'role', 'name', 'version', 'pid', 'hostname']);

export class LogForwarder {
  /** Lines dropped by the rate limit or the pending bound. */
  dropped = 0;
  private readonly pending: SlaveLogLine[] = [];
  private readonly recentLines: SlaveLogLine[] = [];
  private readonly burst: number;
  private readonly windowMs: number;
  private readonly maxPending: number;
  private readonly maxRecent: number;
  private readonly now: () => number;
  private windowStart = -Infinity;
  private passed = 0;
  private held = 0;

  constructor(opts: LogForwarderOptions = {}) {
    this.burst = opts.burst ?? 10;
    this.windowMs = opts.windowMs ?? 10_000;
    this.maxPending = opts.maxPending ?? 100;
    this.maxRecent = opts.maxRecent ?? 20;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Starts taking the lines `logger` (and its children, which share its destination) writes; the
   * destination still gets every line.
   */
  tap(logger: Logger): this {
    tapWarnings(logger, (line) => this.write(line));
    return this;
  }

  /** One JSON log line (pino's format with level names, as cli/logger.ts writes). */
  write(line: string): void {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const level = o.level as SlaveLogLevel;
    if (!SLAVE_LOG_LEVELS.includes(level)) return;
    this.add(level, String(o.msg ?? ''), o);
  }

  add(level: SlaveLogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.passed = 0;
    }
    if (this.passed >= this.burst) {
      this.held++;
      this.dropped++;
      return;
    }
    this.passed++;
    const out: SlaveLogLine = { time: typeof fields.time === 'string' ? Date.parse(fields.time) || t : t, level, msg };
    out.msg = msg.slice(0, MAX_LOG_MSG);
    const detail = compactDetail(fields);
    if (detail) out.detail = detail;
    if (this.held > 0) out.suppressedBefore = this.held;
    this.held = 0;
    this.pending.push(out);
    if (this.pending.length > this.maxPending) {
      this.pending.shift();
      this.dropped++;
    }
    this.recentLines.push(out);
    if (this.recentLines.length > this.maxRecent) this.recentLines.shift();
  }

  /** The oldest lines waiting, without removing them (`ack` does, once the master has them). */
  peek(max: number): SlaveLogLine[] {
    return this.pending.slice(0, max);
  }

  /** The master acknowledged `lines` (the first ones `peek` gave). */
  ack(lines: readonly SlaveLogLine[]): void {
    // Lines shifted out by the bound meanwhile are not in front any more: remove by identity.
    for (const l of lines) {
      const i = this.pending.indexOf(l);
      if (i >= 0) this.pending.splice(i, 1);
    }
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** The last lines that passed the rate limit, newest last. */
  recent(): SlaveLogLine[] {
    return [...this.recentLines];
  }
}

function compactDetail(fields: Record<string, unknown>): string | undefined {
  const rest: Record<string, unknown> = {};
  let any = false;
  for (const [k, v] of Object.entries(fields)) {
    if (BASE_FIELDS.has(k)) continue;
    rest[k] = v;
    any = true;
  }
  if (!any) return undefined;
  // Stacks are for the slave's own log; the master needs the message.
  const text = JSON.stringify(rest, (k, v: unknown) => (k === 'stack' ? undefined : v));
  return text.length > MAX_LOG_DETAIL ? `${text.slice(0, MAX_LOG_DETAIL - 1)}…` : text;
}
