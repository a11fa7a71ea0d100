/**
 * Where in the administrator's text a validation issue points. The engine validates parsed
 * values, so its issues carry a field path (`rules[3].match.urlRegex`); the YAML parser knows
 * where each node came from, and this maps one to the other. Issues from a file, the portal's
 * editor or `kubectl apply` then say "line 12, column 9" instead of leaving people to count.
 */
import { isCollection, isNode, type LineCounter, type Node } from 'yaml';
import type { PolicyIssue } from './issues.js';

export interface SourcePosition {
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
}

/** A field path inside a spec to its position in the text, or undefined when it has none. */
export type Locator = (path: string) => SourcePosition | undefined;

/** `rules[3].match.domains[0]` → ['rules', 3, 'match', 'domains', 0] */
export function pathKeys(path: string): (string | number)[] {
  const keys: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return keys;
    if (m[1]) keys.push(m[1]);
    for (const index of m[2].matchAll(/\[(\d+)\]/g)) keys.push(Number(index[1]));
  }
  return keys;
}

/**
 * Locates paths under `node` (a spec's mapping). A path that goes deeper than the text (a field
 * that is missing) points at the deepest part that exists: the place to add it.
 */
export function nodeLocator(node: unknown, lines: LineCounter): Locator {
  return (path) => {
    if (!isNode(node)) return undefined;
    let at: Node = node;
    for (const key of pathKeys(path)) {
      if (!isCollection(at)) break;
      const next: unknown = at.get(key, true);
      if (!isNode(next)) break;
      at = next;
    }
    const offset = at.range?.[0];
    if (offset === undefined) return undefined;
    const pos = lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
}

// Beside the sources rather than on them: a source stays plain data (cloned, sent to workers).
const locators = new WeakMap<object, Locator>();

/** Remembers where `source`'s spec was parsed from. */
export function rememberLocator<T extends object>(source: T, locate: Locator): T {
  locators.set(source, locate);
  return source;
}

/** The issues, each with line and column where the parsed set it names can say. */
export function locateIssues(issues: readonly PolicyIssue[], sources: readonly { name: string }[]): PolicyIssue[] {
  return issues.map((issue) => {
    if (issue.line !== undefined) return issue;
    const source = sources.find((s) => s.name === issue.policySet);
    const pos = source && locators.get(source)?.(issue.path);
    return pos ? { ...issue, ...pos } : issue;
  });
}
