/**
 * `safesquid policy validate FILE...` and `safesquid policy explain FILE... --url URL --client IP`.
 * All files given together form one bundle (a rule in one file may use a category from another),
 * as the operator and the master would combine them. Exit codes: 0 fine, 1 invalid policy or
 * unreadable file, 2 usage error.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  compilePolicy,
  compilePolicyBundle,
  explainRequest,
  formatIssue,
  normalizeIp,
  parsePolicyDocuments,
  PolicyValidationError,
  validatePolicySets,
  type PolicyIssue,
  type PolicySetSource,
  type Explanation,
  type RequestContext,
} from '../policy/index.js';
import { UsageError } from '../errors.js';

export const USAGE = `usage: safesquid policy validate FILE...
       safesquid policy explain FILE... --url URL --client IP [options]

validate   check PolicySet files (manifests, bare specs, Lists or compiled bundles) as one bundle
explain    show which rule decides a request, and why the rules before it did not

explain options:
  --url URL        https://host/path?q, http://host:8080/x, or host:port for a CONNECT tunnel
  --client IP      client address (IPv4 or IPv6)
  --user U         authenticated proxy user
  --group G        group the authenticator reports (repeatable)
  --method M       request method (default GET; CONNECT for host:port)
  --time ISO       evaluation time, e.g. 2026-11-23T09:30:00+05:30 (default now)
  --header 'N: V'  request header (repeatable)
  --mime TYPE      response Content-Type, to decide responseMimeTypes rules
  --json           machine-readable output
`;

export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: CommandIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

interface LoadedFiles {
  sets: PolicySetSource[];
  /** Per file: the PolicySets it holds, or the issues that kept it from being read. */
  files: { file: string; sets: PolicySetSource[]; issues: PolicyIssue[] }[];
}

async function loadFiles(files: string[]): Promise<LoadedFiles> {
  const loaded: LoadedFiles = { sets: [], files: [] };
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      loaded.files.push({ file, sets: [], issues: [{ policySet: file, path: '', message: `cannot read: ${reason}` }] });
      continue;
    }
    try {
      const sets = parsePolicyDocuments(text, file);
      loaded.sets.push(...sets);
      loaded.files.push({ file, sets, issues: [] });
    } catch (err) {
      if (!(err instanceof PolicyValidationError)) throw err;
      loaded.files.push({ file, sets: [], issues: err.issues });
    }
  }
  return loaded;
}

/** Prints every problem (`file: policySet: path: message`); true when there were none. */
function reportIssues(loaded: LoadedFiles, io: CommandIo): boolean {
  let ok = true;
  for (const f of loaded.files) {
    for (const issue of f.issues) {
      ok = false;
      // Read errors already name the file (and the document) as their "PolicySet".
      io.err(`${formatIssue(issue)}\n`);
    }
  }
  const fileOf = new Map<string, string>();
  for (const f of loaded.files) for (const s of f.sets) if (!fileOf.has(s.name)) fileOf.set(s.name, f.file);
  for (const issue of validatePolicySets(loaded.sets)) {
    ok = false;
    io.err(`${fileOf.get(issue.policySet) ?? '(bundle)'}: ${formatIssue(issue)}\n`);
  }
  return ok;
}

