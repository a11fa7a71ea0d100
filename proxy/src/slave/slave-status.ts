/**
 * What the slave's `/status` page and `/status.json` show (metrics-server.ts serves them): who it
 * is, which policy it enforces and where that came from, how its sync with the master goes, its
 * counters and its recent warning/error lines. Read-only, computed per request from the live
 * objects; the board itself keeps only the last POLICY_EVENTS policy changes.
 */
import type { Registry } from 'prom-client';
import type { PolicySourceKind } from './active-policy.js';
import { metricSum, readProxyCounters, type ProxyCounters } from './slave-counters.js';

const POLICY_EVENTS = 20;

export interface StatusEvent {
  time: string;
  kind: string;
  detail: string;
}

export interface SlaveStatus {
  name: string;
  version: string;
  startedAt: string;
  now: string;
  policy: {
    hash: string | null;
    /** `master`, `file`, or `last-known-good` (the bundle persisted in the state directory). */
    source: 'master' | 'file' | 'last-known-good' | null;
    since: string | null;
  };
  /** Null without `--master`. */
  master: {
    url: string;
    reachable: boolean;
    lastSyncAt: string | null;
    reportsReachable: boolean;
  } | null;
  /** Sync events with a master; policy changes without one. Oldest first. */
  events: StatusEvent[];
  counters: ProxyCounters & {
    recordsSent: number;
    recordsDropped: number;
    queueRecords: number;
    spoolBatches: number;
    spoolBytes: number;
    rssBytes: number;
  };
  /** The slave's last warning and error lines, oldest first. */
  logs: { time: string; level: string; msg: string; detail?: string }[];
  /** With `--workers N`: N, and the policy hash each worker enforces (they may differ for a moment). */
  workers?: { count: number; policyHashes: (string | null)[] };
}

/** What the board reads once the slave talks to a master (slave-command wires it). */
export interface MasterLink {
  url: string;
  sync: {
    readonly masterReachable: boolean;
    recentEvents?(): readonly { time: number; kind: string; detail: string }[];
  };
  shipper?: { readonly masterReachable: boolean };
  logs?: { recent(): { time: number; level: string; msg: string; detail?: string }[] };
}

interface PolicySource {
  readonly hash: string | undefined;
  readonly currentSource: PolicySourceKind | undefined;
  on(event: 'change', listener: (policy: { hash: string }, source: PolicySourceKind) => void): unknown;
}

const SOURCE_NAMES: Record<PolicySourceKind, 'master' | 'file' | 'last-known-good'> = {
  master: 'master',
  file: 'file',
  state: 'last-known-good',
};

export class SlaveStatusBoard {
  private readonly startedAt = new Date();
  private readonly policyEvents: StatusEvent[] = [];
  private since: Date | null = null;
  private link: MasterLink | undefined;

  constructor(private readonly o: { name: string; version: string; registry: Registry; policy: PolicySource }) {
    if (o.policy.hash) this.since = new Date();
    o.policy.on('change', (p, source) => {
      this.since = new Date();
      this.policyEvents.push({
        time: this.since.toISOString(),
        kind: 'applied',
        detail: `policy ${p.hash} from ${SOURCE_NAMES[source]}`,
      });
      if (this.policyEvents.length > POLICY_EVENTS) this.policyEvents.shift();
    });
  }

  /** The slave has a master: show its URL, the sync client's state and events, and the log lines. */
  attach(link: MasterLink): void {
    this.link = link;
  }

  async status(): Promise<SlaveStatus> {
    const r = this.o.registry;
    const sum = (name: string) => metricSum(r, name);
    const [proxy, recordsSent, recordsDropped, queueRecords, spoolBatches, spoolBytes, lastSync] = await Promise.all([
      readProxyCounters(r),
      sum('safesquid_report_records_sent_total'),
      sum('safesquid_report_records_dropped_total'),
      sum('safesquid_report_queue_depth'),
      sum('safesquid_report_spool_batches'),
      sum('safesquid_report_spool_bytes'),
      sum('safesquid_sync_last_success_timestamp_seconds'),
    ]);
    const link = this.link;
    const source = this.o.policy.currentSource;
    const iso = (t: number) => new Date(t).toISOString();
    const syncEvents = link?.sync.recentEvents?.();
    return {
      name: this.o.name,
      version: this.o.version,
      startedAt: this.startedAt.toISOString(),
      now: new Date().toISOString(),
      policy: {
        hash: this.o.policy.hash ?? null,
        source: source ? SOURCE_NAMES[source] : null,
        since: this.since?.toISOString() ?? null,
      },
      master: link
        ? {
            url: link.url,
            reachable: link.sync.masterReachable,
            lastSyncAt: lastSync > 0 ? iso(lastSync * 1000) : null,
            reportsReachable: link.shipper?.masterReachable ?? link.sync.masterReachable,
          }
        : null,
      events: syncEvents
        ? syncEvents.map((e) => ({ time: iso(e.time), kind: e.kind, detail: e.detail }))
        : [...this.policyEvents],
      counters: {
        ...proxy,
        recordsSent,
        recordsDropped,
        queueRecords,
        spoolBatches,
        spoolBytes,
        rssBytes: process.memoryUsage.rss(),
      },
      logs: (link?.logs?.recent() ?? []).map((l) => ({
        time: iso(l.time),
        level: l.level,
        msg: l.msg,
        ...(l.detail ? { detail: l.detail } : {}),
      })),
    };
  }
}

/**
 * The slave's status from its workers' (`--workers N`; the primary serves /status): who and which
 * policy as the first worker says, the master reachable only when every worker reaches it,
 * counters summed, warnings of all workers.
 */
export function mergeWorkerStatuses(all: readonly SlaveStatus[]): SlaveStatus {
  const [first] = all;
  const counters = { ...first.counters };
  for (const s of all.slice(1))
    for (const k of Object.keys(counters) as (keyof SlaveStatus['counters'])[]) counters[k] += s.counters[k];
  const byTime = <T extends { time: string }>(a: T, b: T) => a.time.localeCompare(b.time);
  return {
    ...first,
    now: new Date().toISOString(),
    master: first.master && { ...first.master, reachable: all.every((s) => s.master?.reachable) },
    counters,
    logs: all
      .flatMap((s) => s.logs)
      .sort(byTime)
      .slice(-20),
    workers: { count: all.length, policyHashes: all.map((s) => s.policy.hash) },
  };
}
