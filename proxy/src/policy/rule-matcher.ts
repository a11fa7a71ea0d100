/**
 * Compiled rule conditions and the per-request state they are checked against. A condition a
 * rule does not use costs nothing; regexes run only for rules that have them.
 */
import { CidrSet, parseIp, type ParsedIp } from './cidr.js';
import type { RequestContext } from './decision.js';
import { compileRegex, type SafeRegex } from './regex.js';
import type { RuleMatchSpec } from './schema.js';
import type { TimeWindow } from './time-profile.js';
import { matchingPath } from './url-path.js';

/** The condition names, in the order they are checked (cheap first); also what `explain` reports. */
export type Condition =
  | 'methods'
  | 'ports'
  | 'domains'
  | 'categories'
  | 'users'
  | 'groups'
  | 'sources'
  | 'time'
  | 'domainRegex'
  | 'urlRegex'
  | 'requestHeaders'
  | 'responseMimeTypes';

/** What checking one rule against one request gives. */
export const MATCHED = 0;
/** Every request-time condition holds, but the rule also needs the response's MIME type. */
export const PENDING_RESPONSE = 1;

export interface CompiledMatch {
  methods?: Set<string>;
  ports?: Set<number>;
  hasDomains: boolean;
  categoryIds?: number[];
  users?: Set<string>;
  groups?: string[];
  sources?: CidrSet;
  time?: TimeWindow;
  domainRegex?: SafeRegex;
  urlRegex?: SafeRegex;
  requestHeaders?: { name: string; regex: SafeRegex }[];
  mimeExact?: Set<string>;
  /** Top-level types of `type/*` patterns. */
  mimeAnySubtype?: Set<string>;
}

export interface MatchEnvironment {
  categoryIds: ReadonlyMap<string, number>;
  timeProfiles: ReadonlyMap<string, TimeWindow>;
}

export function compileMatch(match: Partial<RuleMatchSpec> | undefined, env: MatchEnvironment): CompiledMatch {
  const m = match ?? {};
  const compiled: CompiledMatch = { hasDomains: m.domains !== undefined };
  if (m.methods) compiled.methods = new Set(m.methods.map((x) => x.toUpperCase()));
  if (m.ports) compiled.ports = new Set(m.ports);
  if (m.categories)
    compiled.categoryIds = [...new Set(m.categories.map((c) => env.categoryIds.get(c)!))].sort((a, b) => a - b);
  if (m.users) compiled.users = new Set(m.users);
  if (m.groups) compiled.groups = [...m.groups];
  if (m.sources) compiled.sources = new CidrSet(m.sources);
  if (m.time) compiled.time = env.timeProfiles.get(m.time)!;
  if (m.domainRegex) compiled.domainRegex = compileRegex(m.domainRegex);
  if (m.urlRegex) compiled.urlRegex = compileRegex(m.urlRegex);
  if (m.requestHeaders)
    compiled.requestHeaders = m.requestHeaders.map((h) => ({
      name: h.name.toLowerCase(),
      regex: compileRegex(h.regex),
    }));
  if (m.responseMimeTypes) {
    compiled.mimeExact = new Set();
    compiled.mimeAnySubtype = new Set();
    for (const t of m.responseMimeTypes.map((x) => x.toLowerCase())) {
      if (t.endsWith('/*')) compiled.mimeAnySubtype.add(t.slice(0, -2));
      else compiled.mimeExact.add(t);
    }
  }
  return compiled;
}

/**
 * Everything about one request that rules look at, computed once and lazily. One instance per
 * engine is reset for every evaluation (evaluation is synchronous), so deciding allocates nothing here.
 */
export class RequestState {
  req!: RequestContext;
  /** Normalised destination host. */
  host = '';
  /** Ids of the categories the host belongs to, ascending (bundle order). */
  hostCategories: readonly number[] = [];
  /** Lower-case MIME type once the response is known. */
  mimeType: string | undefined;
  method = '';
  private epoch = -1;
  private matchPath: string | undefined;
  private client: ParsedIp | null | undefined;
  private lastClientText = '';
  private lastClient: ParsedIp | null = null;

