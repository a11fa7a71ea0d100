/**
 * The cookbook's claimed outcomes: a fenced `explain` block of lines
 *
 *     URL CLIENT [user=U] [group=G,H] [time=ISO] [method=M] [header=Name:value] [mime=TYPE] -> OUTCOME
 *
 * where OUTCOME is `ACTION RULE` (the rule that decides), `ACTION default` (no rule matched),
 * `refused` (the slave turns the client or CONNECT port away before any rule), and may end with
 * `reported RULE[,RULE]` (report-mode rules that matched on the way) and `sets Name:value` (a request
 * header the header rules set; repeatable). URL is as for
 * `safesquid policy explain --url`: `https://host/path` or `host:port` for a CONNECT.
 * `#` starts a comment line.
 */
import { explainRequest, normalizeIp, type PolicyEngine, type RequestContext } from '@safesquid/proxy/policy';
import { ClaimError } from '../errors.js';
export { ClaimError };

export interface Claim {
  line: string;
  req: RequestContext;
  mime?: string;
  expect: { refused: true } | { refused: false; action: string; rule: string; reported: string[]; sets: Record<string, string> };
}

function target(url: string): Pick<RequestContext, 'host' | 'port' | 'path' | 'scheme' | 'method'> {
  if (/^https?:\/\//.test(url)) {
    const u = new URL(url);
    const scheme = u.protocol === 'https:' ? 'https' : 'http';
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return { host, port: u.port ? Number(u.port) : scheme === 'https' ? 443 : 80, path: `${u.pathname}${u.search}`, scheme, method: 'GET' };
  }
  const m = /^(?:\[([^\]]+)\]|([^:/\s]+)):(\d{1,5})$/.exec(url);
  if (!m) throw new ClaimError(`"${url}": expected https://host/path, http://host/path or host:port (CONNECT)`);
  return { host: m[1] ?? m[2], port: Number(m[3]), path: '', scheme: 'https', method: 'CONNECT' };
}

export function parseClaim(line: string): Claim {
  const [request, outcome] = line.split(/\s+->\s+/);
  if (outcome === undefined) throw new ClaimError(`"${line}": expected "URL CLIENT [key=value ...] -> ACTION RULE|default|refused"`);
  const [url, client, ...options] = request.trim().split(/\s+/);
  if (!url || !client) throw new ClaimError(`"${line}": give a URL and a client address`);
  if (normalizeIp(client) === undefined) throw new ClaimError(`"${line}": client "${client}" is not an IPv4 or IPv6 address`);
  const t = target(url);
  const req: RequestContext = { clientIp: client, ...t, headers: {} };
  let mime: string | undefined;
  const headers: Record<string, string> = {};
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = option.slice(0, eq);
    const value = option.slice(eq + 1);
    if (eq < 1 || !value) throw new ClaimError(`"${line}": option "${option}": expected key=value`);
    if (key === 'user') req.user = value;
    else if (key === 'group') req.groups = value.split(',');
    else if (key === 'method') req.method = value.toUpperCase();
    else if (key === 'mime') mime = value;
    else if (key === 'time') {
      req.time = new Date(value);
      if (Number.isNaN(req.time.getTime())) throw new ClaimError(`"${line}": time "${value}" is not ISO 8601 (2026-11-23T09:30:00+05:30)`);
    } else if (key === 'header') {
      const colon = value.indexOf(':');
      if (colon < 1) throw new ClaimError(`"${line}": header "${value}": expected Name:value`);
      headers[value.slice(0, colon).toLowerCase()] = value.slice(colon + 1);
    } else throw new ClaimError(`"${line}": unknown option "${key}" (user, group, time, method, header, mime)`);
  }
  req.headers = headers;
  if (req.method === 'CONNECT') req.path = '';
  const words = outcome.trim().split(/\s+/);
  if (words[0] === 'refused' && words.length === 1) return { line, req, mime, expect: { refused: true } };
  const [action, rule, ...rest] = words;
  if (!['allow', 'deny', 'redirect'].includes(action) || !rule) {
    throw new ClaimError(`"${line}": outcome "${outcome}": expected "allow|deny|redirect RULE", "ACTION default" or "refused"`);
  }
  let reported: string[] = [];
  const sets: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [word, value] = [rest[i], rest[i + 1]];
    const colon = value?.indexOf(':') ?? -1;
    if (word === 'reported' && value && !reported.length) reported = value.split(',');
    else if (word === 'sets' && colon > 0) sets[value.slice(0, colon).toLowerCase()] = value.slice(colon + 1);
    else throw new ClaimError(`"${line}": after the rule only "reported RULE[,RULE]" and "sets Name:value" may follow`);
  }
  return { line, req, mime, expect: { refused: false, action, rule, reported, sets } };
}

export function parseClaims(block: string): Claim[] {
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map(parseClaim);
}

/** What `policy explain` says about the claim; undefined when it agrees. */
export function checkClaim(engine: PolicyEngine, claim: Claim): string | undefined {
  const x = explainRequest(engine, claim.req, claim.mime);
  const refused = !x.admission.clientAllowed || x.admission.connectPortAllowed === false;
  const d = x.decision;
  const reported = d.reported.map((r) => r.rule);
  const actual = refused ? 'refused' : `${d.action} ${d.rule ?? 'default'}${reported.length ? ` reported ${reported.join(',')}` : ''}`;
  const e = claim.expect;
  const expected = e.refused ? 'refused' : `${e.action} ${e.rule}${e.reported.length ? ` reported ${e.reported.join(',')}` : ''}`;
  if (actual !== expected) return `claimed "${expected}", policy explain says "${actual}"${refused ? '' : ` (${d.reason})`}`;
  if (e.refused) return undefined;
  const set = x.headerEdits.request?.set ?? {};
  for (const [name, value] of Object.entries(e.sets)) {
    if (set[name] !== value) return `claimed the request header ${name}: ${value}, policy explain sets ${set[name] === undefined ? 'no such header' : `${name}: ${set[name]}`}`;
  }
  return undefined;
}
