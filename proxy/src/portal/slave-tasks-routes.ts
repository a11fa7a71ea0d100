/**
 * The task API. Administrators: `POST /tasks`, `GET /tasks[?slave=]`, `GET /tasks/:id`,
 * `GET /slaves/:name/diagnostics`. Slaves (cluster token): `GET /slaves/:name/tasks` (their open
 * tasks, marked delivered) and `POST /slaves/:name/tasks/:id/result`.
 */
import { randomBytes } from 'node:crypto';
import express, { Router } from 'express';
import type { Logger } from 'pino';
import { SLAVE_NAME_PATTERN } from '../sync/protocol.js';
import { MAX_TASK_RESULT_BYTES, type TaskResult } from '../sync/task-protocol.js';
import { clientIp } from './access-control.js';
import { sendError } from '../net/error-body.js';
import { slaveContact } from './policy-routes.js';
import type { SlaveRegistry } from './slave-registry.js';
import { TaskInputError, type TaskRequest } from './slave-tasks.js';

const newTaskId = () => `task-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

export function createSlaveTaskRoutes(o: {
  registry: SlaveRegistry;
  logger: Logger;
  guards: { admin: express.RequestHandler; slave: express.RequestHandler };
}): Router {
  const r = Router();
  const tasks = o.registry.tasks;
  const log = o.logger.child({ component: 'slave-tasks' });

  r.post('/tasks', o.guards.admin, express.json({ limit: 16 * 1024 }), (req, res) => {
    const by = req.principal?.kind === 'admin' ? req.principal.username : 'unknown';
    try {
      const { task, created } = tasks.create(req.body as TaskRequest, o.registry.names(), by, newTaskId);
      if (created)
        log.info({ task: task.id, kind: task.kind, target: task.target, by, expiresAt: task.expiresAt }, 'task queued');
      res.status(created ? 201 : 200).json(task);
    } catch (err) {
      if (!(err instanceof TaskInputError)) throw err;
      res.status(err.status).json({ error: err.message, field: err.field });
    }
  });

  r.get('/tasks', o.guards.admin, (req, res) => {
    const slave = typeof req.query.slave === 'string' ? req.query.slave : undefined;
    res.json(tasks.list(slave));
  });

  r.get('/tasks/:id', o.guards.admin, (req, res) => {
    const task = tasks.get(req.params.id as string);
    if (!task) return sendError(res, 404, `there is no task "${req.params.id}"`);
    res.json(task);
  });

  r.get('/slaves/:name/diagnostics', o.guards.admin, (req, res) => {
    const found = tasks.lastDiagnostics(req.params.name as string);
    if (!found)
      return sendError(
        res,
        404,
        `slave "${req.params.name}" has sent no diagnostics yet: queue a task {"kind": "diagnostics", "slave": "${req.params.name}"}`,
      );
    res.json(found);
  });

  r.get('/slaves/:name/tasks', o.guards.slave, (req, res) => {
    const name = req.params.name as string;
    if (!SLAVE_NAME_PATTERN.test(name)) return sendError(res, 400, `"${name}" is not a valid slave name`);
    const contact = slaveContact(req) ?? { name, address: clientIp(req) };
    o.registry.contact({ ...contact, name });
    res.setHeader('Cache-Control', 'no-store');
    res.json(tasks.takeFor(name));
  });

  r.post(
    '/slaves/:name/tasks/:id/result',
    o.guards.slave,
    express.json({ limit: MAX_TASK_RESULT_BYTES }),
    (req, res) => {
      const name = req.params.name as string;
      const id = req.params.id as string;
      const b = req.body as Partial<TaskResult> | undefined;
      if (!b || typeof b !== 'object')
        return sendError(res, 400, 'send the result as a JSON object {status, detail, data?}');
      if (b.status !== 'succeeded' && b.status !== 'failed')
        return sendError(res, 400, `status must be "succeeded" or "failed", got ${JSON.stringify(b.status)}`);
      if (typeof b.detail !== 'string' || b.detail.length > 4000)
        return sendError(res, 400, 'detail must be a string of at most 4000 characters');
      if (b.data !== undefined && (typeof b.data !== 'object' || b.data === null || Array.isArray(b.data)))
        return sendError(res, 400, 'data must be a JSON object when given');
      const outcome = tasks.complete(name, id, { status: b.status, detail: b.detail, data: b.data });
      if (outcome === 'unknown-task') return sendError(res, 404, `there is no task "${id}"`);
      if (outcome === 'not-for-slave') return sendError(res, 404, `task "${id}" is not for slave "${name}"`);
      const level = b.status === 'succeeded' ? 'info' : 'warn';
      log[level]({ task: id, kind: outcome.kind, slave: name, status: b.status, detail: b.detail }, 'task result');
      res.status(202).json({ ok: true });
    },
  );

  return r;
}
