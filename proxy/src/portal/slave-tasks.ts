/**
 * Tasks the administrator gives slaves (re-sync policy, reload users, drain and restart, collect
 * diagnostics), kept per slave with their outcome. A task is idempotent by id: asking again with
 * the same id and the same content returns the task as it stands; different content is refused.
 * A task a slave has not finished by `expiresAt` is marked expired and no longer handed out.
 */
import {
  DEFAULT_TASK_TTL_SECONDS,
  MAX_TASK_TTL_SECONDS,
  TASK_ID_PATTERN,
  TASK_KINDS,
  type SlaveTask,
  type TaskKind,
  type TaskResult,
} from '../sync/task-protocol.js';
import { SLAVE_NAME_PATTERN } from '../sync/protocol.js';
import { TaskInputError } from '../errors.js';
export { TaskInputError };

export type TaskOutcomeState = 'pending' | 'delivered' | 'succeeded' | 'failed' | 'expired';
const FINISHED: readonly TaskOutcomeState[] = ['succeeded', 'failed', 'expired'];

export interface TaskOutcome {
  state: TaskOutcomeState;
  /** Epoch ms of the last change of state. */
  updatedAt: number;
  /** When the slave fetched the task: a result may still come after the expiry. */
  deliveredAt?: number;
  detail?: string;
  data?: Record<string, unknown>;
}

/** A task as stored (and persisted in slaves.json). */
export interface StoredTask {
  id: string;
  kind: TaskKind;
  /** A slave name, or `*` for every slave known when the task was created. */
  target: string;
  createdAt: number;
  expiresAt: number;
  createdBy: string;
  slaves: Record<string, TaskOutcome>;
}

/** A task as the API shows it. */
export interface TaskView {
  id: string;
  kind: TaskKind;
  target: string;
  createdAt: string;
  expiresAt: string;
  createdBy: string;
  /** `done` once every slave's outcome is final. */
  state: 'open' | 'done';
  slaves: {
    name: string;
    state: TaskOutcomeState;
    updatedAt: string;
    detail?: string;
    data?: Record<string, unknown>;
  }[];
}

export interface TaskRequest {
  id?: unknown;
  kind?: unknown;
  slave?: unknown;
  expiresInSeconds?: unknown;
  expiresAt?: unknown;
}

export interface SlaveTasksOptions {
  /** Finished tasks kept for the portal; the oldest beyond this are dropped. */
  maxTasks?: number;
  now?: () => number;
  onChange?: () => void;
}

type Waiter = { slave: string; wake: () => void };

export class SlaveTasks {
  private readonly tasks = new Map<string, StoredTask>();
  private readonly waiters = new Set<Waiter>();
  private readonly maxTasks: number;
  private readonly now: () => number;
  private readonly changed: () => void;

  constructor(opts: SlaveTasksOptions = {}) {
    this.maxTasks = opts.maxTasks ?? 500;
    this.now = opts.now ?? Date.now;
    this.changed = opts.onChange ?? (() => undefined);
  }