async function validate(files: string[], io: CommandIo): Promise<number> {
  if (files.length === 0) throw new UsageError('give at least one FILE');
  const flag = files.find((f) => f.startsWith('-'));
  if (flag) throw new UsageError(`unknown option "${flag}"`);
  const loaded = await loadFiles(files);
  if (!reportIssues(loaded, io)) return 1;
  const engine = compilePolicy(loaded.sets);
  for (const f of loaded.files) {
    const count = (pick: (s: PolicySetSource) => unknown[] | undefined) =>
      f.sets.reduce((n, s) => n + (pick(s)?.length ?? 0), 0);
    const names = f.sets.map((s) => s.name).join(', ');
    // A file's own hash is what the master would serve for it alone; a file that uses lists from
    // the others has none.
    const alone =
      loaded.files.length === 1 || validatePolicySets(f.sets).length === 0
        ? compilePolicyBundle(f.sets).hash
        : 'uses lists from the other files';
    io.out(
      `${f.file}: ok: ${f.sets.length} PolicySet${f.sets.length === 1 ? '' : 's'}${names ? ` (${names})` : ''}, ` +
        `${count((s) => s.spec.rules)} rules, ${count((s) => s.spec.headerRules)} header rules, ` +
        `${count((s) => s.spec.categories)} categories, ${alone}\n`,
    );
  }
  io.out(`bundle: ${engine.hash} (${engine.bundle.policySets.length} PolicySets, ${engine.rules.length} rules)\n`);
  const setters = engine.bundle.policySets.filter((s) => s.spec.accessRestriction !== undefined).map((s) => s.name);
  if (setters.length > 1) {
    io.out(
      `note: accessRestriction is set by ${setters.join(', ')}; only "${setters[0]}" (first by priority, then name) applies\n`,
    );
  }
  return 0;
}

/** `https://h/p`, `http://h:81/p` (GET) or `h:443`, `[::1]:443` (CONNECT). */
function parseTarget(text: string): Pick<RequestContext, 'host' | 'port' | 'path' | 'scheme'> & { connect: boolean } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError(`--url "${text}": not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new UsageError(`--url "${text}": only http and https URLs (or host:port for CONNECT)`);
    const scheme = url.protocol === 'https:' ? 'https' : 'http';
    // URL punycodes IDN hosts already; the engine normalises again, which is harmless.
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return {
      host,
      port: url.port ? Number(url.port) : scheme === 'https' ? 443 : 80,
      path: `${url.pathname}${url.search}`,
      scheme,
      connect: false,
    };
  }
  const m = /^(?:\[([^\]]+)\]|([^:/\s]+)):(\d{1,5})$/.exec(text);
  if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) {
    throw new UsageError(`--url "${text}": expected https://host/path, http://host/path or host:port (CONNECT)`);
  }
  return { host: m[1] ?? m[2], port: Number(m[3]), path: '', scheme: 'https', connect: true };
}

