import type { PolicySetSpec } from './schema.js';

/** One PolicySet as the engine sees it: from a manifest, a bare spec file or the portal's store. */
export interface PolicySetSource {
  name: string;
  spec: PolicySetSpec;
  /** Where it came from (file path, `configmap/…`), for messages only: not part of the bundle hash. */
  origin?: string;
}

export const DEFAULT_PRIORITY = 100;

/** Bundle order: priority (lower first), then name. */
export function comparePolicySets(
  a: { name: string; priority: number },
  b: { name: string; priority: number },
): number {
  return a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
