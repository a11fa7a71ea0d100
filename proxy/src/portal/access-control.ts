import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { CidrSet, normalizeIp } from '../policy/cidr.js';
import type { AdminSessions } from './admin-sessions.js';
import { secretEquals } from './secret-equals.js';
import { LOG } from '../log-messages.js';

export type Principal = { kind: 'slave' } | { kind: 'admin'; username: string; via: 'token' | 'session' };

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    /** Who is calling: the peer, or behind a trusted reverse proxy the client it names. */
    clientAddress?: string;
  }
}

export interface AccessControlOptions {
  /** Client CIDRs allowed to call anything but the probes. */
  allow: CidrSet;
  /** Cluster token the slaves present (a function: it may be rotated while the master runs). */
  clusterToken: () => string;
  /** Optional token for automation acting as an administrator. */
  adminToken?: () => string;
  sessions: AdminSessions;
  logger: Logger;
  registry: Registry;
}

function peerAddress(req: Request): string {
  const raw = req.socket.remoteAddress ?? '';
  return normalizeIp(raw) ?? raw;
}

/** The calling client's address (see `resolveClientAddress`). */
export function clientIp(req: Request): string {
  return req.clientAddress ?? peerAddress(req);
}

/**
 * Behind a reverse proxy (an Ingress controller, a load balancer in HTTP mode) every request comes
 * from the proxy. When the peer is one of `trusted`, the client is the right-most address of
 * `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address it saw;
 * anything left of an untrusted hop is the client's own say and is not believed). A malformed
 * entry stops the walk at the last trusted hop. Without trusted proxies, or from any other peer,
 * the header is ignored.
 */
export function resolveClientAddress(
  peer: string,
  forwardedFor: string | string[] | undefined,
  trusted: CidrSet | undefined,
): string {
  if (!trusted || forwardedFor === undefined || !trusted.has(peer)) return peer;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i]);
    if (hop === undefined) return client;
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}

/** First middleware: settles `req.clientAddress` once for the allow list, logs and rate limits. */
export function clientAddressMiddleware(trusted: CidrSet | undefined) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    req.clientAddress = resolveClientAddress(peerAddress(req), req.headers['x-forwarded-for'], trusted);
    next();
  };
}

/**
 * The portal's access restriction: the client address must be in the allow list (403), then the
 * caller must prove who it is (401): slaves with the cluster token, administrators with the
 * admin token or a login session. Every refusal is logged with its reason and counted.
 */
export function createAccessControl(opts: AccessControlOptions) {
  const denied = new Counter({
    name: 'safesquid_portal_access_denied_total',
    help: 'Portal requests refused by the access restriction, by reason',
    labelNames: ['reason'] as const,
    registers: [opts.registry],
  });
  const log = opts.logger.child({ component: 'access' });

  function refuse(req: Request, res: Response, status: 401 | 403, reason: string, label: string): void {
    denied.inc({ reason: label });
    log.warn(
      { client: clientIp(req), method: req.method, path: req.originalUrl.split('?')[0], status, reason },
      LOG.portalRequestRefused,
    );
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="safesquid"');
    res.status(status).json({ error: reason });
  }

  function ipAllowList(req: Request, res: Response, next: NextFunction): void {
    const ip = clientIp(req);
    if (opts.allow.has(ip)) return next();
    refuse(req, res, 403, `client address ${ip} is not in the portal's allow list`, 'address');
  }

  /** Works out who is calling, if anyone; refuses a bearer token that matches nothing. */
  function identify(req: Request, res: Response, next: NextFunction): void {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) return refuse(req, res, 401, 'the Authorization header must be "Bearer <token>"', 'malformed');
      if (secretEquals(m[1], opts.clusterToken())) req.principal = { kind: 'slave' };
      else if (opts.adminToken && secretEquals(m[1], opts.adminToken()))
        req.principal = { kind: 'admin', username: 'admin-token', via: 'token' };
      else return refuse(req, res, 401, 'the bearer token is not valid for this cluster', 'token');
      return next();
    }
    const session = opts.sessions.fromRequest(req);
    if (session) req.principal = { kind: 'admin', username: session.username, via: 'session' };
    next();
  }

  function requireAdmin(req: Request, res: Response, next: NextFunction): void {
    const p = req.principal;
    if (p?.kind === 'admin') return next();
    if (p?.kind === 'slave')
      return refuse(req, res, 403, 'the cluster token does not grant administrator access', 'role');
    refuse(req, res, 401, 'log in or present an admin bearer token', 'unauthenticated');
  }

  /** Slave-facing calls: the cluster token; administrators may call them too (debugging). */
  function requireSlave(req: Request, res: Response, next: NextFunction): void {
    if (req.principal) return next();
    refuse(req, res, 401, 'present the cluster token as "Authorization: Bearer <token>"', 'unauthenticated');
  }

  return { ipAllowList, identify, requireAdmin, requireSlave };
}
