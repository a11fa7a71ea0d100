import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { packageVersion } from '../sync/package-version.js';
import { clientAddressMiddleware, createAccessControl } from './access-control.js';
import type { AdminSessions } from './admin-sessions.js';
import { sendError } from '../net/error-body.js';
import { errorHandler } from './http-errors.js';
import type { PolicyCompiler } from './policy-compiler.js';
import type { PolicyHub } from './policy-hub.js';
import { createPolicyRoutes, slaveContact } from './policy-routes.js';
import type { PolicyStore } from './policy-store.js';
import type { LoginThrottleOptions } from './login-throttle.js';
import { createSessionRoutes } from './session-routes.js';
import type { SlaveRegistry } from './slave-registry.js';
import { createSlaveRoutes } from './slave-routes.js';
import { createSlaveStatsRoutes, SlaveStatsStore } from './slave-stats.js';
import type { StorePolicySource } from './store-policy-source.js';
import type { CidrSet } from '../policy/cidr.js';

export interface PortalAppOptions {
  hub: PolicyHub;
  compiler: PolicyCompiler;
  store: PolicyStore;
  editor?: StorePolicySource;
  readOnlyReason: string;
  slaves: SlaveRegistry;
  sessions: AdminSessions;
  allow: CidrSet;
  /** Reverse proxies whose X-Forwarded-For names the client (an Ingress controller). */
  trustProxy?: CidrSet;
  clusterToken: string | (() => string);
  adminToken?: string | (() => string);
  /** The reports router (proxy/src/reports), mounted at /api/v1/reports. */
  reports?: RequestHandler;
  /** `GET /api/v1/backup` (backup/master-backup.ts), for administrators. */
  backup?: RequestHandler;
  /** Live per-slave statistics and log lines (slave-stats.ts); default: a store of its own. */
  slaveStats?: SlaveStatsStore;
  /** Extra readiness check (e.g. the report store answers). */
  ready?: () => Promise<boolean> | boolean;
  logger: Logger;
  registry: Registry;
  /** Static web UI; defaults to the package's `ui/` folder. */
  uiDir?: string;
  startedAt?: Date;
  /** True once the master is stopping: new requests get 503 and connections are not kept alive. */
  shuttingDown?: () => boolean;
  /** Admin login throttling (tests shorten it). */
  loginThrottle?: LoginThrottleOptions;
}

const asGetter = (v: string | (() => string)) => (typeof v === 'string' ? () => v : v);

export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

/**
 * The Configuration Portal: `/api/v1` (policy, slave registry, sessions, reports), the web UI,
 * and the probes. Everything except `/healthz` and `/readyz` (kubelet probes come from node
 * addresses) is behind the client-address allow list; `/metrics` needs no token.
 */
export function createPortalApp(o: PortalAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const startedAt = o.startedAt ?? new Date();
  const access = createAccessControl({
    allow: o.allow,
    clusterToken: asGetter(o.clusterToken),
    adminToken: o.adminToken === undefined ? undefined : asGetter(o.adminToken),
    sessions: o.sessions,
    logger: o.logger,
    registry: o.registry,
  });
  const guards = { admin: access.requireAdmin, slave: access.requireSlave };
  registerPortalMetrics(o);
  const requests = new Counter({
    name: 'safesquid_portal_http_requests_total',
    help: 'Portal HTTP requests by method and status',
    labelNames: ['method', 'status'] as const,
    registers: [o.registry],
  });
  app.use(clientAddressMiddleware(o.trustProxy));
  app.use((req, res, next) => {
    res.on('finish', () => requests.inc({ method: req.method, status: String(res.statusCode) }));
    if (o.shuttingDown?.()) {
      // A keep-alive connection must not make a stopping master look alive to a slave.
      res.setHeader('Connection', 'close');
      return sendError(res, 503, 'the master is shutting down');
    }
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const reasons: string[] = [];
    if (!o.hub.current) reasons.push('no policy loaded');
    if (o.ready && !(await o.ready())) reasons.push('report store not ready');
    res
      .status(reasons.length ? 503 : 200)
      .json(reasons.length ? { status: 'not ready', reasons } : { status: 'ready', policyHash: o.hub.current?.hash });
  });

  app.use(access.ipAllowList);
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', o.registry.contentType);
    res.end(await o.registry.metrics());
  });

  const api = express.Router();
  api.use(access.identify);
  api.use(createSessionRoutes({ sessions: o.sessions, logger: o.logger, throttle: o.loginThrottle }));
  api.use(
    createPolicyRoutes({
      ...o,
      registry: o.slaves,
      metrics: o.registry,
      guards,
      shuttingDown: o.shuttingDown ?? (() => false),
    }),
  );
  const slaveStats = o.slaveStats ?? new SlaveStatsStore();
  // A slave the registry forgets (DELETE, 204) leaves the statistics too.
  api.delete('/slaves/:name', (req, res, next) => {
    res.on('finish', () => res.statusCode === 204 && slaveStats.forget(req.params.name as string));
    next();
  });
  api.use(createSlaveRoutes({ hub: o.hub, registry: o.slaves, logger: o.logger, guards }));
  api.use(createSlaveStatsRoutes({ stats: slaveStats, registry: o.slaves, logger: o.logger, guards }));
  api.get('/cluster', guards.admin, (_req, res) => {
    const current = o.hub.current;
    res.json({
      mode: o.editor ? 'standalone' : 'kubernetes',
      policy: current
        ? {
            hash: current.hash,
            source: current.source,
            updatedAt: current.updatedAt.toISOString(),
            editable: o.editor !== undefined,
          }
        : null,
      master: { version: packageVersion(), startedAt: startedAt.toISOString(), now: new Date().toISOString() },
      slaves: o.slaves.list(current?.hash),
    });
  });
  if (o.reports) {
    const reports = o.reports;
    api.use(
      '/reports',
      (req, res, next) =>
        req.method === 'POST' && req.path === '/batches' ? guards.slave(req, res, next) : guards.admin(req, res, next),
      (req, res, next) => {
        // The registry's lastReportAt: a batch the reports router acknowledged.
        if (req.method === 'POST' && req.path === '/batches') {
          const contact = slaveContact(req);
          if (contact)
            res.on(
              'finish',
              () => res.statusCode < 300 && o.slaves.reportReceived({ name: contact.name, address: contact.address }),
            );
        }
        next();
      },
      reports,
    );
  }
  if (o.backup) api.get('/backup', guards.admin, o.backup);
  api.use((req, res) => sendError(res, 404, `no such API endpoint: ${req.method} ${req.baseUrl}${req.path}`));
  app.use('/api/v1', api);

  const uiDir = o.uiDir ?? DEFAULT_UI_DIR;
  if (existsSync(uiDir)) app.use(express.static(uiDir, { index: 'index.html', maxAge: 0 }));
  app.use(errorHandler(o.logger));
  return app;
}

function registerPortalMetrics(o: PortalAppOptions): void {
  new Gauge({
    name: 'safesquid_portal_policy_info',
    help: 'The policy the master serves (value 1), labelled with its hash and source',
    labelNames: ['hash', 'source'] as const,
    registers: [o.registry],
    collect() {
      this.reset();
      const c = o.hub.current;
      if (c) this.set({ hash: c.hash, source: c.source }, 1);
    },
  });
  new Gauge({
    name: 'safesquid_portal_policy_longpolls',
    help: 'Slave long-polls currently held open',
    registers: [o.registry],
    collect() {
      this.set(o.hub.waiting);
    },
  });
  o.slaves.registerMetrics(o.registry, () => o.hub.current?.hash);
}
