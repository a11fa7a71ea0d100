/**
 * `make docs-check`: the checks that keep docs/ (and README.md) true.
 * - relative links resolve to a file, and `#anchors` to a heading of it;
 * - every YAML/JSON block holding `kind: PolicySet` validates as one bundle (as `safesquid policy
 *   validate` would), every `kind: SafeSquidCluster` against the operator's schema;
 * - every `explain` block's claims (`explain-claims.ts`) hold for the PolicySets of the same section;
 * - every ```sh runnable block exits 0 (`runRunnable`, from the repository root).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { compilePolicy, formatIssue, parsePolicyDocuments, PolicyValidationError, validatePolicySets, type PolicySetSource } from '@safesquid/proxy/policy';
import { validateClusterSpec } from '../api/index.js';
import { checkClaim, ClaimError, parseClaims } from './explain-claims.js';
import { parseMarkdown, type CodeBlock, type MarkdownFile } from './markdown.js';

export interface DocIssue {
  file: string;
  line: number;
  message: string;
}

export const formatDocIssue = (i: DocIssue) => `${i.file}:${i.line}: ${i.message}`;

/** README.md and every Markdown file under docs/, relative to `repo`. */
export function docFiles(repo: string): string[] {
  const out = existsSync(join(repo, 'README.md')) ? ['README.md'] : [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(repo, dir)).sort()) {
      const path = join(dir, name);
      if (statSync(join(repo, path)).isDirectory()) walk(path);
      else if (name.endsWith('.md')) out.push(path);
    }
  };
  if (existsSync(join(repo, 'docs'))) walk('docs');
  return out;
}

export function checkLinks(repo: string, files: string[]): DocIssue[] {
  const parsed = new Map<string, MarkdownFile>();
  const load = (file: string) => {
    let md = parsed.get(file);
    if (!md) parsed.set(file, (md = parseMarkdown(readFileSync(join(repo, file), 'utf8'))));
    return md;
  };
  const issues: DocIssue[] = [];
  for (const file of files) {
    for (const link of load(file).links) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target) || link.target.startsWith('//')) continue; // http:, mailto:: not checked offline
      const [path, anchor] = link.target.split('#', 2);
      const targetFile = path ? relative(repo, resolve(join(repo, dirname(file)), decodeURIComponent(path))) : file;
      if (targetFile.startsWith('..')) {
        issues.push({ file, line: link.line, message: `link "${link.target}" leaves the repository` });
        continue;
      }
      if (!existsSync(join(repo, targetFile))) {
        issues.push({ file, line: link.line, message: `link "${link.target}": no such file ${targetFile}` });
        continue;
      }
      if (anchor && targetFile.endsWith('.md') && !load(targetFile).anchors.has(anchor)) {
        issues.push({ file, line: link.line, message: `link "${link.target}": ${targetFile} has no heading with anchor #${anchor}` });
      }
    }
  }
  return issues;
}

function documentsOf(block: CodeBlock): unknown[] {
  if (block.lang === 'json') {
    const value = JSON.parse(block.text) as unknown;
    return Array.isArray(value) ? value : [value];
  }
  return parseAllDocuments(block.text).flatMap((d) => {
    if (d.errors.length) throw new Error(d.errors[0].message);
    return [d.toJS() as unknown];
  });
}

const kindOf = (doc: unknown) => (doc && typeof doc === 'object' ? (doc as { kind?: unknown }).kind : undefined);

/** PolicySet, SafeSquidCluster and explain blocks of one file. */
export function checkBlocks(file: string, text: string): DocIssue[] {
  const issues: DocIssue[] = [];
  const setsBySection = new Map<string, PolicySetSource[]>();
  for (const block of parseMarkdown(text).blocks) {
    if (block.lang === 'yaml' || block.lang === 'yml' || block.lang === 'json') {
      let docs: unknown[];
      try {
        docs = documentsOf(block);
      } catch (err) {
        issues.push({ file, line: block.line, message: `${block.lang} block does not parse: ${(err as Error).message}` });
        continue;
      }
      const policyDocs = docs.filter((d) => kindOf(d) === 'PolicySet' || kindOf(d) === 'List');
      if (policyDocs.length) {
        try {
          // The block's own text when it holds PolicySets only (issues then carry its lines); else those documents alone.
          const source = block.lang !== 'json' && policyDocs.length === docs.length ? block.text : JSON.stringify({ apiVersion: 'v1', kind: 'List', items: policyDocs });
          const sets = parsePolicyDocuments(source, `${file}:${block.line}`);
          const problems = validatePolicySets(sets);
          for (const p of problems) issues.push({ file, line: block.line, message: `PolicySet: ${formatIssue(p)}` });
          if (!problems.length) setsBySection.set(block.section, [...(setsBySection.get(block.section) ?? []), ...sets]);
        } catch (err) {
          if (!(err instanceof PolicyValidationError)) throw err;
          for (const p of err.issues) issues.push({ file, line: block.line, message: `PolicySet: ${formatIssue(p)}` });
        }
      }
      for (const doc of docs) {
        if (kindOf(doc) !== 'SafeSquidCluster') continue;
        const spec = (doc as { spec?: unknown }).spec ?? {};
        for (const p of validateClusterSpec(spec)) issues.push({ file, line: block.line, message: `SafeSquidCluster: ${p.path}: ${p.message}` });
      }
    } else if (block.lang === 'explain') {
      const sets = setsBySection.get(block.section);
      if (!sets?.length) {
        issues.push({ file, line: block.line, message: `explain block without a valid PolicySet block before it in section "${block.section}"` });
        continue;
      }
      const engine = compilePolicy(sets);
      let claims;
      try {
        claims = parseClaims(block.text);
      } catch (err) {
        if (!(err instanceof ClaimError)) throw err;
        issues.push({ file, line: block.line, message: err.message });
        continue;
      }
      if (!claims.length) issues.push({ file, line: block.line, message: 'explain block claims nothing' });
      for (const claim of claims) {
        const wrong = checkClaim(engine, claim);
        if (wrong) issues.push({ file, line: block.line, message: `${claim.line}: ${wrong}` });
      }
    }
  }
  return issues;
}

/** Runs every ```sh runnable block with bash (errexit, pipefail) from `repo`; each gets `timeoutMs`. */
export function runRunnable(repo: string, file: string, text: string, timeoutMs = 60_000): DocIssue[] {
  const issues: DocIssue[] = [];
  for (const block of parseMarkdown(text).blocks) {
    if (!['sh', 'bash', 'shell'].includes(block.lang) || !block.flags.includes('runnable')) continue;
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', block.text], { cwd: repo, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
    if (r.status !== 0) {
      const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
      issues.push({ file, line: block.line, message: `runnable block failed (${why}):\n${(r.stdout + r.stderr).trim().split('\n').slice(-15).join('\n')}` });
    }
  }
  return issues;
}

export function checkDocs(repo: string, opts: { runnable: boolean }): DocIssue[] {
  const files = docFiles(repo);
  const issues = checkLinks(repo, files);
  for (const file of files) {
    const text = readFileSync(join(repo, file), 'utf8');
    issues.push(...checkBlocks(file, text));
    if (opts.runnable) issues.push(...runRunnable(repo, file, text));
  }
  return issues;
}
