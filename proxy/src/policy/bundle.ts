/**
 * The compiled bundle: the PolicySets in evaluation order plus the resolved access restriction,
 * with a content hash over canonical JSON (sorted keys). That hash is the policy's version
 * everywhere: the ConfigMap annotation, the master's ETag, the slave's metrics label.
 */
import { createHash } from 'node:crypto';
import { PolicyValidationError } from '../errors.js';
import type { PolicyIssue } from './issues.js';
import { comparePolicySets, DEFAULT_PRIORITY, type PolicySetSource } from './policy-set.js';
import type { PolicySetSpec } from './schema.js';
import { validatePolicySets } from './validate.js';

export const BUNDLE_API_VERSION = 'safesquid.io/v1alpha1' as const;

/**
 * Who may use a slave whose policy names no `allowedClients` (as Squid's default `localnet`):
 * loopback, RFC 1918, RFC 6598 shared address space (carrier-grade NAT, also used for pod networks)
 * and RFC 4193 unique local IPv6. Link-local is not a client range. Serving everyone takes an
 * explicit `0.0.0.0/0` / `::/0`. The operator opens the same ranges in its NetworkPolicy.
 */
export const LOCAL_CLIENTS: readonly string[] = Object.freeze([
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '127.0.0.0/8',
  'fc00::/7',
  '::1/128',
]);

export interface ResolvedAccessRestriction {
  defaultAction: 'allow' | 'deny';
  /**
   * As the policy says. Empty: loopback and private ranges only (`LOCAL_CLIENTS`), applied when the
   * bundle is loaded rather than written into it, so bundles (and their hashes) stay as they were.
   */
  allowedClients: string[];
  connectPorts: number[];
  /** Present only when the policy sets it (bundles without it keep their hash); default [80]. */
  httpTunnelPorts?: number[];
  ssrf: { allowRanges: string[] };
  /** The PolicySet it came from; absent when the defaults apply. */
  policySet?: string;
}

export interface BundledPolicySet {
  name: string;
  priority: number;
  spec: PolicySetSpec;
}

export interface PolicyBundle {
  apiVersion: typeof BUNDLE_API_VERSION;
  kind: 'PolicyBundle';
  /** `sha256:<hex>` over the canonical JSON of everything else in the bundle. */
  hash: string;
  policySets: BundledPolicySet[];
  accessRestriction: ResolvedAccessRestriction;
}

/** JSON with object keys sorted at every level, arrays in order, `undefined` members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value as object)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

export function bundleHash(bundle: Omit<PolicyBundle, 'hash'>): string {
  const { apiVersion, kind, policySets, accessRestriction } = bundle;
  const digest = createHash('sha256')
    .update(canonicalJson({ apiVersion, kind, policySets, accessRestriction }))
    .digest('hex');
  return `sha256:${digest}`;
}

export function resolveAccessRestriction(ordered: readonly BundledPolicySet[]): ResolvedAccessRestriction {
  const owner = ordered.find((s) => s.spec.accessRestriction !== undefined);
  const r = owner?.spec.accessRestriction ?? {};
  return {
    defaultAction: r.defaultAction ?? 'deny',
    allowedClients: [...(r.allowedClients ?? [])],
    connectPorts: [...(r.connectPorts ?? [443])],
    ...(r.httpTunnelPorts ? { httpTunnelPorts: [...r.httpTunnelPorts] } : {}),
    ssrf: { allowRanges: [...(r.ssrf?.allowRanges ?? [])] },
    ...(owner ? { policySet: owner.name } : {}),
  };
}

/** Orders PolicySets by priority, then name (validation must have passed). */
export function orderPolicySets(sets: readonly PolicySetSource[]): BundledPolicySet[] {
  return sets
    .map((s) => ({ name: s.name, priority: s.spec.priority ?? DEFAULT_PRIORITY, spec: s.spec }))
    .sort(comparePolicySets);
}

/** Validates (throws `PolicyValidationError` listing every issue), orders and hashes. */
export function compilePolicyBundle(sets: readonly PolicySetSource[]): PolicyBundle {
  const issues = validatePolicySets(sets);
  if (issues.length > 0) throw new PolicyValidationError(issues);
  const policySets = orderPolicySets(sets);
  const body = {
    apiVersion: BUNDLE_API_VERSION,
    kind: 'PolicyBundle' as const,
    policySets,
    accessRestriction: resolveAccessRestriction(policySets),
  };
  return { ...body, hash: bundleHash(body) };
}

/**
 * Checks a bundle that arrived from elsewhere (ConfigMap, master, disk): its envelope, that its
 * hash matches its content, that it is in bundle order and that its access restriction is the
 * one its PolicySets resolve to, and that every PolicySet in it is valid.
 */
export function verifyPolicyBundle(bundle: unknown, origin = 'policy bundle'): PolicyBundle {
  const fail = (message: string, path = ''): never => {
    throw new PolicyValidationError([{ policySet: origin, path, message }]);
  };
  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle))
    return fail('expected a PolicyBundle object');
  const b = bundle as Partial<PolicyBundle>;
  if (b.apiVersion !== BUNDLE_API_VERSION)
    fail(`expected ${BUNDLE_API_VERSION}, got ${JSON.stringify(b.apiVersion)}`, 'apiVersion');
  if (b.kind !== 'PolicyBundle') fail(`expected PolicyBundle, got ${JSON.stringify(b.kind)}`, 'kind');
  if (typeof b.hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(b.hash))
    fail('expected "sha256:<64 hex digits>"', 'hash');
  if (!Array.isArray(b.policySets)) return fail('expected a list', 'policySets');
  const issues: PolicyIssue[] = [];
  b.policySets.forEach((s, i) => {
    if (typeof s !== 'object' || s === null)
      issues.push({ policySet: origin, path: `policySets[${i}]`, message: 'expected an object' });
    else if (s.priority !== (s.spec?.priority ?? DEFAULT_PRIORITY)) {
      issues.push({
        policySet: s.name,
        path: 'priority',
        message: `bundle says ${s.priority}, spec says ${s.spec?.priority ?? DEFAULT_PRIORITY}`,
      });
    }
  });
  if (issues.length) throw new PolicyValidationError(issues);
  const actual = bundleHash(b as PolicyBundle);
  if (actual !== b.hash) {
    fail(
      `hash mismatch: the bundle declares ${b.hash} but its content hashes to ${actual} (modified after it was compiled?)`,
      'hash',
    );
  }
  const sets = b.policySets.map((s) => ({ name: s.name, spec: s.spec }));
  const problems = validatePolicySets(sets);
  if (problems.length) throw new PolicyValidationError(problems);
  const ordered = orderPolicySets(sets);
  if (ordered.some((s, i) => s.name !== b.policySets![i].name))
    fail('PolicySets are not in priority-then-name order', 'policySets');
  if (canonicalJson(resolveAccessRestriction(ordered)) !== canonicalJson(b.accessRestriction)) {
    fail('does not match the access restriction its PolicySets resolve to', 'accessRestriction');
  }
  return b as PolicyBundle;
}
