/**
 * The PolicySet kind: its spec schema is the policy engine's own (`policySetSpecSchema` of
 * `@safesquid/proxy/policy`), so the CRD, `safesquid policy validate` and the slaves agree on
 * the language. The CRD adds CEL rules for what a schema alone cannot say; everything else the
 * engine checks (references between lists, CIDRs, regexes, time zones) shows in `status` as
 * `Valid=False` with the engine's message.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { policySetSpecSchema as engineSpecSchema, type PolicySetSpec } from '@safesquid/proxy/policy';
import { conditionsSchema, GROUP_VERSION, type ObjectMeta } from './safesquid-cluster.js';
import type { CelRule } from './schema-kinds.js';

export type { PolicySetSpec };

/** Returns a deep copy of `schema` with keywords (CEL rules, bounds) added at the nodes `path` names (`properties.x.items`). */
function withKeywordsAt<T extends TSchema>(schema: T, keywordsByPath: Record<string, Record<string, unknown>>): T {
  const copy = structuredCloneSchema(schema);
  for (const [path, keywords] of Object.entries(keywordsByPath)) {
    let node: Record<string, unknown> = copy as unknown as Record<string, unknown>;
    for (const step of path.split('.')) {
      node = node[step] as Record<string, unknown>;
      if (!node) throw new Error(`policy-set schema: no node at ${path} (the engine schema changed?)`);
    }
    Object.assign(node, keywords);
  }
  return copy;
}

const rules = (list: CelRule[]) => ({ 'x-kubernetes-validations': list });

/** A copy that keeps TypeBox's symbol keys (structuredClone drops them). */
function structuredCloneSchema<T>(value: T): T {
  if (Array.isArray(value)) return value.map(structuredCloneSchema) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string | symbol, unknown> = {};
  for (const key of Reflect.ownKeys(value))
    out[key] = structuredCloneSchema((value as Record<string | symbol, unknown>)[key]);
  return out as T;
}

/**
 * The engine's schema plus CEL for cross-field rules the API server can refuse at `kubectl apply`.
 * Messages follow the engine's wording so a user meets one vocabulary.
 */
export const policySetSpecSchema = withKeywordsAt(engineSpecSchema, {
  'properties.rules.items': rules([
    {
      rule: "self.action != 'redirect' || has(self.redirectTo)",
      message: 'redirectTo is required when action is redirect',
      fieldPath: '.redirectTo',
      reason: 'FieldValueRequired',
    },
    {
      rule: "!has(self.redirectTo) || self.action == 'redirect'",
      message: 'redirectTo is only valid with action redirect',
      fieldPath: '.redirectTo',
      reason: 'FieldValueForbidden',
    },
    {
      rule: "!has(self.redirectTo) || self.redirectTo.startsWith('http://') || self.redirectTo.startsWith('https://')",
      message: 'redirectTo must be an absolute http(s) URL',
      fieldPath: '.redirectTo',
    },
  ]),
  'properties.timeProfiles.items': rules([
    { rule: "!has(self.from) || self.from != '24:00'", message: '"24:00" is only valid as `to`', fieldPath: '.from' },
    {
      rule: '!has(self.from) || !has(self.to) || self.from != self.to',
      message: 'from and to are equal: the window is empty; omit both for the whole day',
      fieldPath: '.to',
    },
  ]),
  // The clock pattern already allows 5 characters only; saying so keeps the CEL cost estimate low.
  'properties.timeProfiles.items.properties.from': { maxLength: 5 },
  'properties.timeProfiles.items.properties.to': { maxLength: 5 },
});

export const POLICY_SET_CONDITIONS = ['Valid'] as const;

export const policySetStatusSchema = Type.Object({
  observedGeneration: Type.Optional(
    Type.Integer({ minimum: 0, format: 'int64', description: 'The generation this status describes.' }),
  ),
  hash: Type.Optional(
    Type.String({
      description:
        'Hash of the bundle this PolicySet compiled into when it was last valid (with the PolicySets beside it).',
    }),
  ),
  clusters: Type.Optional(
    Type.Array(Type.String(), {
      maxItems: 1000,
      description: 'SafeSquidClusters of this namespace whose policySelector selects this PolicySet.',
    }),
  ),
  conditions: Type.Optional(conditionsSchema),
});

export type PolicySetStatus = Static<typeof policySetStatusSchema>;

export interface PolicySet {
  apiVersion: typeof GROUP_VERSION;
  kind: 'PolicySet';
  metadata: ObjectMeta;
  spec: PolicySetSpec;
  status?: PolicySetStatus;
}
