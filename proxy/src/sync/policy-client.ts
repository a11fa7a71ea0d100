import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { compilePolicyBundle, parsePolicyDocuments } from '../policy/index.js';
import type { Registry } from 'prom-client';
import { backoffDelay, type BackoffOptions } from '../net/backoff.js';
import { describeNetError, headerValue, MasterClient } from '../net/master-client.js';
import { packageVersion } from './package-version.js';
import { SyncMetrics } from './sync-metrics.js';
import { TASKS_HEADER } from './task-protocol.js';
import {
  MAX_WAIT_SECONDS,
  POLICY_HASH_HEADER,
  TIME_HEADER,
  VERSION_HEADER,
  unquoteEtag,
  type SyncEvent,
  type SyncEventKind,
} from './protocol.js';
import { HttpStatusError } from '../errors.js';

/**
 * What the sync client needs from the slave's active policy (proxy/src/slave/active-policy.ts).
 * `apply` throws on a bundle it cannot load and keeps enforcing the previous one.
 */
export interface PolicyTarget {
  readonly hash: string | undefined | null;
  apply(bundle: unknown, source: 'file' | 'master' | 'state'): { changed: boolean };
  /** The master answered that `hash` is still its policy: the one in force, if it is that, is now the master's. */
  confirm?(hash: string, source: 'master'): void;
}

export interface PolicySyncOptions {
  /** The master's base URL, e.g. `http://127.0.0.1:8888`. */
  masterUrl: string;
  /** The cluster token (`Authorization: Bearer`); a function lets a rotated Secret take effect. */
  token: string | (() => string);
  slaveName: string;
  activePolicy: PolicyTarget;
  logger: Logger;
  registry: Registry;
  /**
   * The mounted policy (the operator's compiled bundle, or PolicySet documents): applied while the
   * master is unreachable, when the file changed after the policy in force was obtained.
   */
  fallbackBundleFile?: string;
  /** How long the master may hold a long-poll; default 30 s, at most 60. */
  waitSeconds?: number;
  backoff?: BackoffOptions;
  version?: string;
  /** PEM certificates trusted for an https:// master (a private CA) instead of the system's. */
  ca?: string;
  /**
   * Called after every poll answer with the number of open tasks the master holds for this slave
   * (`x-safesquid-tasks`); a queued task ends the long-poll early (task-protocol.ts).
   */
  onTasks?: (open: number) => void;
}

export interface PolicySync {
  stop(): void;
  /** Settles once the loop has ended after `stop()`. */
  readonly closed: Promise<void>;
  /** Whether the last exchange with the master succeeded. */
  readonly masterReachable: boolean;
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 15_000 };
/** Events that could not be delivered yet; beyond this the oldest are dropped (they are also logged). */
const MAX_PENDING_EVENTS = 200;
/** Recent events kept for diagnostics, delivered or not. */
const RECENT_EVENTS = 20;

/**
 * Keeps the slave's policy in step with the master: long-polls `GET /api/v1/policy/bundle` with
 * `If-None-Match` = the enforced hash, applies changes live, and reports sync events. With the
 * master away it keeps enforcing what it has, retries with backoff and jitter, and applies the
 * mounted bundle file when that file changes after the policy in force was obtained.
 */
export class PolicySyncClient implements PolicySync {
  readonly closed: Promise<void>;
  private readonly waitSeconds: number;
  private readonly backoff: BackoffOptions;
  private readonly version: string;
  private readonly log: Logger;
  /** Its own pool: a long-poll held for 30 s never queues the shipper's batches behind it. */
  private readonly client: MasterClient;
  private readonly metrics: SyncMetrics;
  private readonly abort = new AbortController();
  /** Sync events not delivered to the master yet, oldest first. */
  private readonly pending: SyncEvent[] = [];
  private readonly recent: SyncEvent[] = [];
  private stopped = false;
  private reachable = false;
  private flushing = false;
  /** A hash the master offered that we could not load: do not fetch it again until it changes. */
  private refusedHash: string | undefined;
  private lastRefusalAt = 0;
  /** When the policy in force was obtained; the fallback file must be newer than this. */
  private policyObtainedAt = Date.now();
  private fallbackCheckedMtime = 0;
  private wakeSleep: (() => void) | undefined;

