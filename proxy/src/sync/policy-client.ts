import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Agent, fetch, type Dispatcher } from 'undici';
import { compilePolicyBundle, parsePolicyDocuments } from '../policy/index.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { packageVersion } from './package-version.js';
import {
  MAX_WAIT_SECONDS,
  POLICY_HASH_HEADER,
  SLAVE_HEADER,
  TIME_HEADER,
  VERSION_HEADER,
  unquoteEtag,
  type SyncEvent,
  type SyncEventKind,
} from './protocol.js';

/**
 * What the sync client needs from the slave's active policy (proxy/src/slave/active-policy.ts).
 * `apply` throws on a bundle it cannot load and keeps enforcing the previous one.
 */
export interface PolicyTarget {
  readonly hash: string | undefined | null;
  apply(bundle: unknown, source: 'file' | 'master' | 'state'): { changed: boolean };
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
}

export interface PolicySync {
  stop(): void;
  /** Settles once the loop has ended after `stop()`. */
  readonly closed: Promise<void>;
  /** Whether the last exchange with the master succeeded. */
  readonly masterReachable: boolean;
}

/** `fetch failed: connect ECONNREFUSED 127.0.0.1:8888` rather than just `fetch failed`. */
function describeError(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | null;
  if (!e || typeof e.message !== 'string') return String(err);
  return typeof e.cause?.message === 'string' ? `${e.message}: ${e.cause.message}` : e.message;
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 15_000 };
/** Events that could not be delivered yet; beyond this the oldest are dropped (they are also logged). */
const MAX_PENDING_EVENTS = 200;

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function syncMetrics(registry: Registry) {
  return {
    polls: new Counter({
      name: 'safesquid_sync_polls_total',
      help: 'Policy long-polls to the master, by outcome',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reachable: new Gauge({
      name: 'safesquid_sync_master_reachable',
      help: '1 when the last exchange with the master succeeded',
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'safesquid_sync_last_success_timestamp_seconds',
      help: 'When the master last answered a policy poll',
      registers: [registry],
    }),
    applied: new Counter({
      name: 'safesquid_sync_policy_changes_total',
      help: 'Policy bundles applied, by source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    refused: new Counter({
      name: 'safesquid_sync_policy_refused_total',
      help: 'Policy bundles the slave could not load and refused',
      registers: [registry],
    }),
  };
}

/**
 * Keeps the slave's policy in step with the master: long-polls `GET /api/v1/policy/bundle` with
 * `If-None-Match` = the enforced hash, applies changes live, and reports sync events. With the
 * master away it keeps enforcing what it has, retries with backoff and jitter, and applies the
 * mounted bundle file when that file changes after the policy in force was obtained.
 */
export function startPolicySync(opts: PolicySyncOptions): PolicySync {
  const base = opts.masterUrl.replace(/\/+$/, '');
  const waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.max(1, opts.waitSeconds ?? 30));
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const version = opts.version ?? packageVersion();
  const log = opts.logger.child({ component: 'policy-sync', master: base });
  const dispatcher: Dispatcher | undefined = opts.ca ? new Agent({ connect: { ca: opts.ca } }) : undefined;
  const metrics = syncMetrics(opts.registry);
  const abort = new AbortController();
  const pending: SyncEvent[] = [];
  let stopped = false;
  let reachable = false;
  let flushing = false;
  /** A hash the master offered that we could not load: do not fetch it again until it changes. */
  let refusedHash: string | undefined;
  let lastRefusalAt = 0;
  /** When the policy in force was obtained; the fallback file must be newer than this. */
  let policyObtainedAt = Date.now();
  let fallbackCheckedMtime = 0;
  let wakeSleep: (() => void) | undefined;

  const headers = (): Record<string, string> => {
    const h: Record<string, string> = {
      authorization: `Bearer ${typeof opts.token === 'function' ? opts.token() : opts.token}`,
      [SLAVE_HEADER]: opts.slaveName,
      [VERSION_HEADER]: version,
      [TIME_HEADER]: String(Date.now()),
    };
    const hash = opts.activePolicy.hash;
    if (hash) h[POLICY_HASH_HEADER] = hash;
    return h;
  };

  const record = (kind: SyncEventKind, detail: string): void => {
    pending.push({ time: Date.now(), kind, detail });
    if (pending.length > MAX_PENDING_EVENTS) pending.shift();
    if (reachable) void flushEvents();
  };

  async function flushEvents(): Promise<void> {
    if (flushing) return;
    flushing = true;
    try {
      while (pending.length > 0 && !stopped) {
        const event = pending[0];
        const res = await fetch(`${base}/api/v1/slaves/${encodeURIComponent(opts.slaveName)}/events`, {
          method: 'POST',
          headers: { ...headers(), 'content-type': 'application/json' },
          body: JSON.stringify(event),
          signal: AbortSignal.any([abort.signal, AbortSignal.timeout(10_000)]),
          dispatcher,
        });
        await res.arrayBuffer();
        if (!res.ok && res.status !== 400) break; // 400: the master rejects this event for good; drop it.
        pending.shift();
      }
    } catch (err) {
      if (!stopped) log.debug({ err }, 'could not deliver sync events yet');
    } finally {
      flushing = false;
    }
  }

  function applyBundle(bundle: unknown, source: 'master' | 'file', offeredHash: string | undefined): void {
    try {
      const { changed } = opts.activePolicy.apply(bundle, source);
      refusedHash = undefined;
      policyObtainedAt = Date.now();
      if (changed) {
        metrics.applied.inc({ source });
        log.info({ hash: opts.activePolicy.hash, source }, 'policy applied');
        record(
          'applied',
          `policy ${opts.activePolicy.hash} from ${source === 'master' ? 'the master' : `file ${opts.fallbackBundleFile}`}`,
        );
      }
    } catch (err) {
      const reason = describeError(err);
      metrics.refused.inc();
      refusedHash = offeredHash;
      if (source === 'master') lastRefusalAt = Date.now();
      log.error({ offeredHash, source, reason }, 'policy refused; still enforcing the previous one');
      record('refused', `policy ${offeredHash ?? '(no hash)'} from ${source}: ${reason}`);
    }
  }

  /** `wait` 0 after a failure: the master answers at once, so recovery is noticed (and reported) at once. */
  async function pollOnce(wait: number): Promise<void> {
    const known = refusedHash ?? opts.activePolicy.hash ?? undefined;
    const h = headers();
    if (known) h['if-none-match'] = `"${known}"`;
    // The master answers within `wait`; anything much later means the connection is dead.
    const timeout = AbortSignal.timeout((wait + 15) * 1000);
    const res = await fetch(`${base}/api/v1/policy/bundle?wait=${wait}`, {
      headers: h,
      signal: AbortSignal.any([abort.signal, timeout]),
      dispatcher,
    });
    if (res.status === 304) {
      await res.arrayBuffer();
      metrics.polls.inc({ result: 'unchanged' });
      return;
    }
    if (res.status !== 200) {
      const text = await res.text();
      let reason = text.slice(0, 300);
      try {
        reason = (JSON.parse(text) as { error?: string }).error ?? reason;
      } catch {
        // not JSON: keep the raw text
      }
      throw new HttpStatusError(res.status, `master answered ${res.status}: ${reason}`);
    }
    const offeredHash = unquoteEtag(res.headers.get('etag'));
    const text = await res.text();
    metrics.polls.inc({ result: 'changed' });
    let bundle: unknown;
    try {
      bundle = JSON.parse(text);
    } catch (err) {
      // Reachable but unusable: a refusal, not an outage.
      metrics.refused.inc();
      refusedHash = offeredHash;
      lastRefusalAt = Date.now();
      log.error({ offeredHash, reason: describeError(err) }, 'the master sent a policy bundle that is not JSON');
      record('refused', `policy ${offeredHash ?? '(no hash)'} from master: not JSON (${describeError(err)})`);
      return;
    }
    applyBundle(bundle, 'master', offeredHash);
  }

  async function tryFallbackFile(): Promise<void> {
    const file = opts.fallbackBundleFile;
    if (!file) return;
    let text: string;
    try {
      const st = await stat(file);
      if (st.mtimeMs <= policyObtainedAt || st.mtimeMs === fallbackCheckedMtime) return;
      fallbackCheckedMtime = st.mtimeMs;
      text = await readFile(file, 'utf8');
    } catch (err) {
      log.warn({ file, err: describeError(err) }, 'cannot read the fallback policy file');
      return;
    }
    let bundle;
    try {
      // A compiled bundle (what the operator mounts) or PolicySet documents: the engine reads both.
      bundle = compilePolicyBundle(parsePolicyDocuments(text, file));
    } catch (err) {
      metrics.refused.inc();
      log.error(
        { file, reason: describeError(err) },
        'the fallback policy file does not load; still enforcing the previous policy',
      );
      record('refused', `file ${file}: ${describeError(err)}`);
      return;
    }
    if (bundle.hash === opts.activePolicy.hash) return;
    log.info({ file, hash: bundle.hash }, 'master unreachable and the mounted policy file is newer: applying it');
    applyBundle(bundle, 'file', bundle.hash);
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });

  async function loop(): Promise<void> {
    let failures = 0;
    let unreachableSince: number | undefined;
    while (!stopped) {
      try {
        await pollOnce(reachable ? waitSeconds : 0);
        // A refused bundle without an ETag cannot be skipped by If-None-Match: do not spin on it.
        if (refusedHash === undefined && lastRefusalAt > Date.now() - 1000) await sleep(backoff.maxMs);
        metrics.lastSuccess.set(Date.now() / 1000);
        metrics.reachable.set(1);
        reachable = true;
        if (unreachableSince !== undefined) {
          const secs = ((Date.now() - unreachableSince) / 1000).toFixed(1);
          log.info({ afterSeconds: Number(secs) }, 'master reachable again');
          record('recovered', `master reachable again after ${secs} s`);
          unreachableSince = undefined;
        }
        failures = 0;
        if (pending.length > 0) void flushEvents();
      } catch (err) {
        if (stopped) break;
        failures++;
        reachable = false;
        metrics.reachable.set(0);
        const denied = err instanceof HttpStatusError && (err.status === 401 || err.status === 403);
        metrics.polls.inc({ result: denied ? 'denied' : 'error' });
        const reason = describeError(err);
        if (unreachableSince === undefined) {
          unreachableSince = Date.now();
          log.warn({ reason }, 'master unreachable; still enforcing the last policy');
          record('unreachable', reason);
        } else if (denied) {
          log.error({ reason }, 'master refuses this slave: check the cluster token and the master allow list');
        }
        await tryFallbackFile();
        await sleep(backoffDelay(failures, backoff));
      }
    }
  }

  const closed = loop().catch((err: unknown) => {
    log.error({ err }, 'policy sync loop failed');
  });

  return {
    stop() {
      stopped = true;
      abort.abort();
      wakeSleep?.();
      void dispatcher?.close();
    },
    closed,
    get masterReachable() {
      return reachable;
    },
  };
}
