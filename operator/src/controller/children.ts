/**
 * The one place the controller meets the builders of `../resources/` (the API engineer's pure
 * functions): what goes in (the defaulted cluster, the bundle in force, the Secret values) and the
 * list of objects that comes out.
 */
import { compilePolicyBundle, verifyPolicyBundle, type PolicyBundle } from '@safesquid/proxy/policy';
import type { KubeObject } from '../kube/client.js';
import {
  buildClusterChildren,
  BUNDLE_KEY,
  type ClusterRef,
  type NetworkPolicyPeer,
  type SecretValues,
} from '../resources/index.js';

export {
  buildSecrets,
  generatedSecretNames,
  generateSecretValue,
  secretRefs,
  masterUrl,
  POLICY_HASH_ANNOTATION,
  type ClusterRef,
  type SecretValues,
} from '../resources/index.js';

/** The bundle the live policy ConfigMap holds, or undefined when it has none that verifies. */
export function bundleInConfigMap(cm: KubeObject | undefined): PolicyBundle | undefined {
  const text = (cm?.data as Record<string, string> | undefined)?.[BUNDLE_KEY];
  if (!text) return undefined;
  try {
    return verifyPolicyBundle(JSON.parse(text));
  } catch {
    return undefined;
  }
}

let denyAll: PolicyBundle | undefined;

/**
 * Every child of the cluster. `bundle` is the freshly compiled policy, or (when the engine refused
 * the PolicySets) the one in force: the caller leaves the ConfigMap out in that case. With no bundle
 * at all yet, the other children are built from the empty policy (deny everything). Without
 * `secrets`, the generated Secrets are left out (`buildSecrets` makes them once the values are known).
 */
export function buildChildren(
  ref: ClusterRef,
  bundle: PolicyBundle | undefined,
  secrets: SecretValues | undefined,
  portalPeers?: NetworkPolicyPeer[],
): KubeObject[] {
  denyAll ??= compilePolicyBundle([]);
  return buildClusterChildren({
    cluster: ref,
    bundle: bundle ?? denyAll,
    secrets,
    portalPeers,
  }) as unknown as KubeObject[];
}
