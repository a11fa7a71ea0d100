/** Inputs for the builders' unit tests (not used by the operator). */
import { compilePolicyBundle, type PolicyBundle, type PolicySetSpec } from '@safesquid/proxy/policy';
import { applyClusterDefaults } from '../api/validation.js';
import type { SafeSquidClusterSpec } from '../api/safesquid-cluster.js';
import type { ClusterRef, KubernetesObject } from './common.js';

export const UID = '0b6e3c52-8a8e-4f35-9a64-3c1f0d1e2a77';

export function clusterRef(
  spec: Omit<SafeSquidClusterSpec, 'policySelector'> & Partial<Pick<SafeSquidClusterSpec, 'policySelector'>> = {},
  name = 'corp',
): ClusterRef {
  return {
    metadata: { name, namespace: 'gw', uid: UID },
    spec: applyClusterDefaults({ policySelector: { matchLabels: { gateway: 'corp' } }, ...spec }),
  };
}

export function bundle(spec: PolicySetSpec = { rules: [{ name: 'all', action: 'allow' }] }): PolicyBundle {
  return compilePolicyBundle([{ name: 'p', spec }]);
}

/** The first pod spec of a workload. */
export function podSpec(o: KubernetesObject): Record<string, any> {
  return (o.spec as any).template.spec;
}

export function container(o: KubernetesObject): Record<string, any> {
  return podSpec(o).containers[0];
}

/** The value after a flag in an argument list. */
export function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}
