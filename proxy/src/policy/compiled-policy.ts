/**
 * A bundle turned into indexes and compiled conditions, and the evaluation of requests and
 * responses against it. Immutable once built; evaluation is synchronous (it reuses scratch
 * buffers between calls, which is safe on Node's single thread).
 */
import { CidrSet } from './cidr.js';
import type {
  AccessRestrictionView,
  Action,
  CompiledPolicy,
  Decision,
  HeaderEdits,
  Mode,
  ReportedMatch,
  RequestContext,
  ResponseContext,
} from './decision.js';
import { DomainIndex } from './domain-index.js';
import { normalizeHost, parseDomainPattern, type DomainPattern } from './hostname.js';
import { LOCAL_CLIENTS, type PolicyBundle, type ResolvedAccessRestriction } from './bundle.js';
import {
  compileMatch,
  firstFailure,
  MATCHED,
  PENDING_RESPONSE,
  RequestState,
  type CompiledMatch,
  type Condition,
} from './rule-matcher.js';
import { RuleIndex, type HostMatches } from './rule-index.js';
import type { HeaderEditSpec, RuleSpec } from './schema.js';
import { TimeWindow, ZoneClock } from './time-profile.js';

export interface CompiledRule {
  /** Position in bundle order (all PolicySets' rules concatenated). */
  index: number;
  name: string;
  policySet: string;
  action: Action;
  mode: Mode;
  message?: string;
  redirectTo?: string;
  match: CompiledMatch;
  /** The rule as written, for `explain`. */
  spec: RuleSpec;
  /** `Decision.reason` when it decides (built once, not per request). */
  reason: string;
}

export interface CompiledHeaderRule {
  name: string;
  policySet: string;
  match: CompiledMatch;
  request?: HeaderEditSpec;
  response?: HeaderEditSpec;
}

/** One rule's outcome for `explain`. */
export interface RuleTrace {
  rule: CompiledRule;
  /** `matched`: decided (or, in report mode, recorded); `pending`: needs the response; else the first failing condition. */
  outcome: 'matched' | 'pending' | Condition;
}

class AccessRestriction implements AccessRestrictionView {
  readonly defaultAction: 'allow' | 'deny';
  readonly connectPorts: readonly number[];
  readonly httpTunnelPorts: readonly number[];
  readonly servedClients: readonly string[];
  readonly localClientsOnly: boolean;
  private readonly clients: CidrSet;
  private readonly ssrfAllowed: CidrSet;

  constructor(readonly resolved: ResolvedAccessRestriction) {
    this.defaultAction = resolved.defaultAction;
    this.connectPorts = [...resolved.connectPorts];
    this.httpTunnelPorts = [...(resolved.httpTunnelPorts ?? [80])];
    this.localClientsOnly = resolved.allowedClients.length === 0;
    this.servedClients = this.localClientsOnly ? LOCAL_CLIENTS : [...resolved.allowedClients];
    this.clients = new CidrSet(this.servedClients);
    this.ssrfAllowed = new CidrSet(resolved.ssrf.allowRanges);
  }

  isClientAllowed(ip: string): boolean {
    return this.clients.has(ip);
  }

  isSsrfAllowed(ip: string): boolean {
    return this.ssrfAllowed.has(ip);
  }
}

/** Shared by every decision without report-mode matches (most of them); frozen so no caller can fill it. */
const NONE_REPORTED: readonly ReportedMatch[] = Object.freeze([]);

const NO_CATEGORIES: number[] = Object.freeze([]) as unknown as number[];

const CATEGORIES = 0;
const RULES = 1;
const HEADER_RULES = 2;

interface HostInfo extends HostMatches {
  raw: string;
}

export class PolicyEngine implements CompiledPolicy {
  readonly hash: string;
  readonly accessRestriction: AccessRestriction;
  readonly rules: readonly CompiledRule[];
  readonly headerRules: readonly CompiledHeaderRule[];
  /** Category names in bundle order; a category's id is its position here. */
  readonly categories: readonly string[];
  private readonly domainIndex = new DomainIndex(3);
  private readonly ruleIndex: RuleIndex;
  private readonly headerRuleIndex: RuleIndex;
  private readonly groupMembers = new Map<string, Set<string>>();
  /** The last host looked up; a request asks several times (decision, header edits), so the answer is kept. */
  private readonly lastHost: HostInfo = { raw: '\0', host: '', matchCount: 0, categories: NO_CATEGORIES };
  private readonly state = new RequestState(this.groupMembers);
  private readonly defaultReason: string;

