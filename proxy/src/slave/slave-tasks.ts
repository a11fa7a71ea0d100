/**
 * Runs the tasks the master queues for this slave (sync/task-protocol.ts): fetches them when a
 * poll answer says some are open, runs each id once, and posts its result. Ids already run are
 * remembered (in the state dir too, so a slave restarted by a `restart` task does not restart
 * again when the task is handed out once more); their result is posted again instead.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { SyncEvent } from '../sync/protocol.js';
import type { SlaveTask, TaskResult } from '../sync/task-protocol.js';

/** What the runner needs from the policy sync client (sync/policy-client.ts). */
export interface TaskChannel {
  readonly masterReachable: boolean;
  masterFetch(
    path: string,
    init?: { method?: string; body?: string; timeoutMs?: number },
  ): Promise<{ status: number; text: string }>;
  resync(): Promise<{ hash: string | undefined; changed: boolean }>;
  recentEvents(): readonly SyncEvent[];
}

export interface SlaveTaskRunnerOptions {
  name: string;
  channel: TaskChannel;
  logger: Logger;
  /** The slave's Prometheus registry: open connections and tunnels are read from it. */
  registry: Registry;
  policy: { readonly hash: string | undefined | null; readonly currentSource?: string };
  /** Reload proxy users now; undefined when the slave has no proxy authentication. */
  reloadUsers?: () => Promise<string>;
  /** Drain and exit for the supervisor to restart the process. Called after the result is posted. */
  restart: () => void;
  /** The slave's settings with secrets removed (see `withoutSecrets`). */
  flags: Record<string, unknown>;
  version: string;
  recentErrors?: () => readonly unknown[];
  stateDir?: string;
}

/** Ids remembered; beyond this the oldest are forgotten (the master expires tasks long before). */
const REMEMBERED = 200;
const DONE_FILE = 'tasks-done.json';

export class SlaveTaskRunner {
  private readonly log: Logger;
  private readonly done = new Map<string, TaskResult>();
  private readonly running = new Set<string>();
  private checking = false;
  private again = false;
  private readonly startedAt = Date.now();

  constructor(private readonly o: SlaveTaskRunnerOptions) {
    this.log = o.logger.child({ component: 'slave-tasks' });
    this.loadDone();
  }

