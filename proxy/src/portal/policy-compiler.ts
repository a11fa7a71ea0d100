import {
  BUNDLE_API_VERSION,
  compilePolicyBundle,
  loadCompiledPolicy,
  parsePolicyDocuments,
  PolicyValidationError,
  locateIssues,
  type PolicyBundle,
  type PolicySetSource,
} from '../policy/index.js';
import { PolicyRejectedError } from '../errors.js';
export { PolicyRejectedError };

export interface CompiledPolicyText {
  hash: string;
  /** The compiled PolicyBundle slaves load. */
  bundle: unknown;
  /** Counts an administrator glances at after validating (policy sets, rules, categories…). */
  summary: Record<string, unknown>;
}

/**
 * What the portal needs from the policy engine. Kept as an interface so the portal's HTTP layer
 * does not depend on the engine's internals; `createEngineCompiler` below is the real one.
 */
export interface PolicyCompiler {
  /** Parses, validates and compiles policy text (YAML or JSON, one or more PolicySet documents). */
  compileText(text: string, origin: string): CompiledPolicyText;
  /** Checks that an already compiled bundle (e.g. the operator's ConfigMap) loads; returns its hash. */
  checkBundle(bundle: unknown, origin: string): { hash: string };
  /** Whether a parsed JSON value is a compiled bundle rather than policy source. */
  isBundle(value: unknown): boolean;
}

function rejected(err: unknown, origin: string, sources: readonly PolicySetSource[] = []): never {
  if (err instanceof PolicyValidationError)
    throw new PolicyRejectedError(err.message, locateIssues(err.issues, sources));
  const message = err instanceof Error ? err.message : String(err);
  throw new PolicyRejectedError(`${origin}: ${message}`, [{ policySet: origin, path: '', message }]);
}

/** The portal's view of the policy engine (proxy/src/policy). */
export function createEngineCompiler(): PolicyCompiler {
  return {
    compileText(text, origin) {
      let bundle: PolicyBundle;
      let sources: PolicySetSource[] = [];
      try {
        sources = parsePolicyDocuments(text, origin);
        bundle = compilePolicyBundle(sources);
        // Loading builds the indexes and regexes a slave will build: refuse here what a slave would refuse.
        loadCompiledPolicy(bundle);
      } catch (err) {
        rejected(err, origin, sources);
      }
      const sets = bundle.policySets;
      const count = (pick: (s: (typeof sets)[number]['spec']) => unknown[] | undefined) =>
        sets.reduce((n, s) => n + (pick(s.spec)?.length ?? 0), 0);
      return {
        hash: bundle.hash,
        bundle,
        summary: {
          policySets: sets.map((s) => ({ name: s.name, priority: s.priority })),
          rules: count((s) => s.rules),
          categories: count((s) => s.categories),
          userGroups: count((s) => s.userGroups),
          timeProfiles: count((s) => s.timeProfiles),
          headerRules: count((s) => s.headerRules),
          defaultAction: bundle.accessRestriction.defaultAction,
        },
      };
    },
    checkBundle(bundle, origin) {
      try {
        return { hash: loadCompiledPolicy(bundle as PolicyBundle).hash };
      } catch (err) {
        rejected(err, origin);
      }
    },
    isBundle(value) {
      const v = value as { kind?: unknown; apiVersion?: unknown } | null;
      return typeof v === 'object' && v !== null && v.kind === 'PolicyBundle' && v.apiVersion === BUNDLE_API_VERSION;
    },
  };
}
