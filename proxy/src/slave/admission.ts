/**
 * The checks every request and tunnel passes before anything is dialled, in order: a policy is
 * loaded, the client may use the proxy, proxy authentication, CONNECT port, the policy decision,
 * and the SSRF guard on the resolved address. The first failing check answers.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CompiledPolicy, Decision, RequestContext } from '../policy/decision.js';
import type { ProxyAuthenticator } from './auth/index.js';
import type { Exchange, RecordAction } from './exchange.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { Target } from './request-target.js';
import type { GuardVerdict, SsrfGuard } from './ssrf-guard.js';

export interface PolicySource {
  readonly current: CompiledPolicy | undefined;
}

export interface Refusal {
  ok: false;
  status: number;
  reason: string;
  action: RecordAction;
  rule?: string;
  policySet?: string;
  message?: string;
  /** For redirects. */
  location?: string;
  /** Extra response headers, raw (name, value, ...). */
  headers?: string[];
}

export interface Admitted {
  ok: true;
  policy: CompiledPolicy;
  ctx: RequestContext;
  decision: Decision;
  /** The checked address to dial. */
  address: string;
}

export interface AdmissionDeps {
  policy: PolicySource;
  authenticator?: ProxyAuthenticator;
  guard: SsrfGuard;
  metrics: ProxyMetrics;
}

export function refusal(status: number, reason: string, action: RecordAction = 'deny'): Refusal {
  return { ok: false, status, reason, action };
}

/** Report-mode decisions are recorded, never enforced. */
function enforced(d: Decision): boolean {
  return d.mode !== 'report';
}

function refusalFromDecision(d: Decision, target: Target, isTunnel: boolean): Refusal | undefined {
  if (!enforced(d) || d.action === 'allow') return undefined;
  const base = { rule: d.rule, policySet: d.policySet, message: d.message };
  if (d.action === 'redirect' && d.redirectTo && !isTunnel) {
    return { ok: false, status: 302, reason: d.reason, action: 'redirect', location: d.redirectTo, ...base };
  }
  // A tunnel cannot be redirected: browsers ignore a 302 to CONNECT, so it is refused instead.
  const reason =
    d.action === 'redirect'
      ? `${d.reason} (redirect to ${d.redirectTo} is not possible for ${target.display})`
      : d.reason;
  return { ok: false, status: 403, reason, action: d.action, ...base };
}

/**
 * Policy once the upstream answered: records the response's MIME type on the exchange and, when a
 * rule depends on it, re-decides. Returns the refusal to send instead of the response, if any.
 */
export function admitResponse(
  a: Admitted,
  ex: Exchange,
  target: Target,
  status: number,
  contentType: string | undefined,
): Refusal | undefined {
  let mimeType = '';
  if (contentType) {
    const semicolon = contentType.indexOf(';');
    mimeType = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  }
  ex.mimeType = mimeType;
  if (!a.decision.needsResponse) return undefined;
  const d = a.policy.evaluateResponse(a.ctx, a.decision, { status, mimeType });
  ex.rule = d.rule;
  ex.category = d.category;
  return refusalFromDecision(d, target, false);
}

export type Admission = Admitted | Refusal;

/** What policy judges; the request headers are read only when a rule asks (both header forms build them lazily). */
class AdmissionContext implements RequestContext {
  readonly clientIp: string;
  readonly user: string | undefined;
  readonly method: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly scheme: 'http' | 'https';

  constructor(
    ex: Exchange,
    target: Target,
    readonly groups: string[] | undefined,
    private readonly req: { readonly headers: IncomingHttpHeaders },
  ) {
    this.clientIp = ex.client;
    this.user = ex.user;
    this.method = ex.method;
    this.host = target.host;
    this.port = target.port;
    this.path = target.path;
    this.scheme = target.scheme;
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }
}

/** Synchronous unless authentication or DNS has to wait: most requests take no extra event-loop turn. */
export function admit(
  deps: AdmissionDeps,
  req: { readonly headers: IncomingHttpHeaders },
  target: Target,
  ex: Exchange,
  isTunnel: boolean,
): Admission | Promise<Admission> {
  const policy = deps.policy.current;
  if (!policy) return refusal(503, 'the proxy has no policy loaded yet; try again shortly');
  ex.policyHash = policy.hash;
  if (!policy.accessRestriction.isClientAllowed(ex.client)) {
    return refusal(403, `client address ${ex.client} is not allowed to use this proxy`);
  }
  const authenticator = deps.authenticator;
  if (!authenticator) return decide(deps, policy, req, target, ex, isTunnel, undefined);
  return authenticator.authenticate(req.headers['proxy-authorization']).then((auth) => {
    if (!auth.ok) {
      const r = refusal(407, `proxy authentication required: ${auth.reason}`);
      r.headers = ['Proxy-Authenticate', `Basic realm="${authenticator.realm.replace(/["\\]/g, '')}"`];
      return r;
    }
    ex.user = auth.user;
    return decide(deps, policy, req, target, ex, isTunnel, auth.groups);
  });
}

function decide(
  deps: AdmissionDeps,
  policy: CompiledPolicy,
  req: { readonly headers: IncomingHttpHeaders },
  target: Target,
  ex: Exchange,
  isTunnel: boolean,
  groups: string[] | undefined,
): Admission | Promise<Admission> {
  const restriction = policy.accessRestriction;
  if (isTunnel && !restriction.connectPorts.includes(target.port)) {
    return refusal(
      403,
      `CONNECT to port ${target.port} is not allowed (allowed ports: ${restriction.connectPorts.join(', ') || 'none'})`,
    );
  }
  const ctx = new AdmissionContext(ex, target, groups, req);
  const t0 = performance.now();
  const decision = policy.evaluateRequest(ctx);
  deps.metrics.decisionSeconds.observe((performance.now() - t0) / 1000);
  ex.rule = decision.rule;
  ex.category = decision.category;
  const refused = refusalFromDecision(decision, target, isTunnel);
  if (refused) return refused;
  const verdict = deps.guard.check(target.host, target.port, restriction);
  if (verdict instanceof Promise) return verdict.then((v) => admitted(v, ex, policy, ctx, decision));
  return admitted(verdict, ex, policy, ctx, decision);
}

/**
 * After the guard took a dial failure of `a.address` (`SsrfGuard.dialFailed`): checks the host
 * again and returns another of its addresses to try (every one passes the same SSRF checks), or undefined.
 */
export async function nextAddress(
  deps: AdmissionDeps,
  a: Admitted,
  target: Target,
  ex: Exchange,
): Promise<string | undefined> {
  const failed = a.address;
  const v = await deps.guard.check(target.host, target.port, a.policy.accessRestriction);
  if (!v.ok || v.address === failed) return undefined;
  a.address = v.address;
  ex.peer = v.address;
  return v.address;
}

function admitted(
  v: GuardVerdict,
  ex: Exchange,
  policy: CompiledPolicy,
  ctx: RequestContext,
  decision: Decision,
): Admission {
  if (!v.ok) {
    const r = refusal(v.status, v.reason, v.status === 403 ? 'deny' : 'allow');
    if (v.status === 403) r.rule = 'ssrf-guard';
    return r;
  }
  ex.peer = v.address;
  return { ok: true, policy, ctx, decision, address: v.address };
}
