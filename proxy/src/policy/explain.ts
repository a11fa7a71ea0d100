/**
 * Why a request gets the decision it gets: every rule up to the deciding one with the first
 * condition that failed (in words), report-mode matches, rules waiting for the response, and
 * what the access restriction says before any rule is consulted. For `policy explain` and the
 * portal; it walks every rule, so it is not for the request path.
 */
import type { PolicyEngine } from './compiled-policy.js';
import type { Decision, HeaderEdits, RequestContext } from './decision.js';
import { normalizeHost } from './hostname.js';
import type { Condition } from './rule-matcher.js';
import { DAYS } from './schema.js';
import { matchingPath } from './url-path.js';

export interface ExplainedRule {
  policySet: string;
  rule: string;
  action: string;
  mode: string;
  outcome: 'decides' | 'reported' | 'pending' | 'skipped';
  /** For `skipped`, the first failing condition. */
  condition?: Condition;
  detail: string;
}

export interface Explanation {
  hash: string;
  host: string;
  categories: string[];
  decision: Decision;
  /** The access restriction's say, which the slave applies before any rule. */
  admission: { clientAllowed: boolean; connectPortAllowed: boolean | undefined };
  rules: ExplainedRule[];
  /** What the header rules do to this request and its response. */
  headerEdits: { request?: HeaderEdits; response?: HeaderEdits };
}

const list = (values: readonly (string | number)[] | undefined) => `[${(values ?? []).join(', ')}]`;

function localTime(minuteOfDay: number, day: number): string {
  const hh = String(Math.floor(minuteOfDay / 60)).padStart(2, '0');
  const mm = String(minuteOfDay % 60).padStart(2, '0');
  return `${DAYS[day]} ${hh}:${mm}`;
}

export function explainRequest(engine: PolicyEngine, req: RequestContext, mimeType?: string): Explanation {
  const { decision, rules } = engine.trace(req, mimeType);
  const host = normalizeHost(req.host);
  const categories = engine.categoriesOf(req.host);
  const epochMs = req.time ? req.time.getTime() : Date.now();
  const user = req.user === undefined ? 'anonymous' : `user "${req.user}"`;

  const detail = (
    condition: Condition,
    spec: (typeof rules)[number]['rule']['spec'],
    match: (typeof rules)[number]['rule']['match'],
  ): string => {
    const m = spec.match ?? {};
    switch (condition) {
      case 'methods':
        return `method ${req.method.toUpperCase()} not in ${list(m.methods)}`;
      case 'ports':
        return `port ${req.port} not in ${list(m.ports)}`;
      case 'domains':
        return `host ${host} not in domains ${list(m.domains)}`;
      case 'categories':
        return `host ${host} is in ${categories.length ? list(categories) : 'no category'}; rule needs ${list(m.categories)}`;
      case 'users':
        return `${user} not in ${list(m.users)}`;
      case 'groups':
        return `${user}${req.groups?.length ? ` (groups ${list(req.groups)})` : ''} is in none of ${list(m.groups)}`;
      case 'sources':
        return `client ${req.clientIp} not in ${list(m.sources)}`;
      case 'time': {
        const window = match.time!;
        const now = window.clock.localTime(epochMs);
        return `time profile "${m.time}" (${window.describe()}) is not active at ${localTime(now.minute, now.day)} ${window.clock.zone}`;
      }
      case 'domainRegex':
        return `host ${host} does not match domainRegex ${JSON.stringify(m.domainRegex)}`;
      case 'urlRegex':
        return `path ${JSON.stringify(matchingPath(req.path))} does not match urlRegex ${JSON.stringify(m.urlRegex)}`;
      case 'requestHeaders': {
        const failed = (m.requestHeaders ?? []).find((h) => {
          const v = req.headers[h.name.toLowerCase()];
          return (
            v === undefined ||
            !match
              .requestHeaders!.find((c) => c.name === h.name.toLowerCase())!
              .regex.test(Array.isArray(v) ? v.join(', ') : v)
          );
        });
        if (!failed) return 'a request header does not match';
        const v = req.headers[failed.name.toLowerCase()];
        return v === undefined
          ? `header ${failed.name} is missing (needs ${JSON.stringify(failed.regex)})`
          : `header ${failed.name} ${JSON.stringify(Array.isArray(v) ? v.join(', ') : v)} does not match ${JSON.stringify(failed.regex)}`;
      }
      case 'responseMimeTypes':
        return `response type ${mimeType} not in ${list(m.responseMimeTypes)}`;
    }
  };

  const explained: ExplainedRule[] = rules.map(({ rule, outcome }) => {
    const base = { policySet: rule.policySet, rule: rule.name, action: rule.action, mode: rule.mode };
    if (outcome === 'matched' && rule.mode === 'report') {
      return {
        ...base,
        outcome: 'reported',
        detail: `matches in report mode: would ${rule.action}; evaluation continues`,
      };
    }
    if (outcome === 'matched') {
      const what = rule.action === 'redirect' ? `redirect to ${rule.redirectTo}` : rule.action;
      return {
        ...base,
        outcome: 'decides',
        detail: `every condition holds: ${what}${rule.message ? ` ("${rule.message}")` : ''}`,
      };
    }
    if (outcome === 'pending') {
      return {
        ...base,
        outcome: 'pending',
        detail: `request conditions hold; decided when the response arrives (responseMimeTypes ${list(rule.spec.match?.responseMimeTypes)}; try --mime)`,
      };
    }
    return { ...base, outcome: 'skipped', condition: outcome, detail: detail(outcome, rule.spec, rule.match) };
  });

  const restriction = engine.accessRestriction;
  return {
    hash: engine.hash,
    host,
    categories,
    decision,
    admission: {
      clientAllowed: restriction.isClientAllowed(req.clientIp),
      connectPortAllowed:
        req.method.toUpperCase() === 'CONNECT' ? restriction.connectPorts.includes(req.port) : undefined,
    },
    rules: explained,
    headerEdits: { request: engine.requestHeaderEdits(req), response: engine.responseHeaderEdits(req) },
  };
}
