/**
 * Tasks for a cluster's slaves, asked for with annotations on the SafeSquidCluster:
 *
 *   safesquid.io/task: restart | restart/<slave> | resync[/<slave>] | reload-users[/<slave>] | diagnostics[/<slave>]
 *   safesquid.io/task-id: <id>                       (required: the idempotency key)
 *   safesquid.io/task-expires-in: <seconds>          (optional, default 900)
 *
 * `restart` is the operator's own: it evicts the slave pods one at a time through the Eviction API,
 * so the cluster's PodDisruptionBudget decides when each may go (a 429 waits and retries), and the
 * StatefulSet starts each again. The other kinds go to the master's task API
 * (`POST /api/v1/tasks`), which hands them to the slaves on their policy long-poll.
 * The outcome is written to `safesquid.io/task-result` (JSON) and as Events; a task id already
 * finished there is never run again.
 */
import type { Logger } from 'pino';
import { applyClusterDefaults } from '../api/index.js';
import { isConflict, isNotFound, KubeApiError, type KubeClient, type KubeObject } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { objectPath, RESOURCES } from '../kube/resources.js';
import type { Caches } from './caches.js';
import { masterUrl, secretRefs, type ClusterRef } from './children.js';

export const TASK_ANNOTATION = 'safesquid.io/task';
export const TASK_ID_ANNOTATION = 'safesquid.io/task-id';
export const TASK_EXPIRES_ANNOTATION = 'safesquid.io/task-expires-in';
export const TASK_RESULT_ANNOTATION = 'safesquid.io/task-result';

/** The master's task kinds (proxy/src/sync/task-protocol.ts); the master checks them too. */
const KINDS = ['resync', 'reload-users', 'restart', 'diagnostics'];
const DEFAULT_EXPIRES_S = 900;
/** How often an unfinished task is looked at again (PDB waits, master outcomes). */
const RETRY_MS = 3000;

export interface TaskResultAnnotation {
  id: string;
  kind: string;
  /** A slave name, or `*` for all. */
  slave: string;
  state: 'running' | 'succeeded' | 'failed' | 'expired' | 'invalid';
  detail: string;
  startedAt: string;
  expiresAt: string;
  updatedAt: string;
  /** restart: the pods evicted so far, as `name@uid`. */
  evicted?: string[];
  /** master kinds: each slave's outcome. */
  slaves?: Record<string, string>;
}

const FINAL = new Set(['succeeded', 'failed', 'expired', 'invalid']);

export interface SlaveTaskDeps {
  client: KubeClient;
  logger: Logger;
  caches: Caches;
  events: EventRecorder;
  masterUrls: Map<string, string>;
  now?: () => number;
}

