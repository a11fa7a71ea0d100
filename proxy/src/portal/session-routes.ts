import express, { Router } from 'express';
import type { Logger } from 'pino';
import { clientIp } from './access-control.js';
import type { AdminSessions } from './admin-sessions.js';
import { sendError } from './http-errors.js';

const MAX_FAILURES = 10;
const FAILURE_WINDOW_MS = 10 * 60_000;

/**
 * Admin login for the web UI. Failed logins are logged and slowed down, and an address with
 * too many recent failures is refused (429) until its window passes.
 */
export function createSessionRoutes(o: { sessions: AdminSessions; logger: Logger; failureDelayMs?: number }): Router {
  const r = Router();
  const log = o.logger.child({ component: 'session' });
  const delay = o.failureDelayMs ?? 500;
  const failures = new Map<string, { count: number; since: number }>();

  r.post('/session', express.json({ limit: 16 * 1024 }), async (req, res) => {
    const b = req.body as { username?: unknown; password?: unknown } | undefined;
    if (!b || typeof b.username !== 'string' || typeof b.password !== 'string') {
      return sendError(res, 400, 'send {"username": "...", "password": "..."} as JSON');
    }
    const ip = clientIp(req);
    const now = Date.now();
    let f = failures.get(ip);
    if (f && now - f.since > FAILURE_WINDOW_MS) {
      failures.delete(ip);
      f = undefined;
    }
    if (f && f.count >= MAX_FAILURES) {
      const retry = Math.ceil((f.since + FAILURE_WINDOW_MS - now) / 1000);
      log.warn({ client: ip, username: b.username }, 'admin login refused: too many failures');
      res.setHeader('Retry-After', String(retry));
      return sendError(res, 429, `too many failed logins from ${ip}; try again in ${retry} s`);
    }
    if (!(await o.sessions.verify(b.username, b.password))) {
      if (f) f.count++;
      else failures.set(ip, { count: 1, since: now });
      log.warn({ client: ip, username: b.username }, 'admin login failed');
      await new Promise((resolve) => setTimeout(resolve, delay));
      return sendError(res, 401, 'wrong username or password');
    }
    failures.delete(ip);
    o.sessions.create(res, b.username);
    log.info({ client: ip, username: b.username }, 'admin logged in');
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
