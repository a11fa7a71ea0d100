/**
 * Everything that makes a set of PolicySets unusable, reported at once: schema mismatches
 * (unknown fields, wrong types), dangling references, duplicate names, bad CIDRs, regexes,
 * domains, time zones and clocks, and actions that lack what they need.
 *
 * Names of categories, user groups and time profiles are global to the bundle (a rule may use a
 * category another PolicySet defines; reports group by these names), so each may be defined once.
 */
import { parseCidr } from './cidr.js';
import { parseDomainPattern } from './hostname.js';
import type { PolicyIssue } from './issues.js';
import type { PolicySetSource } from './policy-set.js';
import { regexError } from './regex.js';
import { checkSchema, joinPath } from './schema-check.js';
import { policySetSpecSchema } from './schema.js';
import { parseClock, timeZoneError } from './time-profile.js';

const SET_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

type Kind = 'categories' | 'userGroups' | 'timeProfiles';
const KIND_WORD: Record<Kind, string> = {
  categories: 'category',
  userGroups: 'user group',
  timeProfiles: 'time profile',
};

export function validatePolicySets(sets: readonly PolicySetSource[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const defined: Record<Kind, Map<string, string>> = {
    categories: new Map(),
    userGroups: new Map(),
    timeProfiles: new Map(),
  };
  const setNames = new Set<string>();

  for (const set of sets) {
    const add = (path: string, message: string) => issues.push({ policySet: set.name || '(unnamed)', path, message });
    if (typeof set.name !== 'string' || !SET_NAME.test(set.name) || set.name.length > 253) {
      add(
        '',
        `PolicySet name ${JSON.stringify(set.name)} must be a DNS subdomain name (lower-case letters, digits, '-' and '.')`,
      );
    } else if (setNames.has(set.name)) {
      add('', `duplicate PolicySet name "${set.name}"${set.origin ? ` (in ${set.origin})` : ''}`);
    }
    setNames.add(set.name);
    for (const issue of checkSchema(policySetSpecSchema, set.spec)) add(issue.path, issue.message);
    if (!isObj(set.spec)) continue;
    for (const kind of ['categories', 'userGroups', 'timeProfiles'] as const) {
      list(set.spec[kind]).forEach((item, i) => {
        const name = isObj(item) ? str(item.name) : undefined;
        if (name === undefined) return;
        const owner = defined[kind].get(name);
        if (owner !== undefined) {
          add(
            joinPath(`${kind}[${i}]`, 'name'),
            `${KIND_WORD[kind]} "${name}" is already defined${owner === set.name ? '' : ` by PolicySet "${owner}"`} (names are unique across the bundle)`,
          );
        } else defined[kind].set(name, set.name);
      });
    }
  }

  for (const set of sets) {
    if (!isObj(set.spec)) continue;
    const add = (path: string, message: string) => issues.push({ policySet: set.name || '(unnamed)', path, message });
    checkSemantics(set.spec, defined, add);
  }
  return issues;
}

function checkSemantics(
  spec: Obj,
  defined: Record<Kind, Map<string, string>>,
  add: (path: string, message: string) => void,
): void {
  list(spec.categories).forEach((category, i) => {
    if (!isObj(category)) return;
    list(category.domains).forEach((d, j) => checkDomain(d, `categories[${i}].domains[${j}]`, add));
  });

  list(spec.timeProfiles).forEach((profile, i) => {
    if (!isObj(profile)) return;
    const path = `timeProfiles[${i}]`;
    const zone = str(profile.timeZone);
    const zoneProblem = zone && timeZoneError(zone);
    if (zoneProblem) add(`${path}.timeZone`, zoneProblem);
    const from = str(profile.from);
    const to = str(profile.to);
    const clock = /^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/;
    if (from === '24:00') add(`${path}.from`, '"24:00" is only valid as `to`');
    if (
      from !== undefined &&
      to !== undefined &&
      clock.test(from) &&
      clock.test(to) &&
      parseClock(from) === parseClock(to)
    ) {
      add(`${path}.to`, `window ${from}-${to} is empty; omit from and to for the whole day`);
    }
  });

  const checkRuleList = (key: 'rules' | 'headerRules') => {
    const seen = new Map<string, number>();
    list(spec[key]).forEach((rule, i) => {
      if (!isObj(rule)) return;
      const name = str(rule.name);
      const path = `${key}[${i}]`;
      const at = (field: string, message: string) =>
        add(`${path}.${field}`, name ? `${message} (rule "${name}")` : message);
      if (name !== undefined) {
        const first = seen.get(name);
        if (first !== undefined)
          at(
            'name',
            `duplicate ${key === 'rules' ? 'rule' : 'header rule'} name "${name}" (first used by ${key}[${first}])`,
          );
        else seen.set(name, i);
      }
      if (key === 'rules') {
        const action = rule.action;
        const redirectTo = str(rule.redirectTo);
        if (action === 'redirect' && redirectTo === undefined) at('redirectTo', 'required when action is redirect');
        if (action !== 'redirect' && redirectTo !== undefined && action !== undefined)
          at('redirectTo', `only valid with action redirect (action is ${String(action)})`);
        if (redirectTo !== undefined && !isHttpUrl(redirectTo))
          at('redirectTo', `${JSON.stringify(redirectTo)} is not an absolute http(s) URL`);
      } else if (!isObj(rule.request) && !isObj(rule.response)) {
        at('request', 'a header rule needs request or response edits');
      }
      if (isObj(rule.match)) checkMatch(rule.match, defined, (field, message) => at(`match.${field}`, message));
    });
  };
  checkRuleList('rules');
  checkRuleList('headerRules');

  const restriction = spec.accessRestriction;
  if (isObj(restriction)) {
    list(restriction.allowedClients).forEach((c, i) => checkCidr(c, `accessRestriction.allowedClients[${i}]`, add));
    if (isObj(restriction.ssrf)) {
      list(restriction.ssrf.allowRanges).forEach((c, i) =>
        checkCidr(c, `accessRestriction.ssrf.allowRanges[${i}]`, add),
      );
    }
  }
}

function checkMatch(
  match: Obj,
  defined: Record<Kind, Map<string, string>>,
  at: (field: string, message: string) => void,
): void {
  list(match.sources).forEach((c, i) => checkCidr(c, `sources[${i}]`, at));
  list(match.domains).forEach((d, i) => checkDomain(d, `domains[${i}]`, at));
  const refs = (field: string, kind: Kind) =>
    list(match[field]).forEach((ref, i) => {
      if (typeof ref === 'string' && !defined[kind].has(ref))
        at(`${field}[${i}]`, `unknown ${KIND_WORD[kind]} "${ref}"${known(defined[kind])}`);
    });
  refs('categories', 'categories');
  refs('groups', 'userGroups');
  const time = str(match.time);
  if (time !== undefined && !defined.timeProfiles.has(time))
    at('time', `unknown time profile "${time}"${known(defined.timeProfiles)}`);
  for (const field of ['domainRegex', 'urlRegex'] as const) {
    const source = str(match[field]);
    const problem = source && regexError(source);
    if (problem) at(field, problem);
  }
  list(match.requestHeaders).forEach((h, i) => {
    const source = isObj(h) ? str(h.regex) : undefined;
    const problem = source && regexError(source);
    if (problem) at(`requestHeaders[${i}].regex`, problem);
  });
}

function known(names: Map<string, string>): string {
  if (names.size === 0) return ' (none are defined)';
  const all = [...names.keys()];
  return ` (defined: ${all.slice(0, 10).join(', ')}${all.length > 10 ? ', …' : ''})`;
}

function checkCidr(value: unknown, path: string, add: (path: string, message: string) => void): void {
  if (typeof value !== 'string') return;
  try {
    parseCidr(value);
  } catch (err) {
    add(path, (err as Error).message);
  }
}

function checkDomain(value: unknown, path: string, add: (path: string, message: string) => void): void {
  if (typeof value !== 'string' || value === '') return;
  const parsed = parseDomainPattern(value);
  if ('error' in parsed) add(path, parsed.error);
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
