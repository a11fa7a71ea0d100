import express, { Router } from 'express';
import type { Logger } from 'pino';
import { clientIp } from './access-control.js';
import type { AdminSessions } from './admin-sessions.js';
import { sendError } from '../net/error-body.js';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.js';

/**
 * Admin login for the web UI. Failed logins are logged and slowed down, and further attempts are
 * throttled per (address, user name) and across the portal (`login-throttle.ts`). Bearer tokens
 * never come here and are not throttled.
 */
export function createSessionRoutes(o: {
  sessions: AdminSessions;
  logger: Logger;
  failureDelayMs?: number;
  throttle?: LoginThrottleOptions;
}): Router {
  const r = Router();
  const log = o.logger.child({ component: 'session' });
  const delay = o.failureDelayMs ?? 500;
  const throttle = new LoginThrottle(o.throttle);

  r.post('/session', express.json({ limit: 16 * 1024 }), async (req, res) => {
    const b = req.body as { username?: unknown; password?: unknown } | undefined;
    if (!b || typeof b.username !== 'string' || typeof b.password !== 'string') {
      return sendError(res, 400, 'send {"username": "...", "password": "..."} as JSON');
    }
    const ip = clientIp(req);
    const verdict = throttle.check(ip, b.username);
    if (!verdict.ok) {
      log.warn(
        { client: ip, username: b.username, retryAfterS: verdict.retryAfterS },
        `admin login refused: ${verdict.reason}`,
      );
      res.setHeader('Retry-After', String(verdict.retryAfterS));
      return sendError(res, 429, `${verdict.reason}; try again in ${verdict.retryAfterS} s`);
    }
    if (!(await o.sessions.verify(b.username, b.password))) {
      throttle.failed(ip, b.username);
      log.warn({ client: ip, username: b.username }, 'admin login failed');
      await new Promise((resolve) => setTimeout(resolve, delay));
      return sendError(res, 401, 'wrong username or password');
    }
    throttle.succeeded(ip, b.username);
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
