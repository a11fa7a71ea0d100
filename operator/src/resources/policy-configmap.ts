/**
 * ConfigMap `<name>-policy`: the compiled bundle of the PolicySets the cluster selects, under
 * `bundle.json` (the key the master prefers), with its hash as the `safesquid.io/policy-hash`
 * annotation. The master watches it (`--kube-configmap`) and serves it to the slaves.
 */
import { canonicalJson, type PolicyBundle } from '@safesquid/proxy/policy';
import { childNames, metadata, type ClusterRef, type KubernetesObject } from './common.js';

export const POLICY_HASH_ANNOTATION = 'safesquid.io/policy-hash';
export const BUNDLE_KEY = 'bundle.json';

export function buildPolicyConfigMap(cluster: ClusterRef, bundle: PolicyBundle): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(cluster, childNames(cluster.metadata.name).policyConfigMap, 'policy', {
      [POLICY_HASH_ANNOTATION]: bundle.hash,
    }),
    // Canonical JSON: the same bundle is the same bytes, so an unchanged policy is a no-op apply.
    data: { [BUNDLE_KEY]: canonicalJson(bundle) },
  };
}
