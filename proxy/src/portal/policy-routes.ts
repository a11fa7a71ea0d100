import express, { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import {
  MAX_WAIT_SECONDS,
  POLICY_HASH_HEADER,
  SLAVE_HEADER,
  SLAVE_NAME_PATTERN,
  TIME_HEADER,
  VERSION_HEADER,
  unquoteEtag,
} from '../sync/protocol.js';
import { TASKS_HEADER } from '../sync/task-protocol.js';
import { clientIp } from './access-control.js';
import { diffOffLoop } from './diff-off-loop.js';
import { sendError } from '../net/error-body.js';
import { sendPolicyRejected } from './http-errors.js';
import { PolicyRejectedError, type PolicyCompiler } from './policy-compiler.js';
import type { PolicyHub } from './policy-hub.js';
import type { PolicyStore } from './policy-store.js';
import type { SlaveRegistry } from './slave-registry.js';
import { PORTAL_POLICY_ORIGIN, type StorePolicySource } from './store-policy-source.js';

export interface PolicyRoutesOptions {
  hub: PolicyHub;
  compiler: PolicyCompiler;
  /** Present in standalone mode, where the portal edits policy. */
  editor?: StorePolicySource;
  /** Why the policy is read-only, when it is (e.g. "policy is managed by Kubernetes (ConfigMap a/b)"). */
  readOnlyReason: string;
  store: PolicyStore;
  registry: SlaveRegistry;
  logger: Logger;
  metrics: Registry;
  shuttingDown: () => boolean;
  guards: { admin: express.RequestHandler; slave: express.RequestHandler };
}

const POLICY_BODY_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'application/json', 'text/plain'];
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;

/** Reads the slave's self-description from the sync headers (absent for admin callers). */
export function slaveContact(
  req: Request,
): { name: string; address: string; version?: string; policyHash?: string; slaveTime?: number } | undefined {
  const name = req.get(SLAVE_HEADER);
  if (!name || !SLAVE_NAME_PATTERN.test(name)) return undefined;
  const time = req.get(TIME_HEADER);
  return {
    name,
    address: clientIp(req),
    version: req.get(VERSION_HEADER),
    policyHash: req.get(POLICY_HASH_HEADER) ?? '',
    slaveTime: time !== undefined && /^\d+$/.test(time) ? Number(time) : undefined,
  };
}

