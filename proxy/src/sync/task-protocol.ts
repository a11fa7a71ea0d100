/**
 * Tasks from the master to a slave: the wire contract both ends share. Tasks ride the slave's
 * own requests (no inbound port on slaves): the policy long-poll answers early, with
 * `x-safesquid-tasks: N`, when a task is queued; the slave then fetches its open tasks and posts
 * one result per task id.
 */

/** Open tasks for this slave (queued or fetched, not finished, not expired); on every poll answer. */
export const TASKS_HEADER = 'x-safesquid-tasks';

export type TaskKind = 'resync' | 'reload-users' | 'restart' | 'diagnostics';
export const TASK_KINDS: readonly TaskKind[] = ['resync', 'reload-users', 'restart', 'diagnostics'];

/** Task ids are chosen by the administrator (or generated) and are the idempotency key. */
export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Default and longest lifetime of a task that no slave has finished. */
export const DEFAULT_TASK_TTL_SECONDS = 15 * 60;
export const MAX_TASK_TTL_SECONDS = 7 * 24 * 3600;

/** What a slave receives from `GET /api/v1/slaves/:name/tasks`. */
export interface SlaveTask {
  id: string;
  kind: TaskKind;
  /** ISO time in the master's clock. */
  expiresAt: string;
}

export type TaskResultStatus = 'succeeded' | 'failed';

/** What a slave posts to `POST /api/v1/slaves/:name/tasks/:id/result`. */
export interface TaskResult {
  status: TaskResultStatus;
  /** One sentence for the portal: what was done or why not. */
  detail: string;
  /** Diagnostics: the collected report (a JSON object, at most 256 KiB). */
  data?: Record<string, unknown>;
}

export const MAX_TASK_RESULT_BYTES = 256 * 1024;
