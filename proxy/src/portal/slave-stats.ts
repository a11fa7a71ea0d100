/**
 * The master's live view of each slave's statistics and warning/error lines, from the slaves'
 * `POST /api/v1/slaves/<name>/stats`. In memory and bounded: per slave the latest post of each
 * of its processes (at most MAX_PROCESSES), HISTORY summed samples and MAX_LOGS log lines; at
 * most `maxSlaves` slaves (the least recently heard from goes first). About 300 KB per slave at
 * the worst (200 lines of ~1 KB); lost on a master restart, refilled by the next posts.
 */
import express, { Router } from 'express';
import type { Logger } from 'pino';
import {
  COUNTER_FIELDS,
  GAUGE_FIELDS,
  MAX_STATS_POST_BYTES,
  StatsPostError,
  validateSlaveStats,
  type SlaveCounters,
  type SlaveGauges,
  type SlaveLogLine,
  type SlaveStatsPost,
} from '../reports/slave-stats-protocol.js';
import { SLAVE_NAME_PATTERN } from '../sync/protocol.js';
import { clientIp } from './access-control.js';
import { sendError } from '../net/error-body.js';
import { slaveContact } from './policy-routes.js';
import type { SlaveRegistry } from './slave-registry.js';

const MAX_PROCESSES = 64;
/** A process silent this long no longer counts in the slave's totals (it stopped or died). */
const PROCESS_GONE_MS = 60_000;

export interface StatsSample extends SlaveCounters, SlaveGauges {
  /** Master clock, epoch ms. */
  time: number;
}

export interface SlaveLogEvent extends Omit<SlaveLogLine, 'time'> {
  /** ISO time in the slave's clock. */
  time: string;
  process: string;
}

export interface SlaveStatsView {
  name: string;
  version: string;
  /** When the master last heard from the slave (ISO, master clock). */
  updatedAt: string;
  processes: { process: string; startedAt: string; updatedAt: string }[];
  /** Summed over the slave's live processes. */
  counters: SlaveCounters;
  gauges: SlaveGauges;
  /** Oldest first; the UI turns successive counters into rates. */
  history: StatsSample[];
  /** Warning and error lines, oldest first. */
  logs: SlaveLogEvent[];
}

interface SlaveStats {
  name: string;
  version: string;
  updatedAt: number;
  processes: Map<string, { post: SlaveStatsPost; receivedAt: number }>;
  history: StatsSample[];
  logs: SlaveLogEvent[];
}

export interface SlaveStatsStoreOptions {
  maxSlaves?: number;
  /** Samples kept per slave. Default 120 (10 minutes at one post per 5 s). */
  history?: number;
  /** Log lines kept per slave. Default 200. */
  maxLogs?: number;
  now?: () => number;
}

export class SlaveStatsStore {
  private readonly slaves = new Map<string, SlaveStats>();
  private readonly maxSlaves: number;
  private readonly historySize: number;
  private readonly maxLogs: number;
  private readonly now: () => number;

  constructor(opts: SlaveStatsStoreOptions = {}) {
    this.maxSlaves = opts.maxSlaves ?? 1000;
    this.historySize = opts.history ?? 120;
    this.maxLogs = opts.maxLogs ?? 200;
    this.now = opts.now ?? Date.now;
  }

  record(name: string, post: SlaveStatsPost): void {
    const now = this.now();
    let s = this.slaves.get(name);
    if (s)
      this.slaves.delete(name); // re-inserted last: the map's order is least recently heard from first
    else s = { name, version: post.version, updatedAt: now, processes: new Map(), history: [], logs: [] };
    this.slaves.set(name, s);
    while (this.slaves.size > this.maxSlaves) this.slaves.delete(this.slaves.keys().next().value!);
    s.updatedAt = now;
    if (post.version) s.version = post.version;
    s.processes.delete(post.process);
    s.processes.set(post.process, { post, receivedAt: now });
    while (s.processes.size > MAX_PROCESSES) s.processes.delete(s.processes.keys().next().value!);
    const { counters, gauges } = this.totals(s);
    s.history.push({ time: now, ...counters, ...gauges });
    if (s.history.length > this.historySize) s.history.splice(0, s.history.length - this.historySize);
    for (const l of post.logs) s.logs.push({ ...l, time: new Date(l.time).toISOString(), process: post.process });
    if (s.logs.length > this.maxLogs) s.logs.splice(0, s.logs.length - this.maxLogs);
  }