  /** Expects a bundle that passed validation (`loadCompiledPolicy` / `compilePolicy` see to that). */
  constructor(readonly bundle: PolicyBundle) {
    this.hash = bundle.hash;
    this.accessRestriction = new AccessRestriction(bundle.accessRestriction);
    this.defaultReason = `no rule matched; default action ${bundle.accessRestriction.defaultAction}`;

    const categoryIds = new Map<string, number>();
    const clocks = new Map<string, ZoneClock>();
    const timeProfiles = new Map<string, TimeWindow>();
    for (const set of bundle.policySets) {
      for (const category of set.spec.categories ?? []) {
        const id = categoryIds.size;
        categoryIds.set(category.name, id);
        for (const d of category.domains) this.domainIndex.add(CATEGORIES, parseDomainPattern(d) as DomainPattern, id);
      }
      for (const group of set.spec.userGroups ?? []) this.groupMembers.set(group.name, new Set(group.users ?? []));
      for (const p of set.spec.timeProfiles ?? []) {
        const zone = p.timeZone ?? 'UTC';
        let clock = clocks.get(zone);
        if (!clock) clocks.set(zone, (clock = new ZoneClock(zone)));
        timeProfiles.set(p.name, new TimeWindow(p.name, clock, p.days, p.from, p.to));
      }
    }
    this.categories = [...categoryIds.keys()];
    const env = { categoryIds, timeProfiles };

    const rules: CompiledRule[] = [];
    const headerRules: CompiledHeaderRule[] = [];
    for (const set of bundle.policySets) {
      for (const r of set.spec.rules ?? []) {
        rules.push({
          index: rules.length,
          name: r.name,
          policySet: set.name,
          action: r.action,
          mode: r.mode ?? 'enforce',
          ...(r.message !== undefined ? { message: r.message } : {}),
          ...(r.redirectTo !== undefined ? { redirectTo: r.redirectTo } : {}),
          match: compileMatch(r.match, env),
          spec: r,
          reason: `rule "${r.name}" of PolicySet "${set.name}" matched`,
        });
        for (const d of r.match?.domains ?? [])
          this.domainIndex.add(RULES, parseDomainPattern(d) as DomainPattern, rules.length - 1);
      }
      for (const h of set.spec.headerRules ?? []) {
        headerRules.push({
          name: h.name,
          policySet: set.name,
          match: compileMatch(h.match, env),
          request: h.request,
          response: h.response,
        });
        for (const d of h.match?.domains ?? [])
          this.domainIndex.add(HEADER_RULES, parseDomainPattern(d) as DomainPattern, headerRules.length - 1);
      }
    }
    this.rules = rules;
    this.headerRules = headerRules;
    this.domainIndex.freeze();
    this.ruleIndex = new RuleIndex(
      this.domainIndex,
      RULES,
      rules.map((r) => r.match),
      this.categories.length,
    );
    this.headerRuleIndex = new RuleIndex(
      this.domainIndex,
      HEADER_RULES,
      headerRules.map((r) => r.match),
      this.categories.length,
    );
  }

  /** Normalised host and its categories; the last answer is kept since a request asks several times. */
  hostInfo(raw: string): HostInfo {
    const info = this.lastHost;
    if (raw === info.raw) return info;
    const host = normalizeHost(raw);
    const index = this.domainIndex;
    const count = index.match(host);
    let categories = NO_CATEGORIES;
    for (let i = 0; i < count; i++) {
      const m = index.matches[i];
      const ids = index.idCount(CATEGORIES, m);
      for (let k = 0; k < ids; k++) {
        const id = index.idAt(CATEGORIES, m, k);
        if (categories === NO_CATEGORIES) categories = [id];
        else if (!categories.includes(id)) categories.push(id);
      }
    }
    if (categories.length > 1) categories.sort((a, b) => a - b);
    info.matchCount = count;
    info.categories = categories;
    info.raw = raw;
    info.host = host;
    return info;
  }

  /** Category names of a host, in bundle order. */
  categoriesOf(host: string): string[] {
    return this.hostInfo(host).categories.map((id) => this.categories[id]);
  }

  evaluateRequest(req: RequestContext): Decision {
    return this.evaluate(req, undefined);
  }

  evaluateResponse(req: RequestContext, requestDecision: Decision, res: ResponseContext): Decision {
    if (!requestDecision.needsResponse) return requestDecision;
    return this.evaluate(req, normalizeMime(res.mimeType));
  }

  requestHeaderEdits(req: RequestContext): HeaderEdits | undefined {
    return this.headerEdits(req, 'request');
  }

