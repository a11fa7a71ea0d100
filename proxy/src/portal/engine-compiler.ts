import {
  BUNDLE_API_VERSION,
  compilePolicyBundle,
  loadCompiledPolicy,
  parsePolicyDocuments,
  PolicyValidationError,
  type PolicyBundle,
} from '../policy/index.js';
import { PolicyRejectedError, type PolicyCompiler } from './policy-compiler.js';

function rejected(err: unknown, origin: string): never {
  if (err instanceof PolicyValidationError) throw new PolicyRejectedError(err.message, err.issues);
  const message = err instanceof Error ? err.message : String(err);
  throw new PolicyRejectedError(`${origin}: ${message}`, [{ policySet: origin, path: '', message }]);
}

/** The portal's view of the policy engine (proxy/src/policy). */
export function createEngineCompiler(): PolicyCompiler {
  return {
    compileText(text, origin) {
      let bundle: PolicyBundle;
      try {
        bundle = compilePolicyBundle(parsePolicyDocuments(text, origin));
        // Loading builds the indexes and regexes a slave will build: refuse here what a slave would refuse.
        loadCompiledPolicy(bundle);
      } catch (err) {
        rejected(err, origin);
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