  /**
   * Creates a task, or returns the existing one with the same id (`created: false`).
   * `knownSlaves`: the registry's slave names, for checking a named slave and expanding `*`.
   */
  create(
    req: TaskRequest,
    knownSlaves: readonly string[],
    createdBy: string,
    newId: () => string,
  ): { task: TaskView; created: boolean } {
    if (!req || typeof req !== 'object')
      throw new TaskInputError('body', 'send the task as a JSON object {kind, slave, id?, expiresInSeconds?}');
    const kind = req.kind;
    if (typeof kind !== 'string' || !TASK_KINDS.includes(kind as TaskKind))
      throw new TaskInputError('kind', `kind must be one of ${TASK_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    const target = req.slave ?? '*';
    if (typeof target !== 'string' || (target !== '*' && !SLAVE_NAME_PATTERN.test(target)))
      throw new TaskInputError(
        'slave',
        `slave must be a slave name or "*" for all slaves, got ${JSON.stringify(req.slave)}`,
      );
    if (target !== '*' && !knownSlaves.includes(target))
      throw new TaskInputError(
        'slave',
        `slave "${target}" is not known to this master (known: ${knownSlaves.join(', ') || 'none'}); a slave is known once it has contacted the master`,
      );
    if (req.id !== undefined && (typeof req.id !== 'string' || !TASK_ID_PATTERN.test(req.id)))
      throw new TaskInputError(
        'id',
        `id must match ${TASK_ID_PATTERN.source} (letters, digits, . _ : -), got ${JSON.stringify(req.id)}`,
      );
    const now = this.now();
    const expiresAt = this.expiry(req, now);
    const id = (req.id as string | undefined) ?? newId();
    const existing = this.tasks.get(id);
    if (existing) {
      if (existing.kind !== kind || existing.target !== target)
        throw new TaskInputError(
          'id',
          `task "${id}" already exists as ${existing.kind} for ${existing.target === '*' ? 'all slaves' : `slave ${existing.target}`}; use a new id for a new task`,
          409,
        );
      return { task: this.view(existing), created: false };
    }
    const names = target === '*' ? [...knownSlaves] : [target];
    if (names.length === 0)
      throw new TaskInputError('slave', 'no slave has contacted this master yet: there is nobody to give the task to');
    const task: StoredTask = {
      id,
      kind: kind as TaskKind,
      target,
      createdAt: now,
      expiresAt,
      createdBy,
      slaves: Object.fromEntries(names.map((n) => [n, { state: 'pending', updatedAt: now }])),
    };
    this.tasks.set(id, task);
    this.trim();
    this.changed();
    for (const w of this.waiters) if (names.includes(w.slave)) w.wake();
    return { task: this.view(task), created: true };
  }

  private expiry(req: TaskRequest, now: number): number {
    if (req.expiresAt !== undefined) {
      const t = typeof req.expiresAt === 'string' ? Date.parse(req.expiresAt) : NaN;
      if (!Number.isFinite(t))
        throw new TaskInputError('expiresAt', `expiresAt must be an ISO time, got ${JSON.stringify(req.expiresAt)}`);
      if (t <= now)
        throw new TaskInputError(
          'expiresAt',
          `expiresAt ${req.expiresAt} is already past (master time ${new Date(now).toISOString()})`,
        );
      if (t - now > MAX_TASK_TTL_SECONDS * 1000)
        throw new TaskInputError('expiresAt', `expiresAt may be at most ${MAX_TASK_TTL_SECONDS} s ahead`);
      return t;
    }
    const s = req.expiresInSeconds ?? DEFAULT_TASK_TTL_SECONDS;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > MAX_TASK_TTL_SECONDS)
      throw new TaskInputError(
        'expiresInSeconds',
        `expiresInSeconds must be a whole number from 1 to ${MAX_TASK_TTL_SECONDS}, got ${JSON.stringify(s)}`,
      );
    return now + s * 1000;
  }

  /** Open tasks for a slave, oldest first; each is marked delivered. */
  takeFor(slave: string): SlaveTask[] {
    this.expire();
    const out: SlaveTask[] = [];
    for (const t of this.tasks.values()) {
      const o = t.slaves[slave];
      if (!o || FINISHED.includes(o.state)) continue;
      if (o.state === 'pending') {
        o.state = 'delivered';
        o.updatedAt = o.deliveredAt = this.now();
        this.changed();
      }
      out.push({ id: t.id, kind: t.kind, expiresAt: new Date(t.expiresAt).toISOString() });
    }
    return out;
  }

  /** How many tasks are open for the slave (the long-poll's `x-safesquid-tasks`). */
  openCount(slave: string): number {
    this.expire();
    let n = 0;
    for (const t of this.tasks.values()) {
      const o = t.slaves[slave];
      if (o && !FINISHED.includes(o.state)) n++;
    }
    return n;
  }

  /** Whether a task waits that the slave has not fetched yet: the long-poll answers at once. */
  hasUndelivered(slave: string): boolean {
    this.expire();
    for (const t of this.tasks.values()) if (t.slaves[slave]?.state === 'pending') return true;
    return false;
  }

  /** Resolves when a task is queued for `slave`, after `ms`, or when `signal` aborts. */
  waitForTask(slave: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const w: Waiter = {
        slave,
        wake: () => {
          this.waiters.delete(w);
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(w.wake, ms);
      this.waiters.add(w);
      signal.addEventListener('abort', w.wake, { once: true });
    });
  }

  /**
   * Records a slave's result. A result for a task already finished is ignored (the slave
   * re-posts after a lost answer): the first word stands. Returns the task, or why not.
   */
  complete(slave: string, id: string, result: TaskResult): TaskView | 'unknown-task' | 'not-for-slave' {
    const t = this.tasks.get(id);
    if (!t) return 'unknown-task';
    const o = t.slaves[slave];
    if (!o) return 'not-for-slave';
    if (o.state === 'pending' || o.state === 'delivered' || (o.state === 'expired' && o.deliveredAt !== undefined)) {
      // A result arriving after the expiry still tells what the slave did: it is kept.
      o.state = result.status;
      o.updatedAt = this.now();
      o.detail = result.detail;
      if (result.data) o.data = result.data;
      this.changed();
    }
    return this.view(t);
  }

  get(id: string): TaskView | undefined {
    this.expire();
    const t = this.tasks.get(id);
    return t && this.view(t);
  }

  /** Newest first; `slave` keeps the tasks that name it. */
  list(slave?: string): TaskView[] {
    this.expire();
    return [...this.tasks.values()]
      .filter((t) => slave === undefined || t.slaves[slave] !== undefined)
      .sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id))
      .map((t) => this.view(t));
  }

  /** The last diagnostics a slave sent, if any. */
  lastDiagnostics(slave: string): { taskId: string; at: string; data: Record<string, unknown> } | undefined {
    let best: { t: StoredTask; o: TaskOutcome } | undefined;
    for (const t of this.tasks.values()) {
      const o = t.slaves[slave];
      if (t.kind === 'diagnostics' && o?.data && (!best || o.updatedAt > best.o.updatedAt)) best = { t, o };
    }
    return best && { taskId: best.t.id, at: new Date(best.o.updatedAt).toISOString(), data: best.o.data! };
  }

  snapshot(): StoredTask[] {
    return [...this.tasks.values()].map((t) => structuredClone(t));
  }

  /** Loads what an earlier run kept; entries that do not look like tasks are skipped. */
  restore(saved: unknown): void {
    if (!Array.isArray(saved)) return;
    for (const t of saved as Partial<StoredTask>[]) {
      if (
        t &&
        typeof t.id === 'string' &&
        TASK_KINDS.includes(t.kind as TaskKind) &&
        typeof t.target === 'string' &&
        typeof t.createdAt === 'number' &&
        typeof t.expiresAt === 'number' &&
        t.slaves &&
        typeof t.slaves === 'object' &&
        !this.tasks.has(t.id)
      )
        this.tasks.set(t.id, {
          ...(t as StoredTask),
          createdBy: typeof t.createdBy === 'string' ? t.createdBy : 'unknown',
        });
    }
    this.trim();
  }

  private expire(): void {
    const now = this.now();
    for (const t of this.tasks.values()) {
      if (t.expiresAt > now) continue;
      for (const o of Object.values(t.slaves)) {
        if (FINISHED.includes(o.state)) continue;
        o.detail =
          o.state === 'delivered'
            ? 'expired before the slave reported a result'
            : 'expired before the slave fetched it (offline or not polling)';
        o.state = 'expired';
        o.updatedAt = now;
        this.changed();
      }
    }
  }

  private trim(): void {
    if (this.tasks.size <= this.maxTasks) return;
    // Oldest finished tasks go first; open ones are kept while any finished one can go.
    const byAge = [...this.tasks.values()].sort((a, b) => a.createdAt - b.createdAt);
    for (const t of byAge) {
      if (this.tasks.size <= this.maxTasks) break;
      if (Object.values(t.slaves).every((o) => FINISHED.includes(o.state))) this.tasks.delete(t.id);
    }
    for (const t of byAge) {
      if (this.tasks.size <= this.maxTasks) break;
      this.tasks.delete(t.id);
    }
  }

  private view(t: StoredTask): TaskView {
    const iso = (ms: number) => new Date(ms).toISOString();
    const slaves = Object.entries(t.slaves)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, o]) => ({
        name,
        state: o.state,
        updatedAt: iso(o.updatedAt),
        ...(o.detail !== undefined ? { detail: o.detail } : {}),
        ...(o.data !== undefined ? { data: o.data } : {}),
      }));
    return {
      id: t.id,
      kind: t.kind,
      target: t.target,
      createdAt: iso(t.createdAt),
      expiresAt: iso(t.expiresAt),
      createdBy: t.createdBy,
      state: slaves.every((s) => FINISHED.includes(s.state)) ? 'done' : 'open',
      slaves,
    };
  }
}
