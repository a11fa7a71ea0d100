import type { PolicyIssue } from '../policy/index.js';

/** The policy engine refused a policy text or bundle; `issues` say where and why. */
export class PolicyRejectedError extends Error {
  constructor(
    message: string,
    readonly issues: PolicyIssue[],
  ) {
    super(message);
  }
}

export interface CompiledPolicyText {
  hash: string;
  /** The compiled PolicyBundle slaves load. */
  bundle: unknown;
  /** Counts an administrator glances at after validating (policy sets, rules, categories…). */
  summary: Record<string, unknown>;
}

/**
 * What the portal needs from the policy engine. Kept as an interface so the portal's HTTP layer
 * does not depend on the engine's internals; `engine-compiler.ts` is the real implementation.
 */
export interface PolicyCompiler {
  /** Parses, validates and compiles policy text (YAML or JSON, one or more PolicySet documents). */
  compileText(text: string, origin: string): CompiledPolicyText;
  /** Checks that an already compiled bundle (e.g. the operator's ConfigMap) loads; returns its hash. */
  checkBundle(bundle: unknown, origin: string): { hash: string };
  /** Whether a parsed JSON value is a compiled bundle rather than policy source. */
  isBundle(value: unknown): boolean;
}
