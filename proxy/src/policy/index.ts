/**
 * The policy engine: one language for PolicySet resources, the standalone master and every
 * slave. Parse → validate → compile to a hashed bundle → load into indexes → evaluate.
 */
import { compilePolicyBundle, verifyPolicyBundle, type PolicyBundle } from './bundle.js';
import { PolicyEngine } from './compiled-policy.js';
import type { PolicySetSource } from './policy-set.js';

export * from './decision.js';
export { policySetSpecSchema, ACTIONS, MODES, DAYS } from './schema.js';
export type { PolicySetSpec, RuleSpec, HeaderRuleSpec, RuleMatchSpec, HeaderEditSpec, Day } from './schema.js';
export type { PolicySetSource } from './policy-set.js';
export { formatIssue, type PolicyIssue } from './issues.js';
export { PolicyValidationError } from '../errors.js';
export { parsePolicyDocuments } from './documents.js';
export { locateIssues, type Locator, type SourcePosition } from './source-positions.js';
export { validatePolicySets } from './validate.js';
export {
  compilePolicyBundle,
  verifyPolicyBundle,
  canonicalJson,
  BUNDLE_API_VERSION,
  LOCAL_CLIENTS,
  type PolicyBundle,
  type BundledPolicySet,
  type ResolvedAccessRestriction,
} from './bundle.js';
export { PolicyEngine, type CompiledRule, type RuleTrace } from './compiled-policy.js';
export { CidrSet, CidrParseError, parseIp, normalizeIp, parseCidr } from './cidr.js';
export { normalizeHost } from './hostname.js';
export { explainRequest, type Explanation, type ExplainedRule } from './explain.js';

/** Checks a bundle from elsewhere (hash, order, validity; throws `PolicyValidationError`) and builds its indexes. */
export function loadCompiledPolicy(bundle: PolicyBundle): PolicyEngine {
  return new PolicyEngine(verifyPolicyBundle(bundle));
}

/** Validates, compiles and loads in one step. */
export function compilePolicy(sets: readonly PolicySetSource[]): PolicyEngine {
  return new PolicyEngine(compilePolicyBundle(sets));
}
