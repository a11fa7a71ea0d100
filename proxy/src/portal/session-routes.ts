import express, { Router } from 'express';
import type { Logger } from 'pino';
import { clientIp } from './access-control.js';
import type { AdminSessions } from './admin-sessions.js';
import { sendError } from './http-errors.js';

/** Admin login for the web UI. Failed logins are logged and slowed down. */
export function createSessionRoutes(o: { sessions: AdminSessions; logger: Logger; failureDelayMs?: number }): Router {
  const r = Router();
  const log = o.logger.child({ component: 'session' });
  const delay = o.failureDelayMs ?? 500;

  r.post('/session', express.json({ limit: 16 * 1024 }), async (req, res) => {
    const b = req.body as { username?: unknown; password?: unknown } | undefined;
    if (!b || typeof b.username !== 'string' || typeof b.password !== 'string') {
      return sendError(res, 400, 'send {"username": "...", "password": "..."} as JSON');
    }
    if (!(await o.sessions.verify(b.username, b.password))) {
      log.warn({ client: clientIp(req), username: b.username }, 'admin login failed');
      await new Promise((resolve) => setTimeout(resolve, delay));
      return sendError(res, 401, 'wrong username or password');
    }
    o.sessions.create(res, b.username);
    log.info({ client: clientIp(req), username: b.username }, 'admin logged in');
    res.json({ username: b.username });
  });

  r.get('/session', (req, res) => {
    if (req.principal?.kind !== 'admin') return sendError(res, 401, 'not logged in');
    res.json({ username: req.principal.username });
  });

  r.delete('/session', (req, res) => {
    o.sessions.destroy(req, res);
    res.status(204).end();
  });

  return r;
}