  get(name: string): SlaveStatsView | undefined {
    const s = this.slaves.get(name);
    if (!s) return undefined;
    const iso = (t: number) => new Date(t).toISOString();
    return {
      name: s.name,
      version: s.version,
      updatedAt: iso(s.updatedAt),
      processes: [...s.processes.values()].map((p) => ({
        process: p.post.process,
        startedAt: iso(p.post.startedAt),
        updatedAt: iso(p.receivedAt),
      })),
      ...this.totals(s),
      history: s.history.map((h) => ({ ...h })),
      logs: s.logs.map((l) => ({ ...l })),
    };
  }

  /** The latest totals of every slave, for the slave table. */
  list(): { name: string; updatedAt: string; counters: SlaveCounters; gauges: SlaveGauges }[] {
    return [...this.slaves.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => ({ name: s.name, updatedAt: new Date(s.updatedAt).toISOString(), ...this.totals(s) }));
  }

  forget(name: string): boolean {
    return this.slaves.delete(name);
  }

  private totals(s: SlaveStats): { counters: SlaveCounters; gauges: SlaveGauges } {
    const counters = Object.fromEntries(COUNTER_FIELDS.map((k) => [k, 0])) as unknown as SlaveCounters;
    const gauges = Object.fromEntries(GAUGE_FIELDS.map((k) => [k, 0])) as unknown as SlaveGauges;
    const now = this.now();
    const all = [...s.processes.values()];
    const live = all.filter((p) => now - p.receivedAt <= PROCESS_GONE_MS);
    // A slave that went silent keeps showing its last numbers (with its updatedAt), not zeros.
    for (const p of live.length > 0 ? live : all.slice(-1)) {
      for (const k of COUNTER_FIELDS) counters[k] += p.post.counters[k];
      for (const k of GAUGE_FIELDS) gauges[k] += p.post.gauges[k];
    }
    gauges.cpuPercent = Math.round(gauges.cpuPercent * 10) / 10;
    return { counters, gauges };
  }
}

/** `POST /slaves/:name/stats` (slaves) and `GET /slaves/:name/stats`, `GET /slave-stats` (administrators). */
export function createSlaveStatsRoutes(o: {
  stats: SlaveStatsStore;
  registry: SlaveRegistry;
  logger: Logger;
  guards: { admin: express.RequestHandler; slave: express.RequestHandler };
}): Router {
  const r = Router();
  const log = o.logger.child({ component: 'slave-stats' });

  r.post('/slaves/:name/stats', o.guards.slave, express.json({ limit: MAX_STATS_POST_BYTES }), (req, res) => {
    const name = req.params.name as string;
    if (!SLAVE_NAME_PATTERN.test(name)) return sendError(res, 400, `"${name}" is not a valid slave name`);
    let post: SlaveStatsPost;
    try {
      post = validateSlaveStats(req.body);
    } catch (err) {
      if (err instanceof StatsPostError) return res.status(400).json({ error: err.message, field: err.field });
      throw err;
    }
    // Name, address and version only: the policy hash is the long-poll's to say (no header here is not "none").
    o.registry.contact({
      name,
      address: slaveContact(req)?.address ?? clientIp(req),
      version: post.version || undefined,
    });
    o.stats.record(name, post);
    for (const l of post.logs) {
      // In the master's own log too, for whoever collects it; the slave has rate-limited them.
      log.info(
        { slave: name, process: post.process, level: l.level, detail: l.detail, at: new Date(l.time).toISOString() },
        `slave log: ${l.msg}`,
      );
    }
    res.status(202).json({ ok: true, logs: post.logs.length });
  });

  r.get('/slaves/:name/stats', o.guards.admin, (req, res) => {
    const view = o.stats.get(req.params.name as string);
    if (!view) return sendError(res, 404, `no statistics from a slave named "${req.params.name}" yet`);
    res.json(view);
  });

  r.get('/slave-stats', o.guards.admin, (_req, res) => {
    res.json({ slaves: o.stats.list() });
  });

  return r;
}
