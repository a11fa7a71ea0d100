/**
 * Defaults and validation of SafeSquidCluster specs, both from `safeSquidClusterSpecSchema`:
 * the same `default:` values the API server applies, the same types and bounds it checks.
 * CEL rules are the API server's job; `validateClusterSpec` mirrors none of them, so a spec read
 * from the API server (already checked) is the normal input and this is the safety net.
 */
import { Kind } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { KIND_EXPECTATIONS } from './schema-kinds.js';
import { validatePolicySets, type PolicyIssue } from '@safesquid/proxy/policy';
import { safeSquidClusterSpecSchema, type SafeSquidClusterSpec } from './safesquid-cluster.js';
import type { PolicySet } from './policy-set.js';

type Spec = SafeSquidClusterSpec;
type Master = NonNullable<Spec['master']>;
type Slaves = NonNullable<Spec['slaves']>;
type Defaulted<T, K extends keyof T> = T & Required<Pick<T, K>>;

/** A spec with every schema default in place: what the builders take. */
export type DefaultedClusterSpec = Omit<
  Spec,
  'image' | 'imagePullPolicy' | 'master' | 'slaves' | 'reports' | 'auth'
> & {
  image: string;
  imagePullPolicy: NonNullable<Spec['imagePullPolicy']>;
  master: Defaulted<Omit<Master, 'storage'>, 'portalPort' | 'allowList' | 'resources'> & {
    /** Absent only when `postgres` is set. */
    storage?: Defaulted<NonNullable<Master['storage']>, 'size'>;
  };
  slaves: Defaulted<
    Omit<Slaves, 'service' | 'spool' | 'podDisruptionBudget' | 'scaleDown'>,
    | 'minReplicas'
    | 'maxReplicas'
    | 'targetCPUUtilizationPercentage'
    | 'proxyPort'
    | 'metricsPort'
    | 'drainDelaySeconds'
    | 'shutdownGraceSeconds'
    | 'resources'
  > & {
    service: Defaulted<NonNullable<Slaves['service']>, 'type'>;
    spool?: Defaulted<NonNullable<Slaves['spool']>, 'size' | 'retainOnDelete'>;
    podDisruptionBudget: Required<NonNullable<Slaves['podDisruptionBudget']>>;
    scaleDown: Required<NonNullable<Slaves['scaleDown']>>;
  };
  reports: Required<NonNullable<Spec['reports']>>;
  auth?: Defaulted<NonNullable<Spec['auth']>, 'realm' | 'cacheTTLSeconds'>;
};

export interface SpecIssue {
  /** Field path from `spec`, e.g. `spec.slaves.minReplicas`. */
  path: string;
  message: string;
}

type SchemaNode = {
  type?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
};

/**
 * Structural-schema defaulting as the API server does it: a missing field takes its `default`
 * (a copy), then defaulting continues inside whatever the field now holds. A field that is present
 * is never merged with its default (TypeBox's `Value.Default` would fill `limits` into a
 * `resources` that names only `requests`; the API server does not).
 */
function defaultValue(schema: SchemaNode, value: unknown): unknown {
  if (value === undefined) {
    if (!('default' in schema)) return undefined;
    value = structuredClone(schema.default);
  }
  if (Array.isArray(value)) {
    if (schema.items)
      for (let i = 0; i < value.length; i++) value[i] = defaultValue(schema.items, value[i]) ?? value[i];
  } else if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    for (const [key, child] of Object.entries(schema.properties ?? {})) {
      const v = defaultValue(child, record[key]);
      if (v !== undefined) record[key] = v;
    }
    const extra = schema.additionalProperties;
    if (typeof extra === 'object' && !schema.properties)
      for (const key of Object.keys(record)) record[key] = defaultValue(extra, record[key]);
  }
  return value;
}

/**
 * The spec with every default filled in, as the API server would store it, plus the one default
 * a schema cannot state: without `master.postgres` the master keeps SQLite on `master.storage`,
 * defaulted from that field's own schema. Does not modify its argument.
 */
export function applyClusterDefaults(spec: SafeSquidClusterSpec): DefaultedClusterSpec {
  const out = defaultValue(safeSquidClusterSpecSchema as SchemaNode, structuredClone(spec)) as DefaultedClusterSpec;
  if (!out.master.postgres && !out.master.storage) {
    const storageSchema = safeSquidClusterSpecSchema.properties.master.properties.storage as SchemaNode;
    out.master.storage = defaultValue(storageSchema, {}) as DefaultedClusterSpec['master']['storage'];
  }
  return out;
}

function describeError(error: { message: string; schema: unknown }): string {
  const schema = error.schema as { enum?: unknown[]; [Kind]?: string };
  if (schema.enum) return `must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  const expected = schema[Kind] === undefined ? undefined : KIND_EXPECTATIONS[schema[Kind]];
  return expected ?? error.message.charAt(0).toLowerCase() + error.message.slice(1);
}

/** Schema issues of a SafeSquidCluster spec (types, enums, bounds, required fields), each naming its field. */
export function validateClusterSpec(spec: unknown): SpecIssue[] {
  const issues: SpecIssue[] = [];
  for (const error of Value.Errors(safeSquidClusterSpecSchema, spec)) {
    const path =
      'spec' +
      error.path
        .split('/')
        .slice(1)
        .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
        .join('');
    if (issues.some((i) => i.path === path)) continue; // TypeBox reports a node once per failed keyword
    issues.push({ path, message: describeError(error) });
  }
  return issues;
}

/** The engine's findings for these PolicySets together (references across sets, regexes, CIDRs, ...). */
export function validatePolicySetResources(sets: readonly Pick<PolicySet, 'metadata' | 'spec'>[]): PolicyIssue[] {
  return validatePolicySets(
    sets.map((s) => ({
      name: s.metadata.name,
      spec: s.spec,
      origin: `policyset/${s.metadata.namespace ?? ''}/${s.metadata.name}`,
    })),
  );
}
