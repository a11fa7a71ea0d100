import type { Logger } from 'pino';
import type { PolicyIssue } from '@safesquid/proxy/policy';
import type { KubeClient, KubeObject } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { matchesSelector, type LabelSelector } from '../kube/selectors.js';
import { objectPath, RESOURCES } from '../kube/resources.js';
import { mergeConditions, statusMergePatch, type Condition } from './conditions.js';
import type { Caches } from './caches.js';
import { describeIssues, selectPolicySets, type PolicyCompiler } from './policy-compile.js';

export interface PolicySetStatusDeps {
  client: KubeClient;
  logger: Logger;
  caches: Caches;
  events: EventRecorder;
  compiler: PolicyCompiler;
}

/**
 * The status of every PolicySet of a namespace: which clusters select it, whether the engine accepts
 * it among the PolicySets each of those clusters combines it with (`Valid`, with the engine's message
 * naming the field), and the bundle hash it compiled into. A PolicySet no cluster selects is checked
 * with all PolicySets of its namespace. Written only when it changes.
 */
export class PolicySetStatusReconciler {
  constructor(private readonly d: PolicySetStatusDeps) {}

  async reconcile(namespace: string): Promise<void> {
    const all = this.d.caches.PolicySet.list(namespace).filter((p) => !p.metadata?.deletionTimestamp);
    if (all.length === 0) return;
    const clusters = this.d.caches.SafeSquidCluster.list(namespace)
      .filter((c) => !c.metadata?.deletionTimestamp)
      .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
    const results = clusters.map((c) => {
      const selector = (c.spec as { policySelector?: LabelSelector } | undefined)?.policySelector;
      const sets = selectPolicySets(all, namespace, selector);
      return { cluster: c.metadata!.name!, selector, result: this.d.compiler.compile(sets) };
    });
    let unselected: ReturnType<PolicyCompiler['compile']> | undefined;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

    for (const ps of all) {
      const name = ps.metadata!.name!;
      const mine = results.filter((r) => matchesSelector(r.selector, ps.metadata?.labels));
      const issues: PolicyIssue[] = [];
      let hash: string | undefined;
      if (mine.length) {
        for (const r of mine) {
          if (r.result.ok) hash ??= r.result.bundle.hash;
          else
            issues.push(
              ...r.result.issues.filter(
                (i) => i.policySet === name && !issues.some((j) => j.path === i.path && j.message === i.message),
              ),
            );
        }
      } else {
        unselected ??= this.d.compiler.compile(all);
        if (!unselected.ok) issues.push(...unselected.issues.filter((i) => i.policySet === name));
      }
      const prev = ps.status as { hash?: string; conditions?: Condition[] } | undefined;
      const blockedBy = mine.filter((r) => !r.result.ok).map((r) => r.cluster);
      const valid =
        issues.length > 0
          ? { type: 'Valid', status: 'False' as const, reason: 'Refused', message: describeIssues(issues) }
          : blockedBy.length > 0
            ? {
                type: 'Valid',
                status: 'True' as const,
                reason: 'WaitingForOthers',
                message: `valid, but another PolicySet selected by ${blockedBy.join(', ')} is refused: the previous policy stays in force`,
              }
            : {
                type: 'Valid',
                status: 'True' as const,
                reason: mine.length ? 'Compiled' : 'NotSelected',
                message: mine.length
                  ? `in the policy of ${mine.map((r) => r.cluster).join(', ')}`
                  : 'valid; no SafeSquidCluster selects it',
              };
      const status = {
        observedGeneration: ps.metadata?.generation,
        hash: issues.length || blockedBy.length ? prev?.hash : (hash ?? prev?.hash),
        clusters: mine.map((r) => r.cluster),
        conditions: mergeConditions(prev?.conditions, [valid], ps.metadata?.generation, now),
      };
      const patch = statusMergePatch(prev as Record<string, unknown> | undefined, status);
      if (!patch) continue;
      const wasValid = prev?.conditions?.find((c) => c.type === 'Valid');
      if (valid.status === 'False' && (wasValid?.status !== 'False' || wasValid.message !== valid.message)) {
        await this.d.events.record(ps, 'Warning', 'PolicyRefused', valid.message);
      } else if (valid.status === 'True' && wasValid?.status === 'False') {
        await this.d.events.record(ps, 'Normal', 'PolicyAccepted', 'the policy engine accepts this PolicySet again');
      }
      const updated = await this.d.client.request<KubeObject>(
        'PATCH',
        objectPath(RESOURCES.PolicySet, namespace, name, 'status'),
        {
          contentType: 'application/merge-patch+json',
          body: { status: patch },
        },
      );
      this.d.caches.PolicySet.bump(updated);
      this.d.logger.info(
        { policySet: `${namespace}/${name}`, valid: valid.status, reason: valid.reason },
        'PolicySet status updated',
      );
    }
  }
}