  responseHeaderEdits(req: RequestContext): HeaderEdits | undefined {
    return this.headerEdits(req, 'response');
  }

  /** Every rule up to the deciding one with its outcome, for `policy explain` (scans all rules; not for the hot path). */
  trace(req: RequestContext, mimeType?: string): { decision: Decision; rules: RuleTrace[] } {
    const decision = this.evaluate(req, mimeType === undefined ? undefined : normalizeMime(mimeType));
    const info = this.hostInfo(req.host);
    const state = this.state.reset(req, info.host, info.categories, mimeType && normalizeMime(mimeType));
    this.ruleIndex.candidates(info);
    const rules: RuleTrace[] = [];
    for (const rule of this.rules) {
      const r = firstFailure(rule.match, state, this.ruleIndex.domainHit(rule.index));
      rules.push({ rule, outcome: r === MATCHED ? 'matched' : r === PENDING_RESPONSE ? 'pending' : r });
      if (r === MATCHED && rule.mode === 'enforce') break;
    }
    return { decision, rules };
  }

  private evaluate(req: RequestContext, mimeType: string | undefined): Decision {
    const info = this.hostInfo(req.host);
    const state = this.state.reset(req, info.host, info.categories, mimeType);
    const index = this.ruleIndex;
    const n = index.candidates(info);
    const specific = index.ids;
    const always = index.always;
    const category = info.categories.length ? this.categories[info.categories[0]] : undefined;
    let reported: ReportedMatch[] | undefined;
    let needsResponse = false;
    let i = 0;
    let j = 0;
    while (i < n || j < always.length) {
      const id = j >= always.length || (i < n && specific[i] < always[j]) ? specific[i++] : always[j++];
      const rule = this.rules[id];
      const result = firstFailure(rule.match, state, index.domainHit(id));
      if (result === PENDING_RESPONSE) {
        needsResponse = true;
        continue;
      }
      if (result !== MATCHED) continue;
      if (rule.mode === 'report') {
        (reported ??= []).push({ rule: rule.name, policySet: rule.policySet, action: rule.action });
        continue;
      }
      return {
        action: rule.action,
        mode: 'enforce',
        rule: rule.name,
        policySet: rule.policySet,
        category,
        message: rule.message,
        redirectTo: rule.redirectTo,
        reported: reported ?? NONE_REPORTED,
        reason: rule.reason,
        needsResponse,
      };
    }
    const action = this.accessRestriction.defaultAction;
    // Same keys in the same order as a rule's decision: one object shape for V8 and for callers.
    return {
      action,
      mode: 'enforce',
      rule: undefined,
      policySet: undefined,
      category,
      message: undefined,
      redirectTo: undefined,
      reported: reported ?? NONE_REPORTED,
      reason: this.defaultReason,
      needsResponse,
    };
  }

  private headerEdits(req: RequestContext, which: 'request' | 'response'): HeaderEdits | undefined {
    if (this.headerRules.length === 0) return undefined;
    const info = this.hostInfo(req.host);
    const state = this.state.reset(req, info.host, info.categories, undefined);
    const index = this.headerRuleIndex;
    const n = index.candidates(info);
    const specific = index.ids;
    const always = index.always;
    let edits: HeaderEdits | undefined;
    let i = 0;
    let j = 0;
    while (i < n || j < always.length) {
      const id = j >= always.length || (i < n && specific[i] < always[j]) ? specific[i++] : always[j++];
      const rule = this.headerRules[id];
      const edit = rule[which];
      if (!edit || firstFailure(rule.match, state, index.domainHit(id)) !== MATCHED) continue;
      edits ??= { set: {}, add: {}, remove: [] };
      applyEdit(edits, edit);
    }
    return edits;
  }
}

/** Later header rules override earlier ones for the same header name (names lower-cased). */
function applyEdit(edits: HeaderEdits, edit: HeaderEditSpec): void {
  for (const name of edit.remove ?? []) {
    const n = name.toLowerCase();
    delete edits.set[n];
    delete edits.add[n];
    if (!edits.remove.includes(n)) edits.remove.push(n);
  }
  for (const [name, value] of Object.entries(edit.set ?? {})) {
    const n = name.toLowerCase();
    edits.set[n] = value;
    delete edits.add[n];
    edits.remove = edits.remove.filter((r) => r !== n);
  }
  for (const [name, value] of Object.entries(edit.add ?? {})) edits.add[name.toLowerCase()] = value;
}

function normalizeMime(mime: string): string {
  const semi = mime.indexOf(';');
  return (semi === -1 ? mime : mime.slice(0, semi)).trim().toLowerCase();
}