const decode = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class SlaveTaskController {
  private readonly now: () => number;

  constructor(private readonly d: SlaveTaskDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Advances the cluster's task, if any; returns when to look again while it is unfinished. */
  async reconcile(namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
    const ssc = this.d.caches.SafeSquidCluster.get(`${namespace}/${name}`);
    const a = ssc?.metadata?.annotations;
    if (!ssc || ssc.metadata?.deletionTimestamp || !a?.[TASK_ANNOTATION]) return {};
    const previous = parseResult(a[TASK_RESULT_ANNOTATION]);
    const id = a[TASK_ID_ANNOTATION];
    if (previous && previous.id === (id ?? '') && FINAL.has(previous.state)) return {};

    const now = this.now();
    const [kind, slave = '*'] = a[TASK_ANNOTATION].trim().split('/', 2);
    const base = (state: TaskResultAnnotation['state'], detail: string, startedAt = now, expiresAt = now) => ({
      id: id ?? '',
      kind,
      slave,
      state,
      detail,
      startedAt: iso(startedAt),
      expiresAt: iso(expiresAt),
      updatedAt: iso(now),
    });
    const invalid = async (detail: string) => {
      await this.write(ssc, base('invalid', detail));
      await this.d.events.record(ssc, 'Warning', 'TaskInvalid', detail);
      return {};
    };
    if (!id || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(id))
      return invalid(
        `annotation ${TASK_ID_ANNOTATION} must be set to an id (letters, digits, . _ : -): it makes the task run once`,
      );
    if (!KINDS.includes(kind))
      return invalid(`annotation ${TASK_ANNOTATION}: kind must be one of ${KINDS.join(', ')}, got "${kind}"`);
    const running = previous?.id === id ? previous : undefined;
    let startedAt = running ? Date.parse(running.startedAt) : now;
    let expiresAt = running ? Date.parse(running.expiresAt) : NaN;
    if (!running) {
      const raw = a[TASK_EXPIRES_ANNOTATION] ?? String(DEFAULT_EXPIRES_S);
      if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1)
        return invalid(`annotation ${TASK_EXPIRES_ANNOTATION} must be a whole number of seconds, got "${raw}"`);
      startedAt = now;
      expiresAt = now + Number(raw) * 1000;
    }
    const log = this.d.logger.child({ cluster: `${namespace}/${name}`, task: id, kind, slave });
    if (now > expiresAt) {
      const detail = `expired before it finished: ${running?.detail ?? 'not started'}`;
      await this.write(ssc, { ...base('expired', detail, startedAt, expiresAt), evicted: running?.evicted });
      await this.d.events.record(ssc, 'Warning', 'TaskExpired', `task ${id} (${kind}) ${detail}`);
      return {};
    }
    if (!running) {
      log.info('task accepted');
      await this.d.events.record(
        ssc,
        'Normal',
        'TaskAccepted',
        `task ${id}: ${kind} for ${slave === '*' ? 'every slave' : slave}`,
      );
    }
    const step =
      kind === 'restart'
        ? await this.evictStep(ssc, slave, running?.evicted ?? [], log)
        : await this.masterStep(ssc, id, kind, slave, Math.max(1, Math.round((expiresAt - now) / 1000)));
    const result: TaskResultAnnotation = { ...base(step.state, step.detail, startedAt, expiresAt), ...step.extra };
    if (JSON.stringify({ ...result, updatedAt: '' }) !== JSON.stringify({ ...running, updatedAt: '' }))
      await this.write(ssc, result);
    if (FINAL.has(step.state)) {
      log.info({ state: step.state, detail: step.detail }, 'task finished');
      await this.d.events.record(
        ssc,
        step.state === 'succeeded' ? 'Normal' : 'Warning',
        step.state === 'succeeded' ? 'TaskSucceeded' : step.state === 'invalid' ? 'TaskInvalid' : 'TaskFailed',
        `task ${id} (${kind}): ${step.detail}`,
      );
      return {};
    }
    return { requeueAfterMs: RETRY_MS };
  }

  /**
   * One pass of a restart: evict the next slave pod not evicted yet, if the PDB lets it go. Pods are
   * remembered by name (`name@uid`): the replacement the StatefulSet starts has the same name.
   */
  private async evictStep(
    ssc: KubeObject,
    slave: string,
    evicted: string[],
    log: Logger,
  ): Promise<{ state: TaskResultAnnotation['state']; detail: string; extra?: Partial<TaskResultAnnotation> }> {
    const ns = ssc.metadata!.namespace!;
    const pods = this.d.caches.Pod.list(ns)
      .filter(
        (p) =>
          p.metadata?.labels?.['app.kubernetes.io/instance'] === ssc.metadata!.name &&
          p.metadata?.labels?.['app.kubernetes.io/component'] === 'slave',
      )
      .sort((x, y) => x.metadata!.name!.localeCompare(y.metadata!.name!));
    const targets = slave === '*' ? pods : pods.filter((p) => p.metadata?.name === slave);
    if (slave !== '*' && targets.length === 0 && evicted.length === 0)
      return {
        state: 'invalid',
        detail: `annotation ${TASK_ANNOTATION}: no slave pod named "${slave}" (slaves: ${pods.map((p) => p.metadata!.name).join(', ') || 'none'})`,
      };
    const done = [...evicted];
    const doneNames = new Set(done.map((e) => e.split('@')[0]));
    const left = targets.filter((p) => !doneNames.has(p.metadata!.name!));
    if (left.length === 0)
      return {
        state: 'succeeded',
        detail: `evicted ${done.length} slave pod(s) one at a time within the PodDisruptionBudget; the StatefulSet started them again`,
        extra: { evicted: done },
      };
    const next = left.find((p) => !p.metadata?.deletionTimestamp);
    if (!next)
      return {
        state: 'running',
        detail: `waiting for ${left[0].metadata!.name} to finish terminating`,
        extra: { evicted: done },
      };
    const podName = next.metadata!.name!;
    try {
      await this.d.client.request('POST', `${objectPath(RESOURCES.Pod, ns, podName)}/eviction`, {
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: podName, namespace: ns },
          deleteOptions: { preconditions: { uid: next.metadata!.uid } },
        },
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 429) {
        log.info({ pod: podName }, 'eviction refused by the PodDisruptionBudget for now');
        return {
          state: 'running',
          detail: `waiting for the PodDisruptionBudget to allow evicting ${podName} (${done.length} of ${targets.length} evicted)`,
          extra: { evicted: done },
        };
      }
      // Gone already, or replaced (another UID): it restarted either way.
      if (!isNotFound(err) && !isConflict(err)) {
        // E.g. a pod under two PodDisruptionBudgets (500): the administrator must fix that; the task
        // says so and tries again until it expires, without failing the cluster's reconcile.
        const reason = err instanceof Error ? err.message : String(err);
        log.warn({ pod: podName, err: reason }, 'eviction failed');
        return {
          state: 'running',
          detail: `evicting ${podName} failed (${reason}); retrying`,
          extra: { evicted: done },
        };
      }
    }
    log.info({ pod: podName }, 'slave pod evicted for restart');
    done.push(`${podName}@${next.metadata!.uid}`);
    const rest = left.length - 1;
    return {
      state: rest > 0 ? 'running' : 'succeeded',
      detail:
        rest > 0
          ? `evicted ${podName} (${done.length} of ${targets.length}); the next waits for the PodDisruptionBudget`
          : `evicted ${done.length} slave pod(s) one at a time within the PodDisruptionBudget; the StatefulSet restarts them`,
      extra: { evicted: done },
    };
  }

  /** One pass of a master task: queue it (idempotent by id), then read its outcome. */
  private async masterStep(
    ssc: KubeObject,
    id: string,
    kind: string,
    slave: string,
    expiresInSeconds: number,
  ): Promise<{ state: TaskResultAnnotation['state']; detail: string; extra?: Partial<TaskResultAnnotation> }> {
    const ns = ssc.metadata!.namespace!;
    const name = ssc.metadata!.name!;
    const ref = {
      metadata: { name, namespace: ns },
      spec: applyClusterDefaults(ssc.spec as never),
    } as unknown as ClusterRef;
    const url = this.d.masterUrls.get(`${ns}/${name}`) ?? masterUrl(ref);
    const adminRef = secretRefs(ref).admin;
    const token = decode(
      (this.d.caches.Secret.get(`${ns}/${adminRef.name}`)?.data as Record<string, string> | undefined)?.[
        adminRef.tokenKey
      ],
    );
    if (!token) return { state: 'running', detail: `waiting for the admin Secret ${adminRef.name}` };
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(3000),
      });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text };
    };
    try {
      const queued = await call('POST', '/tasks', { id, kind, slave, expiresInSeconds });
      if (queued.status === 400 || queued.status === 409)
        return { state: 'invalid', detail: `the master refused the task: ${queued.json?.error ?? queued.text}` };
      if (queued.status >= 300) return { state: 'running', detail: `the master answered ${queued.status}; retrying` };
      const task = queued.json as { state: string; slaves: { name: string; state: string; detail?: string }[] };
      const slaves = Object.fromEntries(
        task.slaves.map((s) => [s.name, s.detail ? `${s.state}: ${s.detail}` : s.state]),
      );
      if (task.state !== 'done')
        return { state: 'running', detail: `queued on the master; ${summary(task.slaves)}`, extra: { slaves } };
      const failed = task.slaves.some((s) => s.state !== 'succeeded');
      return { state: failed ? 'failed' : 'succeeded', detail: summary(task.slaves), extra: { slaves } };
    } catch (err) {
      return {
        state: 'running',
        detail: `the master at ${url} is not reachable (${(err as Error).message}); retrying`,
      };
    }
  }

  private async write(ssc: KubeObject, result: TaskResultAnnotation): Promise<void> {
    const m = ssc.metadata!;
    try {
      const updated = await this.d.client.request(
        'PATCH',
        objectPath(RESOURCES.SafeSquidCluster, m.namespace, m.name!),
        {
          contentType: 'application/merge-patch+json',
          body: { metadata: { annotations: { [TASK_RESULT_ANNOTATION]: JSON.stringify(result) } } },
        },
      );
      this.d.caches.SafeSquidCluster.bump(updated);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

function summary(slaves: { name: string; state: string }[]): string {
  const counts = new Map<string, number>();
  for (const s of slaves) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(', ') || 'no slaves';
}

function parseResult(text: string | undefined): TaskResultAnnotation | undefined {
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as TaskResultAnnotation;
    return typeof r?.id === 'string' && typeof r.state === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}
