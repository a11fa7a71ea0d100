import { Gauge, type Registry } from 'prom-client';
import type { SyncEvent } from '../sync/protocol.js';
import { SlaveTasks } from './slave-tasks.js';

export type SlaveState = 'online' | 'stale' | 'offline';

export interface SlaveEntry {
  name: string;
  address: string;
  version: string;
  policyHash: string | null;
  inSync: boolean;
  lastSyncAt: string | null;
  lastReportAt: string | null;
  /** Slave clock minus master clock, in ms (positive: the slave is ahead). */
  clockSkewMs: number | null;
  state: SlaveState;
  events: { time: string; kind: SyncEvent['kind']; detail: string }[];
}

const SKEW_SAMPLES = 8;

/** What survives a master restart: everything but open polls and the skew samples. */
export interface PersistedSlave {
  name: string;
  address: string;
  version: string;
  policyHash: string | null;
  lastSyncAt: number | null;
  lastReportAt: number | null;
  lastSeenAt: number;
  clockSkewMs: number | null;
  events: { time: number; kind: SyncEvent['kind']; detail: string }[];
}

interface Record_ extends PersistedSlave {
  /** Recent (slave clock − arrival time) samples: each is the skew minus that request's delay. */
  skewSamples: number[];
  openPolls: number;
}

export interface SlaveRegistryOptions {
  /** Seen within this long (or holding a long-poll open): online. Default 20 s. */
  onlineMs?: number;
  /** Seen within this long: stale; beyond: offline. Default 5 min. */
  staleMs?: number;
  /** Sync events kept per slave. */
  maxEvents?: number;
  now?: () => number;
}

export interface SlaveContact {
  name: string;
  address: string;
  version?: string;
  policyHash?: string;
  /** The slave's clock (epoch ms) when it sent the request. */
  slaveTime?: number;
}

/**
 * What the master knows about each slave: identity, the policy it enforces, when it last synced
 * and reported, its clock skew, and its recent sync events. Learnt from the slaves' own requests;
 * a slave is online while it holds a long-poll or has been seen recently.
 */
export class SlaveRegistry {
  private readonly slaves = new Map<string, Record_>();
  private readonly onlineMs: number;
  private readonly staleMs: number;
  private readonly maxEvents: number;
  private readonly now: () => number;
  /** Bumped on every change, so a snapshot is written only when there is something new. */
  private version = 0;
  /** Tasks for the slaves and their outcomes (persisted with the registry). */
  readonly tasks: SlaveTasks;

  constructor(opts: SlaveRegistryOptions = {}) {
    this.onlineMs = opts.onlineMs ?? 20_000;
    this.staleMs = opts.staleMs ?? 300_000;
    this.maxEvents = opts.maxEvents ?? 50;
    this.now = opts.now ?? Date.now;
    this.tasks = new SlaveTasks({ now: this.now, onChange: () => this.version++ });
  }

  /** A slave made a request: learn or refresh what it says about itself. */
  contact(c: SlaveContact): void {
    const now = this.now();
    let r = this.slaves.get(c.name);
    if (!r) {
      r = {
        name: c.name,
        address: c.address,
        version: '',
        policyHash: null,
        lastSyncAt: null,
        lastReportAt: null,
        lastSeenAt: now,
        clockSkewMs: null,
        skewSamples: [],
        openPolls: 0,
        events: [],
      };
      this.slaves.set(c.name, r);
    }
    this.version++;
    r.address = c.address;
    r.lastSeenAt = now;
    if (c.version) r.version = c.version;
    if (c.policyHash !== undefined) r.policyHash = c.policyHash || null;
    if (c.slaveTime !== undefined && Number.isFinite(c.slaveTime)) {
      // Transit and queueing only ever make a sample smaller: the largest recent one is the best estimate.
      r.skewSamples.push(c.slaveTime - now);
      if (r.skewSamples.length > SKEW_SAMPLES) r.skewSamples.shift();
      r.clockSkewMs = Math.round(Math.max(...r.skewSamples));
    }
  }

