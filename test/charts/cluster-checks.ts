/**
 * What the chart and kustomize tests check on the real control plane: the operator's pods
 * scheduled on kwok nodes and Running/Ready, and the Prometheus Operator's API made available
 * (its three kinds as minimal CRDs) so the chart's capability check has something to find.
 */
import { eventually, getJson, kubectl, kubectlOk } from '../cluster/kubectl.js';

/** Pods of `selector` in `ns` once exactly `count` are Running and Ready, each on a kwok node. */
export async function operatorPodsOnKwok(ns: string, selector: string, count: number): Promise<any[]> {
  return eventually(`${count} Running/Ready operator pods (${selector}) in ${ns}`, async () => {
    const pods = (await getJson(['-n', ns, 'pods', '-l', selector]))?.items ?? [];
    const live = pods.filter((p: any) => !p.metadata.deletionTimestamp);
    const ready = live.filter((p: any) => p.status.phase === 'Running' && (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'));
    return live.length === count && ready.length === count ? ready : undefined;
  }, 90_000);
}

const MONITORING_KINDS = [
  ['ServiceMonitor', 'servicemonitors'],
  ['PodMonitor', 'podmonitors'],
  ['PrometheusRule', 'prometheusrules'],
] as const;

/**
 * The monitoring.coreos.com/v1 kinds the chart renders, as CRDs that accept any spec (the
 * Prometheus Operator's own CRDs are not in this repository; what is checked here is that the
 * chart sees the API and creates its objects, not their schema). Returns a function removing them.
 */
export async function servePrometheusOperatorApi(): Promise<() => Promise<void>> {
  const names: string[] = [];
  for (const [kind, plural] of MONITORING_KINDS) {
    const name = `${plural}.monitoring.coreos.com`;
    const existing = await kubectl(['get', 'crd', name]);
    if (existing.code === 0) continue;
    names.push(name);
    await kubectlOk(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    }));
  }
  if (names.length > 0) await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)]);
  return async () => {
    if (names.length > 0) await kubectl(['delete', 'crd', '--wait=false', ...names]);
  };
}