  constructor(private readonly opts: PolicySyncOptions) {
    this.waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.max(1, opts.waitSeconds ?? 30));
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.version = opts.version ?? packageVersion();
    this.log = opts.logger.child({ component: 'policy-sync', master: opts.masterUrl.replace(/\/+$/, '') });
    this.client = new MasterClient({
      masterUrl: opts.masterUrl,
      token: opts.token,
      slaveName: opts.slaveName,
      ca: opts.ca,
    });
    this.metrics = new SyncMetrics(opts.registry);
    this.closed = this.loop().catch((err: unknown) => {
      this.log.error({ err }, 'policy sync loop failed');
    });
  }

  get masterReachable(): boolean {
    return this.reachable;
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.wakeSleep?.();
    void this.client.close();
  }

  private headers(): Record<string, string> {
    // Authorization and the slave's name come from the MasterClient.
    const h: Record<string, string> = {
      [VERSION_HEADER]: this.version,
      [TIME_HEADER]: String(Date.now()),
    };
    const hash = this.opts.activePolicy.hash;
    if (hash) h[POLICY_HASH_HEADER] = hash;
    return h;
  }

  /** The last sync events, oldest first (for diagnostics). */
  recentEvents(): readonly SyncEvent[] {
    return this.recent;
  }

  /**
   * A request to the master with this slave's headers, token and CA (the task channel uses it).
   * `path` starts with `/api/v1/`.
   */
  async masterFetch(
    path: string,
    init: { method?: string; body?: string; timeoutMs?: number } = {},
  ): Promise<{ status: number; text: string }> {
    const timeoutMs = init.timeoutMs ?? 10_000;
    const res = await this.client.request(path, {
      method: init.method === 'POST' ? 'POST' : 'GET',
      headers: { ...this.headers(), ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: init.body,
      timeoutMs,
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]),
      maxBodyBytes: Infinity,
    });
    return { status: res.status, text: res.text };
  }

  /**
   * Fetches the master's bundle now, whatever the hash in force (an administrator's "re-sync"):
   * applies it if it differs, and clears a refusal so a fixed bundle is taken at once.
   */
  async resync(): Promise<{ hash: string | undefined; changed: boolean }> {
    const before = this.opts.activePolicy.hash ?? undefined;
    const res = await this.client.request('/api/v1/policy/bundle?wait=0', {
      headers: this.headers(),
      timeoutMs: 15_000,
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(15_000)]),
      maxBodyBytes: Infinity,
    });
    const text = res.text;
    if (res.status !== 200)
      throw new HttpStatusError(res.status, `master answered ${res.status}: ${text.slice(0, 300)}`);
    this.refusedHash = undefined;
    this.applyBundle(JSON.parse(text), 'master', unquoteEtag(headerValue(res, 'etag') ?? null));
    if (this.refusedHash !== undefined) throw new Error(`the master's policy ${this.refusedHash} does not load here`);
    return { hash: this.opts.activePolicy.hash ?? undefined, changed: this.opts.activePolicy.hash !== before };
  }

  private record(kind: SyncEventKind, detail: string): void {
    this.recent.push({ time: Date.now(), kind, detail });
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    this.pending.push({ time: Date.now(), kind, detail });
    if (this.pending.length > MAX_PENDING_EVENTS) this.pending.shift();
    if (this.reachable) void this.flushEvents();
  }

  private async flushEvents(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && !this.stopped) {
        const event = this.pending[0];
        const res = await this.client.request(`/api/v1/slaves/${encodeURIComponent(this.opts.slaveName)}/events`, {
          method: 'POST',
          headers: { ...this.headers(), 'content-type': 'application/json' },
          body: JSON.stringify(event),
          timeoutMs: 10_000,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(10_000)]),
        });
        const ok = res.status >= 200 && res.status < 300;
        if (!ok && res.status !== 400) break; // 400: the master rejects this event for good; drop it.
        this.pending.shift();
      }
    } catch (err) {
      if (!this.stopped) this.log.debug({ err }, 'could not deliver sync events yet');
    } finally {
      this.flushing = false;
    }
  }

  private applyBundle(bundle: unknown, source: 'master' | 'file', offeredHash: string | undefined): void {
    const active = this.opts.activePolicy;
    try {
      const { changed } = active.apply(bundle, source);
      this.refusedHash = undefined;
      this.policyObtainedAt = Date.now();
      if (changed) {
        this.metrics.applied.inc({ source });
        this.log.info({ hash: active.hash, source }, 'policy applied');
        this.record(
          'applied',
          `policy ${active.hash} from ${source === 'master' ? 'the master' : `file ${this.opts.fallbackBundleFile}`}`,
        );
      }
    } catch (err) {
      const reason = describeNetError(err);
      this.metrics.refused.inc();
      this.refusedHash = offeredHash;
      if (source === 'master') this.lastRefusalAt = Date.now();
      this.log.error({ offeredHash, source, reason }, 'policy refused; still enforcing the previous one');
      this.record('refused', `policy ${offeredHash ?? '(no hash)'} from ${source}: ${reason}`);
    }
  }

  /** `wait` 0 after a failure: the master answers at once, so recovery is noticed (and reported) at once. */
  private async pollOnce(wait: number): Promise<void> {
    const known = this.refusedHash ?? this.opts.activePolicy.hash ?? undefined;
    const h = this.headers();
    if (known) h['if-none-match'] = `"${known}"`;
    // The master answers within `wait`; anything much later means the connection is dead.
    const timeout = AbortSignal.timeout((wait + 15) * 1000);
    const res = await this.client.request(`/api/v1/policy/bundle?wait=${wait}`, {
      headers: h,
      timeoutMs: (wait + 15) * 1000,
      signal: AbortSignal.any([this.abort.signal, timeout]),
      maxBodyBytes: Infinity,
    });
    const tasks = Number(headerValue(res, TASKS_HEADER) ?? 0);
    if (tasks > 0 && this.opts.onTasks) this.opts.onTasks(tasks);
    if (res.status === 304) {
      this.metrics.polls.inc({ result: 'unchanged' });
      // A persisted last-known-good (or file) policy the master still serves is the master's policy;
      // confirm ignores a hash that is not the one in force (a refused one).
      if (known) this.opts.activePolicy.confirm?.(known, 'master');
      return;
    }
    if (res.status !== 200) {
      const text = res.text;
      let reason = text.slice(0, 300);
      try {
        reason = (JSON.parse(text) as { error?: string }).error ?? reason;
      } catch {
        // not JSON: keep the raw text
      }
      throw new HttpStatusError(res.status, `master answered ${res.status}: ${reason}`);
    }
    const offeredHash = unquoteEtag(headerValue(res, 'etag') ?? null);
    const text = res.text;
    this.metrics.polls.inc({ result: 'changed' });
    let bundle: unknown;
    try {
      bundle = JSON.parse(text);
    } catch (err) {
      // Reachable but unusable: a refusal, not an outage.
      this.metrics.refused.inc();
      this.refusedHash = offeredHash;
      this.lastRefusalAt = Date.now();
      this.log.error(
        { offeredHash, reason: describeNetError(err) },
        'the master sent a policy bundle that is not JSON',
      );
      this.record('refused', `policy ${offeredHash ?? '(no hash)'} from master: not JSON (${describeNetError(err)})`);
      return;
    }
    this.applyBundle(bundle, 'master', offeredHash);
  }

  private async tryFallbackFile(): Promise<void> {
    const file = this.opts.fallbackBundleFile;
    if (!file) return;
    let text: string;
    try {
      const st = await stat(file);
      if (st.mtimeMs <= this.policyObtainedAt || st.mtimeMs === this.fallbackCheckedMtime) return;
      this.fallbackCheckedMtime = st.mtimeMs;
      text = await readFile(file, 'utf8');
    } catch (err) {
      this.log.warn({ file, err: describeNetError(err) }, 'cannot read the fallback policy file');
      return;
    }
    let bundle;
    try {
      // A compiled bundle (what the operator mounts) or PolicySet documents: the engine reads both.
      bundle = compilePolicyBundle(parsePolicyDocuments(text, file));
    } catch (err) {
      this.metrics.refused.inc();
      this.log.error(
        { file, reason: describeNetError(err) },
        'the fallback policy file does not load; still enforcing the previous policy',
      );
      this.record('refused', `file ${file}: ${describeNetError(err)}`);
      return;
    }
    if (bundle.hash === this.opts.activePolicy.hash) return;
    this.log.info({ file, hash: bundle.hash }, 'master unreachable and the mounted policy file is newer: applying it');
    this.applyBundle(bundle, 'file', bundle.hash);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let unreachableSince: number | undefined;
    while (!this.stopped) {
      try {
        await this.pollOnce(this.reachable ? this.waitSeconds : 0);
        // A refused bundle without an ETag cannot be skipped by If-None-Match: do not spin on it.
        if (this.refusedHash === undefined && this.lastRefusalAt > Date.now() - 1000)
          await this.sleep(this.backoff.maxMs);
        this.metrics.lastSuccess.set(Date.now() / 1000);
        this.metrics.reachable.set(1);
        this.reachable = true;
        if (unreachableSince !== undefined) {
          const secs = ((Date.now() - unreachableSince) / 1000).toFixed(1);
          this.log.info({ afterSeconds: Number(secs) }, 'master reachable again');
          this.record('recovered', `master reachable again after ${secs} s`);
          unreachableSince = undefined;
        }
        failures = 0;
        if (this.pending.length > 0) void this.flushEvents();
      } catch (err) {
        if (this.stopped) break;
        failures++;
        this.reachable = false;
        this.metrics.reachable.set(0);
        const denied = err instanceof HttpStatusError && (err.status === 401 || err.status === 403);
        this.metrics.polls.inc({ result: denied ? 'denied' : 'error' });
        const reason = describeNetError(err);
        if (unreachableSince === undefined) {
          unreachableSince = Date.now();
          this.log.warn({ reason }, 'master unreachable; still enforcing the last policy');
          this.record('unreachable', reason);
        } else if (denied) {
          this.log.error({ reason }, 'master refuses this slave: check the cluster token and the master allow list');
        }
        await this.tryFallbackFile();
        await this.sleep(backoffDelay(failures, this.backoff));
      }
    }
  }
}

/** Starts the sync loop at once; `stop()` ends it. */
export function startPolicySync(opts: PolicySyncOptions): PolicySync {
  return new PolicySyncClient(opts);
}
