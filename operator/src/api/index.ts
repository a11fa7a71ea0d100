/**
 * The operator's API: the SafeSquidCluster and PolicySet kinds (group safesquid.io, v1alpha1).
 * Stable surface for the controller and tests:
 * - types `SafeSquidCluster`, `SafeSquidClusterSpec`, `SafeSquidClusterStatus`, `PolicySet`,
 *   `PolicySetSpec`, `PolicySetStatus`, `Condition`, `DefaultedClusterSpec`;
 * - `applyClusterDefaults(spec)`: every schema default filled in (what the API server stores);
 * - `validateClusterSpec(spec)`: schema issues `{path, message}`; `validatePolicySetResources(sets)`:
 *   the policy engine's issues for PolicySets taken together;
 * - schemas (`safeSquidClusterSpecSchema`, ...Status, `policySetSpecSchema`, ...Status) and the
 *   CRDs built from them (`safeSquidClusterCrd()`, `policySetCrd()`, `crdYaml()`);
 * - `shortPolicyHash(hash)`: the 12 hex digits `status.policyHashShort` shows;
 * - names: `API_GROUP`, `API_VERSION`, `GROUP_VERSION`, `CLUSTER_CONDITIONS`, `POLICY_SET_CONDITIONS`,
 *   `SAFESQUID_CLUSTER` / `POLICY_SET` (kind, plural, ...).
 */
export {
  API_GROUP,
  API_VERSION,
  GROUP_VERSION,
  CLUSTER_CONDITIONS,
  safeSquidClusterSpecSchema,
  safeSquidClusterStatusSchema,
  shortPolicyHash,
  type SafeSquidCluster,
  type SafeSquidClusterSpec,
  type SafeSquidClusterStatus,
  type ClusterConditionType,
  type Condition,
  type ObjectMeta,
} from './safesquid-cluster.js';
export {
  policySetSpecSchema,
  policySetStatusSchema,
  POLICY_SET_CONDITIONS,
  type PolicySet,
  type PolicySetSpec,
  type PolicySetStatus,
} from './policy-set.js';
export {
  applyClusterDefaults,
  validateClusterSpec,
  validatePolicySetResources,
  type DefaultedClusterSpec,
  type SpecIssue,
} from './validation.js';
export {
  SAFESQUID_CLUSTER,
  POLICY_SET,
  safeSquidClusterCrd,
  policySetCrd,
  crdYaml,
  type CustomResourceDefinition,
} from './crd.js';