  /** Marks a policy poll as started; call the returned function when it ends. */
  pollStarted(c: SlaveContact): () => void {
    this.contact(c);
    const r = this.slaves.get(c.name)!;
    r.lastSyncAt = this.now();
    r.openPolls++;
    return () => {
      r.openPolls--;
      r.lastSeenAt = this.now();
      this.version++;
    };
  }

  reportReceived(c: SlaveContact): void {
    this.contact(c);
    this.slaves.get(c.name)!.lastReportAt = this.now();
  }

  addEvent(name: string, event: SyncEvent): void {
    const r = this.slaves.get(name);
    if (!r) return;
    r.events.push({ time: event.time, kind: event.kind, detail: event.detail });
    if (r.events.length > this.maxEvents) r.events.splice(0, r.events.length - this.maxEvents);
    this.version++;
  }

  /**
   * Removes a slave that is gone for good (scaled down, renamed). An online one is refused: it
   * would be back with its next request, and the caller is told so.
   */
  forget(name: string): 'forgotten' | 'unknown' | 'online' {
    const r = this.slaves.get(name);
    if (!r) return 'unknown';
    if (this.state(r) === 'online') return 'online';
    this.slaves.delete(name);
    this.version++;
    return 'forgotten';
  }

  /** A change counter: equal values mean nothing changed in between. */
  get changes(): number {
    return this.version;
  }

  snapshot(): PersistedSlave[] {
    return [...this.slaves.values()].map((r) => ({
      name: r.name,
      address: r.address,
      version: r.version,
      policyHash: r.policyHash,
      lastSyncAt: r.lastSyncAt,
      lastReportAt: r.lastReportAt,
      lastSeenAt: r.lastSeenAt,
      clockSkewMs: r.clockSkewMs,
      events: r.events.map((e) => ({ ...e })),
    }));
  }

  /** Loads what an earlier run knew; slaves already seen by this run keep their live state. */
  restore(saved: PersistedSlave[]): void {
    for (const p of saved) {
      if (this.slaves.has(p.name)) continue;
      this.slaves.set(p.name, { ...p, events: p.events.slice(-this.maxEvents), skewSamples: [], openPolls: 0 });
    }
  }

  names(): string[] {
    return [...this.slaves.keys()].sort();
  }

  has(name: string): boolean {
    return this.slaves.has(name);
  }

  list(currentHash: string | undefined): SlaveEntry[] {
    return [...this.slaves.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => this.entry(r, currentHash));
  }

  private state(r: Record_): SlaveState {
    if (r.openPolls > 0) return 'online';
    const age = this.now() - r.lastSeenAt;
    return age <= this.onlineMs ? 'online' : age <= this.staleMs ? 'stale' : 'offline';
  }

  private entry(r: Record_, currentHash: string | undefined): SlaveEntry {
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    return {
      name: r.name,
      address: r.address,
      version: r.version,
      policyHash: r.policyHash,
      inSync: r.policyHash !== null && r.policyHash === currentHash,
      lastSyncAt: iso(r.lastSyncAt),
      lastReportAt: iso(r.lastReportAt),
      clockSkewMs: r.clockSkewMs,
      state: this.state(r),
      events: r.events.map((e) => ({ time: new Date(e.time).toISOString(), kind: e.kind, detail: e.detail })),
    };
  }

  /** Gauges computed at scrape time: slaves by state, and how many enforce the current policy. */
  registerMetrics(registry: Registry, currentHash: () => string | undefined): void {
    const slaves = this.slaves;
    const stateOf = (r: Record_) => this.state(r);
    new Gauge({
      name: 'safesquid_portal_slaves',
      help: 'Known slaves by state',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const counts: Record<SlaveState, number> = { online: 0, stale: 0, offline: 0 };
        for (const r of slaves.values()) counts[stateOf(r)]++;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'safesquid_portal_slaves_in_sync',
      help: "Slaves that report enforcing the master's current policy hash",
      registers: [registry],
      collect() {
        const hash = currentHash();
        let n = 0;
        for (const r of slaves.values()) if (hash && r.policyHash === hash) n++;
        this.set(n);
      },
    });
  }
}