export function createPolicyRoutes(o: PolicyRoutesOptions): Router {
  const r = Router();
  const polls = new Counter({
    name: 'safesquid_portal_policy_polls_total',
    help: 'Policy bundle requests answered, by outcome (changed: a bundle was sent; unchanged: 304)',
    labelNames: ['result'] as const,
    registers: [o.metrics],
  });
  const textBody = express.text({ type: POLICY_BODY_TYPES, limit: MAX_POLICY_BYTES });
  const readBody = (req: Request, res: Response): string | undefined => {
    if (typeof req.body !== 'string' || req.body.trim() === '') {
      sendError(
        res,
        400,
        `send the policy as the request body with Content-Type ${POLICY_BODY_TYPES.slice(0, 3).join(', ')} or text/plain`,
      );
      return undefined;
    }
    return req.body;
  };
  const author = (req: Request) => (req.principal?.kind === 'admin' ? req.principal.username : 'unknown');
  const comment = (req: Request) => {
    const c = req.get('x-safesquid-comment') ?? (typeof req.query.comment === 'string' ? req.query.comment : '');
    return c.slice(0, 500);
  };

  r.get('/policy/bundle', o.guards.slave, async (req, res) => {
    const current = o.hub.current;
    if (!current) return sendError(res, 503, 'the master has no policy loaded yet');
    const slave = slaveContact(req);
    const known = unquoteEtag(req.get('if-none-match'));
    const waitRaw = typeof req.query.wait === 'string' ? Number(req.query.wait) : 0;
    if (!Number.isFinite(waitRaw) || waitRaw < 0)
      return sendError(res, 400, `wait must be a number of seconds between 0 and ${MAX_WAIT_SECONDS}`);
    const waitMs = Math.min(MAX_WAIT_SECONDS, waitRaw) * 1000;
    const done = slave ? o.registry.pollStarted(slave) : undefined;
    let answer = current.hash === known ? undefined : current;
    // A task queued for this slave ends the poll early: the slave learns of it from TASKS_HEADER.
    const tasks = o.registry.tasks;
    if (!answer && waitMs > 0 && !(slave && tasks.hasUndelivered(slave.name))) {
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const policy = o.hub.waitForChange(known!, waitMs, gone.signal);
      if (slave) void tasks.waitForTask(slave.name, waitMs, gone.signal).then(() => gone.abort());
      answer = await policy;
      gone.abort();
    }
    done?.();
    if (res.writableEnded || res.destroyed) return;
    if (slave) res.setHeader(TASKS_HEADER, String(tasks.openCount(slave.name)));
    if (o.shuttingDown()) res.setHeader('Connection', 'close');
    res.setHeader('Cache-Control', 'no-cache');
    polls.inc({ result: answer ? 'changed' : 'unchanged' });
    if (!answer) {
      res.setHeader('ETag', `"${known}"`);
      res.status(304).end();
      return;
    }
    res.setHeader('ETag', `"${answer.hash}"`);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Vary', 'Accept-Encoding');
    if (answer.body.length > 1024 && /\bgzip\b/.test(req.get('accept-encoding') ?? '')) {
      res.setHeader('Content-Encoding', 'gzip');
      res.end(answer.gzipped());
    } else res.end(answer.body);
  });

  r.get('/policy', o.guards.admin, (_req, res) => {
    const current = o.hub.current;
    if (!current) return sendError(res, 503, 'the master has no policy loaded yet');
    const editable = o.editor !== undefined;
    const readOnlyReason = editable
      ? undefined
      : `the policy is managed outside the portal, in the ${current.origin ?? current.source}`;
    res.json({
      hash: current.hash,
      editable,
      readOnlyReason,
      source: current.source,
      text: current.text,
      bundle: current.bundle,
    });
  });

  r.post('/policy/validate', o.guards.admin, textBody, (req, res) => {
    const text = readBody(req, res);
    if (text === undefined) return;
    try {
      const compiled = o.compiler.compileText(text, PORTAL_POLICY_ORIGIN);
      res.json({ ok: true, hash: compiled.hash, summary: compiled.summary });
    } catch (err) {
      if (err instanceof PolicyRejectedError) return sendPolicyRejected(res, err);
      throw err;
    }
  });

  r.put('/policy', o.guards.admin, textBody, (req, res) => {
    if (!o.editor) return sendError(res, 409, o.readOnlyReason);
    const text = readBody(req, res);
    if (text === undefined) return;
    try {
      const v = o.editor.save(text, author(req), comment(req));
      res.status(201).json({ version: v.version, hash: v.hash });
    } catch (err) {
      if (err instanceof PolicyRejectedError) return sendPolicyRejected(res, err);
      throw err;
    }
  });

  r.get('/policy/versions', o.guards.admin, (_req, res) => {
    res.json(o.store.list());
  });

  const versionParam = (req: Request, res: Response, name = 'v'): number | undefined => {
    const raw = req.params[name];
    if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw)) {
      sendError(res, 400, `version must be a positive integer, got "${String(raw)}"`);
      return undefined;
    }
    return Number(raw);
  };

  r.get('/policy/versions/:v', o.guards.admin, (req, res) => {
    const v = versionParam(req, res);
    if (v === undefined) return;
    const found = o.store.get(v);
    if (!found) return sendError(res, 404, `there is no policy version ${v}`);
    res.json(found);
  });

  r.get('/policy/versions/:v/diff', o.guards.admin, async (req, res) => {
    const v = versionParam(req, res);
    if (v === undefined) return;
    const against = req.query.against === undefined ? String(v - 1) : String(req.query.against);
    if (!/^\d{1,9}$/.test(against)) return sendError(res, 400, `against must be a version number, got "${against}"`);
    const after = o.store.get(v);
    if (!after) return sendError(res, 404, `there is no policy version ${v}`);
    const before = Number(against) === 0 ? { text: '' } : o.store.get(Number(against));
    if (!before) return sendError(res, 404, `there is no policy version ${against} to compare with`);
    const diff = await diffOffLoop(before.text, after.text, { before: `version ${against}`, after: `version ${v}` });
    res.json({ version: v, against: Number(against), diff });
  });

  r.post('/policy/versions/:v/rollback', o.guards.admin, (req, res) => {
    if (!o.editor) return sendError(res, 409, o.readOnlyReason);
    const v = versionParam(req, res);
    if (v === undefined) return;
    try {
      const saved = o.editor.rollback(v, author(req));
      if (!saved) return sendError(res, 404, `there is no policy version ${v}`);
      res.status(201).json({ version: saved.version, hash: saved.hash });
    } catch (err) {
      // A version that compiled when saved may not under a newer engine.
      if (err instanceof PolicyRejectedError) return sendPolicyRejected(res, err);
      throw err;
    }
  });

  return r;
}
