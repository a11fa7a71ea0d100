import express, { Router } from 'express';
import type { Logger } from 'pino';
import { SLAVE_NAME_PATTERN, SYNC_EVENT_KINDS, type SyncEvent } from '../sync/protocol.js';
import { clientIp } from './access-control.js';
import { sendError } from '../net/error-body.js';
import type { PolicyHub } from './policy-hub.js';
import { slaveContact } from './policy-routes.js';
import type { SlaveRegistry } from './slave-registry.js';
import { createSlaveTaskRoutes } from './slave-tasks-routes.js';

export function createSlaveRoutes(o: {
  hub: PolicyHub;
  registry: SlaveRegistry;
  logger: Logger;
  guards: { admin: express.RequestHandler; slave: express.RequestHandler };
}): Router {
  const r = Router();
  const log = o.logger.child({ component: 'sync-events' });
  r.use(createSlaveTaskRoutes({ registry: o.registry, logger: o.logger, guards: o.guards }));

  r.get('/slaves', o.guards.admin, (_req, res) => {
    res.json(o.registry.list(o.hub.current?.hash));
  });

  r.get('/slaves/:name', o.guards.admin, (req, res) => {
    const entry = o.registry.list(o.hub.current?.hash).find((s) => s.name === req.params.name);
    if (!entry) return sendError(res, 404, `no slave named "${req.params.name}" has contacted this master`);
    res.json(entry);
  });

  r.delete('/slaves/:name', o.guards.admin, (req, res) => {
    const name = req.params.name as string;
    const outcome = o.registry.forget(name);
    if (outcome === 'unknown') return sendError(res, 404, `no slave named "${name}" is known to this master`);
    if (outcome === 'online')
      return sendError(
        res,
        409,
        `slave "${name}" is online: it would re-register with its next request; stop it first`,
      );
    log.info({ slave: name }, 'slave forgotten by an administrator');
    res.status(204).end();
  });

  r.post('/slaves/:name/events', o.guards.slave, express.json({ limit: 64 * 1024 }), (req, res) => {
    const name = req.params.name as string;
    if (!SLAVE_NAME_PATTERN.test(name)) return sendError(res, 400, `"${name}" is not a valid slave name`);
    const b = req.body as Partial<SyncEvent> | undefined;
    if (!b || typeof b !== 'object') return sendError(res, 400, 'send the event as a JSON object {kind, detail, time}');
    if (!SYNC_EVENT_KINDS.includes(b.kind as SyncEvent['kind'])) {
      return sendError(res, 400, `kind must be one of ${SYNC_EVENT_KINDS.join(', ')}, got ${JSON.stringify(b.kind)}`);
    }
    if (typeof b.detail !== 'string' || b.detail.length > 4000)
      return sendError(res, 400, 'detail must be a string of at most 4000 characters');
    if (typeof b.time !== 'number' || !Number.isFinite(b.time))
      return sendError(res, 400, 'time must be epoch milliseconds');
    const contact = slaveContact(req) ?? { name, address: clientIp(req) };
    o.registry.contact({ ...contact, name });
    const event: SyncEvent = { kind: b.kind as SyncEvent['kind'], detail: b.detail, time: b.time };
    o.registry.addEvent(name, event);
    const level = event.kind === 'applied' || event.kind === 'recovered' ? 'info' : 'warn';
    log[level](
      { slave: name, kind: event.kind, detail: event.detail, at: new Date(event.time).toISOString() },
      'slave sync event',
    );
    res.status(202).json({ ok: true });
  });

  return r;
}