function buildRequest(values: Record<string, unknown>): { req: RequestContext; mime?: string } {
  const url = values.url as string | undefined;
  const client = values.client as string | undefined;
  if (!url) throw new UsageError('--url is required');
  if (!client) throw new UsageError('--client is required');
  if (normalizeIp(client) === undefined) throw new UsageError(`--client "${client}": not an IPv4 or IPv6 address`);
  const target = parseTarget(url);
  const method = ((values.method as string | undefined) ?? (target.connect ? 'CONNECT' : 'GET')).toUpperCase();
  if (!/^[A-Z]+$/.test(method))
    throw new UsageError(`--method "${values.method}": expected an HTTP method such as GET`);
  let time: Date | undefined;
  if (values.time !== undefined) {
    time = new Date(values.time as string);
    if (Number.isNaN(time.getTime()))
      throw new UsageError(`--time "${values.time}": expected an ISO 8601 time, e.g. 2026-11-23T09:30:00Z`);
  }
  const headers: Record<string, string | string[]> = {};
  for (const h of (values.header as string[] | undefined) ?? []) {
    const colon = h.indexOf(':');
    if (colon < 1) throw new UsageError(`--header "${h}": expected "Name: value"`);
    const name = h.slice(0, colon).trim().toLowerCase();
    const value = h.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  const req: RequestContext = {
    clientIp: client,
    method,
    host: target.host,
    port: target.port,
    path: method === 'CONNECT' ? '' : target.path,
    scheme: target.scheme,
    headers,
    ...(values.user !== undefined ? { user: values.user as string } : {}),
    ...(values.group !== undefined ? { groups: values.group as string[] } : {}),
    ...(time ? { time } : {}),
  };
  return { req, mime: values.mime as string | undefined };
}

function printExplanation(x: Explanation, req: RequestContext, io: CommandIo): void {
  const d = x.decision;
  const target =
    req.method === 'CONNECT' ? `${req.host}:${req.port}` : `${req.scheme}://${req.host}:${req.port}${req.path}`;
  const who = `${req.clientIp}${req.user ? ` user ${req.user}` : ''}${req.groups?.length ? ` groups ${req.groups.join(',')}` : ''}`;
  const lines = [
    `request:  ${req.method} ${target} from ${who} at ${(req.time ?? new Date()).toISOString()}`,
    `host:     ${x.host}${x.categories.length ? ` (categories: ${x.categories.join(', ')})` : ' (no category)'}`,
    `decision: ${d.action.toUpperCase()}${d.rule ? ` by rule "${d.rule}" of PolicySet "${d.policySet}"` : `: ${d.reason}`}`,
  ];
  if (d.message) lines.push(`message:  ${d.message}`);
  if (d.redirectTo) lines.push(`redirect: ${d.redirectTo}`);
  if (d.category) lines.push(`category: ${d.category}`);
  if (d.needsResponse)
    lines.push(
      'note:     a rule before the decision depends on the response MIME type; the slave re-decides when it arrives',
    );
  if (!x.admission.clientAllowed)
    lines.push(
      `note:     client ${req.clientIp} is not in accessRestriction.allowedClients: the slave refuses it before any rule`,
    );
  if (x.admission.connectPortAllowed === false)
    lines.push(
      `note:     CONNECT to port ${req.port} is not in accessRestriction.connectPorts: the slave refuses the tunnel`,
    );
  lines.push('rules:');
  if (x.rules.length === 0) lines.push('  (the policy has no rules)');
  const width = Math.min(48, Math.max(...x.rules.map((r) => r.policySet.length + r.rule.length + 1), 0));
  x.rules.forEach((r, i) => {
    const label = `${r.policySet}/${r.rule}`.padEnd(width);
    const tag = { decides: 'DECIDES ', reported: 'REPORTED', pending: 'PENDING ', skipped: 'no      ' }[r.outcome];
    lines.push(`  ${String(i + 1).padStart(3)}. ${label}  ${tag}  ${r.condition ? `${r.condition}: ` : ''}${r.detail}`);
  });
  for (const [which, edits] of Object.entries(x.headerEdits)) {
    if (!edits) continue;
    const parts = [
      ...Object.entries(edits.set).map(([k, v]) => `set ${k}: ${v}`),
      ...Object.entries(edits.add).map(([k, v]) => `add ${k}: ${v}`),
      ...edits.remove.map((k) => `remove ${k}`),
    ];
    lines.push(`headers:  ${which}: ${parts.length ? parts.join('; ') : '(no change)'}`);
  }
  lines.push(`policy:   ${x.hash}`);
  io.out(lines.join('\n') + '\n');
}

async function explain(argv: string[], io: CommandIo): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        client: { type: 'string' },
        user: { type: 'string' },
        group: { type: 'string', multiple: true },
        method: { type: 'string' },
        time: { type: 'string' },
        header: { type: 'string', multiple: true },
        mime: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const files = parsed.positionals;
  if (files.length === 0) throw new UsageError('give at least one FILE');
  const { req, mime } = buildRequest(parsed.values);
  const loaded = await loadFiles(files);
  if (!reportIssues(loaded, io)) return 1;
  const engine = compilePolicy(loaded.sets);
  const explanation = explainRequest(engine, req, mime);
  if (parsed.values.json) io.out(JSON.stringify(explanation, null, 2) + '\n');
  else printExplanation(explanation, req, io);
  return 0;
}

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      (sub ? io.out : io.err)(USAGE);
      return sub ? 0 : 2;
    }
    if ((sub === 'validate' || sub === 'explain') && rest.some((a) => a === '--help' || a === '-h')) {
      io.out(USAGE);
      return 0;
    }
    if (sub === 'validate') return await validate(rest, io);
    if (sub === 'explain') return await explain(rest, io);
    throw new UsageError(`unknown subcommand "${sub}" (expected validate or explain)`);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`safesquid policy${sub === 'validate' || sub === 'explain' ? ` ${sub}` : ''}: ${err.message}\n\n${USAGE}`);
    return 2;
  }
}
