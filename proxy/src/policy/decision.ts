/**
 * The contract between the policy engine and everything that asks it for a decision
 * (the slave's proxy, `policy explain`, the portal). The engine's implementation lives
 * beside this file; callers depend only on these shapes.
 */

export type Action = 'allow' | 'deny' | 'redirect';
export type Mode = 'enforce' | 'report';

/** What the proxy knows about a request (or CONNECT tunnel) before it is forwarded. */
export interface RequestContext {
  clientIp: string;
  /** Authenticated proxy user, if any. */
  user?: string;
  /** Groups from the authenticator (e.g. LDAP); merged with the policy's userGroups. */
  groups?: readonly string[];
  /** Upper-case method; `CONNECT` for tunnels. */
  method: string;
  /** Destination host as the client wrote it (the engine normalises case, trailing dot, IDN). */
  host: string;
  port: number;
  /**
   * Path and query (`/a/b?c`); empty for CONNECT. URL conditions match its normalised form
   * (`url-path.ts` `matchingPath`), so callers may pass it as the client wrote it.
   */
  path: string;
  scheme: 'http' | 'https';
  /** Lower-case header names, as node:http gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Evaluation time; defaults to now. */
  time?: Date;
}

/** What the proxy knows once the upstream answered, before the body is sent on. */
export interface ResponseContext {
  status: number;
  /** Content-Type without parameters, lower-case (`text/html`). */
  mimeType: string;
}

/** A report-mode rule that matched: what it would have done had it been enforced. */
export interface ReportedMatch {
  rule: string;
  policySet: string;
  action: Action;
}

export interface Decision {
  action: Action;
  mode: Mode;
  /** The rule that decided; undefined when the access restriction's default decided. */
  rule?: string;
  policySet?: string;
  /** First category of the policy that the destination host belongs to, if any. */
  category?: string;
  message?: string;
  redirectTo?: string;
  /** Report-mode rules that matched on the way to this decision (shared and frozen when empty: do not mutate). */
  reported: readonly ReportedMatch[];
  /** Why, in words a human reads in `policy explain` and on block pages. */
  reason: string;
  /** True when a rule that comes before the deciding one depends on the response (MIME type). */
  needsResponse: boolean;
}

export interface HeaderEdits {
  set: Record<string, string>;
  add: Record<string, string>;
  remove: string[];
}

/** The part of the policy that applies to the whole cluster rather than to a rule. */
export interface AccessRestrictionView {
  defaultAction: 'allow' | 'deny';
  /** `allowedClients`, or without them loopback and private ranges only (`LOCAL_CLIENTS`). */
  isClientAllowed(ip: string): boolean;
  /** The CIDRs `isClientAllowed` accepts, for logs and explanations. */
  readonly servedClients: readonly string[];
  /** True when the policy names no `allowedClients` and the local default applies. */
  readonly localClientsOnly: boolean;
  connectPorts: readonly number[];
  /** CONNECT ports whose tunnels carry plain HTTP: the proxy reads and judges each request inside. */
  httpTunnelPorts: readonly number[];
  /** Ranges the SSRF guard opens despite the built-in deny list. */
  isSsrfAllowed(ip: string): boolean;
}

/** A compiled, indexed policy bundle: immutable, safe to share across requests. */
export interface CompiledPolicy {
  /** Content hash of the bundle: its version everywhere (ETag, ConfigMap annotation, metrics). */
  readonly hash: string;
  readonly accessRestriction: AccessRestrictionView;
  evaluateRequest(req: RequestContext): Decision;
  /** Re-decides once the response is known; returns the request decision when nothing changes. */
  evaluateResponse(req: RequestContext, requestDecision: Decision, res: ResponseContext): Decision;
  requestHeaderEdits(req: RequestContext): HeaderEdits | undefined;
  responseHeaderEdits(req: RequestContext): HeaderEdits | undefined;
}