  /** The master holds `open` tasks for this slave: fetch and run those not run yet. */
  check(open: number): void {
    if (open <= 0) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    void this.fetchAndRun()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'could not fetch tasks from the master'))
      .finally(() => {
        this.checking = false;
        if (this.again) {
          this.again = false;
          this.check(1);
        }
      });
  }

  private async fetchAndRun(): Promise<void> {
    const res = await this.o.channel.masterFetch(`/api/v1/slaves/${encodeURIComponent(this.o.name)}/tasks`);
    if (res.status !== 200) throw new Error(`master answered ${res.status}: ${res.text.slice(0, 200)}`);
    const tasks = JSON.parse(res.text) as SlaveTask[];
    for (const task of tasks) {
      if (this.running.has(task.id)) continue;
      const earlier = this.done.get(task.id);
      if (earlier) {
        // Our answer was lost (or we restarted before the master took it): say it again, do not redo.
        await this.post(task, earlier);
        continue;
      }
      this.running.add(task.id);
      try {
        await this.run(task);
      } finally {
        this.running.delete(task.id);
      }
    }
  }

  private async run(task: SlaveTask): Promise<void> {
    this.log.info({ task: task.id, kind: task.kind }, 'running task');
    let result: TaskResult;
    try {
      switch (task.kind) {
        case 'resync': {
          const { hash, changed } = await this.o.channel.resync();
          result = { status: 'succeeded', detail: `policy ${hash} in force (${changed ? 'changed' : 'unchanged'})` };
          break;
        }
        case 'reload-users':
          result = this.o.reloadUsers
            ? { status: 'succeeded', detail: await this.o.reloadUsers() }
            : { status: 'failed', detail: 'this slave has no proxy authentication configured: no users to reload' };
          break;
        case 'diagnostics':
          result = { status: 'succeeded', detail: 'diagnostics collected', data: await this.diagnostics() };
          break;
        case 'restart': {
          const open = await gaugeValue(this.o.registry, 'safesquid_proxy_active_connections');
          result = {
            status: 'succeeded',
            detail: `draining ${open} open connection(s), then exiting for the supervisor to restart the slave`,
          };
          // Remembered before anything else: the restarted process must not run it again.
          this.remember(task.id, result);
          await this.post(task, result);
          this.o.restart();
          return;
        }
        default:
          result = { status: 'failed', detail: `this slave does not know task kind "${String(task.kind)}"` };
      }
    } catch (err) {
      result = { status: 'failed', detail: (err as Error).message };
    }
    this.remember(task.id, result);
    await this.post(task, result);
  }

  private async post(task: SlaveTask, result: TaskResult): Promise<void> {
    const path = `/api/v1/slaves/${encodeURIComponent(this.o.name)}/tasks/${encodeURIComponent(task.id)}/result`;
    try {
      const res = await this.o.channel.masterFetch(path, { method: 'POST', body: JSON.stringify(result) });
      if (res.status >= 300)
        this.log.warn({ task: task.id, status: res.status, answer: res.text.slice(0, 200) }, 'task result refused');
      else this.log.info({ task: task.id, kind: task.kind, status: result.status, detail: result.detail }, 'task done');
    } catch (err) {
      // The master hands the task out again while it is open; the remembered result goes then.
      this.log.warn({ task: task.id, err: (err as Error).message }, 'could not post the task result yet');
    }
  }

  private async diagnostics(): Promise<Record<string, unknown>> {
    const reg = this.o.registry;
    return {
      name: this.o.name,
      version: this.o.version,
      node: process.version,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      collectedAt: new Date().toISOString(),
      flags: this.o.flags,
      policy: { hash: this.o.policy.hash ?? null, source: this.o.policy.currentSource ?? null },
      masterReachable: this.o.channel.masterReachable,
      syncEvents: this.o.channel.recentEvents().map((e) => ({ ...e, time: new Date(e.time).toISOString() })),
      openConnections: await gaugeValue(reg, 'safesquid_proxy_active_connections'),
      activeTunnels: await gaugeValue(reg, 'safesquid_proxy_active_tunnels'),
      rejected: await labelledValues(reg, 'safesquid_proxy_rejected_total', 'reason'),
      recentErrors: this.o.recentErrors?.() ?? [],
      memory: { rssBytes: process.memoryUsage().rss, heapUsedBytes: process.memoryUsage().heapUsed },
    };
  }

  private remember(id: string, result: TaskResult): void {
    this.done.set(id, result.data ? { status: result.status, detail: result.detail } : result);
    while (this.done.size > REMEMBERED) this.done.delete(this.done.keys().next().value!);
    if (!this.o.stateDir) return;
    const file = join(this.o.stateDir, DONE_FILE);
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify([...this.done]));
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.log.warn({ file, err: (err as Error).message }, 'cannot remember the tasks done');
    }
  }

  private loadDone(): void {
    if (!this.o.stateDir) return;
    try {
      const entries = JSON.parse(readFileSync(join(this.o.stateDir, DONE_FILE), 'utf8')) as [string, TaskResult][];
      for (const [id, r] of entries.slice(-REMEMBERED)) if (typeof id === 'string' && r?.status) this.done.set(id, r);
    } catch {
      // No file yet (or unreadable): nothing was done that could be repeated.
    }
  }
}

async function gaugeValue(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  return (await m.get()).values.reduce((sum, v) => sum + v.value, 0);
}

async function labelledValues(registry: Registry, name: string, label: string): Promise<Record<string, number>> {
  const m = registry.getSingleMetric(name);
  if (!m) return {};
  const out: Record<string, number> = {};
  for (const v of (await m.get()).values) out[String(v.labels[label])] = v.value;
  return out;
}

const SECRET_KEY = /(password|passwd|secret|token|credential|apikey|api-key)$/i;

/** A copy of the slave's settings for diagnostics: values under secret-looking keys are replaced. */
export function withoutSecrets(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null) return '[redacted]';
  if (Array.isArray(value)) return value.map((v) => withoutSecrets(v));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecrets(v, k)]));
  return value;
}
