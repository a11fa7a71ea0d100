/**
 * Reads policy files: YAML or JSON, one or several documents, each a `PolicySet` manifest, a
 * bare PolicySet `spec`, a `List` of PolicySets (as `kubectl get -o yaml` prints) or a compiled
 * `PolicyBundle` (whose hash is checked). Shapes are not validated here: `validatePolicySets`
 * reports every problem at once.
 */
import { basename, extname } from 'node:path';
import { isCollection, LineCounter, parseAllDocuments } from 'yaml';
import { BUNDLE_API_VERSION, verifyPolicyBundle } from './bundle.js';
import { PolicyValidationError } from '../errors.js';
import type { PolicyIssue } from './issues.js';
import type { PolicySetSource } from './policy-set.js';
import type { PolicySetSpec } from './schema.js';
import { nodeLocator, rememberLocator } from './source-positions.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A name for a bare spec: the file's base name, plus the document's position when there are several. */
function derivedName(origin: string, index: number, count: number): string {
  const base = basename(origin, extname(origin))
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  const name = base || 'policy';
  return count > 1 ? `${name}-${index + 1}` : name;
}

export function parsePolicyDocuments(text: string, origin: string): PolicySetSource[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { prettyErrors: false, lineCounter: lines });
  const list = Array.isArray(docs) ? docs : [docs];
  const issues: PolicyIssue[] = [];
  const sets: PolicySetSource[] = [];
  // An empty document (a trailing `---`) does not count: one spec plus a separator is still "the" spec.
  const conversionErrors: (string | undefined)[] = [];
  const values: unknown[] = list.map((doc, i) => {
    if (doc.errors.length > 0) return undefined;
    try {
      return doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // e.g. an alias bomb ("billion laughs"): refused rather than expanded
      conversionErrors[i] = (err as Error).message;
      return undefined;
    }
  });
  const nonEmpty = list.filter(
    (doc, i) =>
      doc.errors.length > 0 || conversionErrors[i] !== undefined || (values[i] !== null && values[i] !== undefined),
  ).length;
  const where = (i: number) => (nonEmpty > 1 ? `${origin} (document ${i + 1})` : origin);

  list.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lines.linePos(e.pos[0]);
        issues.push({
          policySet: where(i),
          path: '',
          message: `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${e.message.split('\n')[0]}`,
          ...(pos ? { line: pos.line, column: pos.col } : {}),
        });
      }
      return;
    }
    const problem = conversionErrors[i];
    if (problem !== undefined) return void issues.push({ policySet: where(i), path: '', message: problem });
    const value = values[i];
    if (value === null || value === undefined) return;
    collect(value, doc.contents, i, nonEmpty);
  });

  function collect(value: unknown, node: unknown, index: number, count: number, itemPath = ''): void {
    const child = (key: string | number): unknown => (isCollection(node) ? node.get(key, true) : undefined);
    const fail = (message: string): void => void issues.push({ policySet: where(index), path: itemPath, message });
    if (!isObj(value))
      return fail(
        `expected a PolicySet manifest or spec (an object), got ${Array.isArray(value) ? 'a list' : typeof value}`,
      );
    if (value.kind === undefined && value.apiVersion === undefined) {
      // A spec has neither field: this is a manifest that lost its header, not a spec with odd fields.
      if ('spec' in value || 'metadata' in value) {
        return fail(
          `apiVersion and kind: required for a PolicySet manifest (add "apiVersion: ${BUNDLE_API_VERSION}" and "kind: PolicySet"), or give the spec's fields alone`,
        );
      }
      const source = { name: derivedName(origin, index, count), spec: value as PolicySetSpec, origin: where(index) };
      sets.push(rememberLocator(source, nodeLocator(node, lines)));
      return;
    }
    if (value.apiVersion === undefined && value.kind !== 'List') {
      return fail(`apiVersion: required (add "apiVersion: ${BUNDLE_API_VERSION}")`);
    }
    if (value.kind === undefined) return fail('kind: required (PolicySet, List or PolicyBundle)');
    if (value.apiVersion !== BUNDLE_API_VERSION && value.kind !== 'List') {
      return fail(`unsupported apiVersion ${JSON.stringify(value.apiVersion)} (expected ${BUNDLE_API_VERSION})`);
    }
    switch (value.kind) {
      case 'PolicySet': {
        const name = isObj(value.metadata) ? value.metadata.name : undefined;
        if (typeof name !== 'string' || name === '') return fail('metadata.name: required for a PolicySet manifest');
        if (value.spec === undefined) return fail(`spec: required (PolicySet "${name}")`);
        const source = { name, spec: value.spec as PolicySetSpec, origin: where(index) };
        sets.push(rememberLocator(source, nodeLocator(child('spec'), lines)));
        return;
      }
      case 'List':
        if (!Array.isArray(value.items)) return fail('items: expected a list');
        {
          const items = child('items');
          value.items.forEach((item, k) =>
            collect(item, isCollection(items) ? items.get(k, true) : undefined, index, count, `items[${k}]`),
          );
        }
        return;
      case 'PolicyBundle':
        try {
          const bundle = verifyPolicyBundle(value, where(index));
          for (const s of bundle.policySets) sets.push({ name: s.name, spec: s.spec, origin: where(index) });
        } catch (err) {
          if (!(err instanceof PolicyValidationError)) throw err;
          issues.push(...err.issues);
        }
        return;
      default:
        return fail(`unsupported kind ${JSON.stringify(value.kind)} (expected PolicySet, List or PolicyBundle)`);
    }
  }

  if (issues.length > 0) throw new PolicyValidationError(issues);
  return sets;
}