  constructor(private readonly groupMembers: ReadonlyMap<string, ReadonlySet<string>>) {}

  reset(req: RequestContext, host: string, hostCategories: readonly number[], mimeType: string | undefined): this {
    this.req = req;
    this.host = host;
    this.hostCategories = hostCategories;
    this.mimeType = mimeType;
    const m = req.method;
    this.method = isUpper(m) ? m : m.toUpperCase();
    this.epoch = -1;
    this.matchPath = undefined;
    this.client = undefined;
    return this;
  }

  /** The path and query URL conditions see (`url-path.ts`: normalised, encoded slashes read as `/`). */
  urlPath(): string {
    if (this.matchPath === undefined) this.matchPath = matchingPath(this.req.path);
    return this.matchPath;
  }

  get epochMs(): number {
    if (this.epoch === -1) this.epoch = this.req.time ? this.req.time.getTime() : Date.now();
    return this.epoch;
  }

  clientIp(): ParsedIp | null {
    if (this.client === undefined) {
      // Clients repeat: keep the last one parsed (IPv6 parsing costs a few BigInt operations).
      const text = this.req.clientIp;
      if (text !== this.lastClientText) {
        this.lastClientText = text;
        this.lastClient = parseIp(text) ?? null;
      }
      this.client = this.lastClient;
    }
    return this.client;
  }

  inGroup(group: string): boolean {
    const user = this.req.user;
    if (user !== undefined && this.groupMembers.get(group)?.has(user)) return true;
    return this.req.groups !== undefined && this.req.groups.includes(group);
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }
}

function isUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) return false;
  }
  return true;
}

function hasAny(sorted: readonly number[], wanted: readonly number[]): boolean {
  for (const id of wanted) if (sorted.includes(id)) return true;
  return false;
}

/**
 * The first condition of `m` that fails for `s`, `MATCHED`, or `PENDING_RESPONSE`.
 * `domainHit` says whether the host matched the rule's `domains` (decided by the index).
 */
export function firstFailure(
  m: CompiledMatch,
  s: RequestState,
  domainHit: boolean,
): Condition | typeof MATCHED | typeof PENDING_RESPONSE {
  if (m.methods && !m.methods.has(s.method)) return 'methods';
  if (m.ports && !m.ports.has(s.req.port)) return 'ports';
  if (m.hasDomains && !domainHit) return 'domains';
  if (m.categoryIds && !hasAny(s.hostCategories, m.categoryIds)) return 'categories';
  if (m.users && (s.req.user === undefined || !m.users.has(s.req.user))) return 'users';
  if (m.groups && !m.groups.some((g) => s.inGroup(g))) return 'groups';
  if (m.sources) {
    const ip = s.clientIp();
    if (ip === null || !m.sources.hasParsed(ip)) return 'sources';
  }
  if (m.time && !m.time.isActive(s.epochMs)) return 'time';
  if (m.domainRegex && !m.domainRegex.test(s.host)) return 'domainRegex';
  if (m.urlRegex && !m.urlRegex.test(s.urlPath())) return 'urlRegex';
  if (m.requestHeaders) {
    for (const h of m.requestHeaders) {
      const value = s.header(h.name);
      if (value === undefined || !h.regex.test(value)) return 'requestHeaders';
    }
  }
  if (m.mimeExact) {
    const mime = s.mimeType;
    if (mime === undefined) return PENDING_RESPONSE;
    const slash = mime.indexOf('/');
    if (!m.mimeExact.has(mime) && !m.mimeAnySubtype!.has(slash === -1 ? mime : mime.slice(0, slash)))
      return 'responseMimeTypes';
  }
  return MATCHED;
}
