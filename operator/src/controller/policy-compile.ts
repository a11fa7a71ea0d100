import {
  compilePolicyBundle,
  formatIssue,
  PolicyValidationError,
  type PolicyBundle,
  type PolicyIssue,
} from '@safesquid/proxy/policy';
import type { KubeObject } from '../kube/client.js';
import { matchesSelector, type LabelSelector } from '../kube/selectors.js';

export type CompileResult =
  | { ok: true; bundle: PolicyBundle; sets: string[] }
  | { ok: false; issues: PolicyIssue[]; sets: string[]; message: string };

/** The PolicySets of `namespace` the selector picks, by name (bundle order is the engine's business). */
export function selectPolicySets(
  all: readonly KubeObject[],
  namespace: string,
  selector: LabelSelector | undefined,
): KubeObject[] {
  return all
    .filter(
      (p) =>
        p.metadata?.namespace === namespace &&
        !p.metadata?.deletionTimestamp &&
        matchesSelector(selector, p.metadata?.labels),
    )
    .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
}

/** At most `n` issues, formatted as the engine does (PolicySet: field: message), for a status message. */
export function describeIssues(issues: readonly PolicyIssue[], n = 5): string {
  const shown = issues.slice(0, n).map(formatIssue).join('; ');
  return issues.length > n ? `${shown}; and ${issues.length - n} more` : shown;
}

/**
 * Compiles selections of PolicySets with the engine, remembering results by what went in (names,
 * uids, generations): a resync of a hundred clusters that share two PolicySets compiles once.
 */
export class PolicyCompiler {
  private readonly memo = new Map<string, CompileResult>();
  compiles = 0;

  constructor(private readonly limit = 512) {}

  compile(sets: readonly KubeObject[]): CompileResult {
    const key = sets.map((s) => `${s.metadata?.name}@${s.metadata?.uid}#${s.metadata?.generation}`).join('|');
    const hit = this.memo.get(key);
    if (hit) {
      // Refresh its place: the map's order is the eviction order.
      this.memo.delete(key);
      this.memo.set(key, hit);
      return hit;
    }
    const names = sets.map((s) => s.metadata!.name!);
    let result: CompileResult;
    try {
      this.compiles++;
      const bundle = compilePolicyBundle(
        sets.map((s) => ({
          name: s.metadata!.name!,
          spec: (s.spec ?? {}) as never,
          origin: `policyset/${s.metadata?.namespace}/${s.metadata?.name}`,
        })),
      );
      result = { ok: true, bundle, sets: names };
    } catch (err) {
      if (!(err instanceof PolicyValidationError)) throw err;
      result = { ok: false, issues: err.issues, sets: names, message: describeIssues(err.issues) };
    }
    this.memo.set(key, result);
    if (this.memo.size > this.limit) this.memo.delete(this.memo.keys().next().value!);
    return result;
  }
}
