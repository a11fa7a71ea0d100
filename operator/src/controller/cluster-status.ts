import type { KubeObject } from '../kube/client.js';
import { selectorString } from '../kube/selectors.js';
import { mergeConditions, type Condition, type ConditionInput } from './conditions.js';

/** One entry of the master's `GET /api/v1/slaves` (proxy/src/portal/slave-registry.ts). */
export interface RegisteredSlave {
  name: string;
  policyHash: string | null;
  inSync: boolean;
  state: 'online' | 'stale' | 'offline';
}

export type RegistryAnswer = { ok: true; slaves: RegisteredSlave[] } | { ok: false; error: string };

export interface ObservedCluster {
  generation?: number;
  previous?: Record<string, unknown>;
  /** The hash in the <name>-policy ConfigMap now (what the API server holds, not what was just built). */
  policyHash?: string;
  /** The engine refused the selected PolicySets: the issues, formatted. */
  policyRefused?: string;
  /** No PolicySet selected at all. */
  noPolicySets?: boolean;
  masterDeployment?: KubeObject;
  masterPods: KubeObject[];
  statefulSet?: KubeObject;
  /** Desired slaves when the StatefulSet does not say (spec). */
  desiredFallback: number;
  slavePods: KubeObject[];
  proxyService?: KubeObject;
  proxyPort: number;
  masterURL: string;
  /** The master's answer; 'pending' while the first probe of an available master is under way. */
  registry?: RegistryAnswer | 'pending';
  /** The last reconcile could not apply something. */
  applyError?: string;
  now: string;
}

const num = (v: unknown) => (typeof v === 'number' ? v : 0);

function podReady(p: KubeObject): boolean {
  const st = p.status as { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
  return (
    !p.metadata?.deletionTimestamp &&
    st?.phase === 'Running' &&
    !!st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** Why a pod is not ready, from its own conditions and container states: what `kubectl describe` would show. */
export function podProblem(p: KubeObject): { reason: string; message: string } | undefined {
  const st = p.status as
    | {
        phase?: string;
        conditions?: { type: string; status: string; reason?: string; message?: string }[];
        containerStatuses?: { name: string; state?: { waiting?: { reason?: string; message?: string } } }[];
      }
    | undefined;
  const name = p.metadata?.name;
  const sched = st?.conditions?.find((c) => c.type === 'PodScheduled');
  if (sched?.status === 'False')
    return { reason: 'PodUnschedulable', message: `pod ${name}: ${sched.message ?? sched.reason ?? 'not scheduled'}` };
  for (const cs of st?.containerStatuses ?? []) {
    const w = cs.state?.waiting;
    if (w?.reason)
      return {
        reason: 'ContainerWaiting',
        message: `pod ${name} container ${cs.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}`,
      };
  }
  if (p.metadata?.deletionTimestamp) return { reason: 'PodTerminating', message: `pod ${name} is terminating` };
  if (!podReady(p)) return { reason: 'PodNotReady', message: `pod ${name} is ${st?.phase ?? 'Pending'} and not Ready` };
  return undefined;
}

function masterCondition(o: ObservedCluster): ConditionInput {
  const d = o.masterDeployment;
  if (!d)
    return {
      type: 'MasterAvailable',
      status: 'False',
      reason: 'DeploymentMissing',
      message: 'the master Deployment does not exist yet',
    };
  const available = num((d.status as Record<string, unknown> | undefined)?.availableReplicas);
  if (available >= 1)
    return {
      type: 'MasterAvailable',
      status: 'True',
      reason: 'Available',
      message: `master Deployment ${d.metadata?.name} has an available pod`,
    };
  const problem = o.masterPods.map(podProblem).find((p) => p !== undefined);
  if (problem) return { type: 'MasterAvailable', status: 'False', ...problem };
  if (o.masterPods.length === 0) {
    const replicas = (d.spec as { replicas?: number } | undefined)?.replicas;
    const c = (
      (d.status as { conditions?: { type: string; status: string; reason?: string; message?: string }[] } | undefined)
        ?.conditions ?? []
    ).find((x) => x.status === 'False');
    if (replicas === 0)
      return {
        type: 'MasterAvailable',
        status: 'False',
        reason: 'ScaledToZero',
        message: `master Deployment ${d.metadata?.name} has 0 replicas`,
      };
    return {
      type: 'MasterAvailable',
      status: 'False',
      reason: c?.reason ?? 'NoPods',
      message: c?.message ?? `master Deployment ${d.metadata?.name} has no pods`,
    };
  }
  return {
    type: 'MasterAvailable',
    status: 'False',
    reason: 'Unavailable',
    message: `master Deployment ${d.metadata?.name} has no available pod`,
  };
}

/** Derives the SafeSquidCluster status from what the API server and the master report. */
export function clusterStatus(o: ObservedCluster): Record<string, unknown> {
  const sts = o.statefulSet;
  const stsSpec = sts?.spec as { replicas?: number; selector?: { matchLabels?: Record<string, string> } } | undefined;
  const stsStatus = sts?.status as { replicas?: number } | undefined;
  const desired = stsSpec?.replicas ?? o.desiredFallback;
  const readyPods = o.slavePods.filter(podReady);
  const ready = readyPods.length;
  const answer = o.registry === 'pending' ? undefined : o.registry;
  const registry = answer?.ok ? new Map(answer.slaves.map((s) => [s.name, s])) : undefined;
  const syncedNames =
    registry && o.policyHash
      ? readyPods.map((p) => p.metadata!.name!).filter((n) => registry.get(n)?.policyHash === o.policyHash)
      : [];
  const synced = syncedNames.length;

  const master = masterCondition(o);
  let slavesC: ConditionInput;
  if (!sts)
    slavesC = {
      type: 'SlavesAvailable',
      status: 'False',
      reason: 'StatefulSetMissing',
      message: 'the slave StatefulSet does not exist yet',
    };
  else if (desired === 0)
    slavesC = {
      type: 'SlavesAvailable',
      status: 'False',
      reason: 'ScaledToZero',
      message: 'no slaves are wanted (0 replicas)',
    };
  else if (ready >= desired)
    slavesC = {
      type: 'SlavesAvailable',
      status: 'True',
      reason: 'AllReady',
      message: `${ready}/${desired} slaves ready`,
    };
  else {
    const problem = o.slavePods.map(podProblem).find((p) => p !== undefined);
    slavesC = {
      type: 'SlavesAvailable',
      status: ready > 0 ? 'True' : 'False',
      reason: ready > 0 ? 'PartiallyReady' : (problem?.reason ?? 'NoSlavesReady'),
      message: `${ready}/${desired} slaves ready${problem ? `; ${problem.message}` : ''}`,
    };
  }

  let syncC: ConditionInput;
  if (!o.policyHash) {
    syncC = {
      type: 'PolicySynced',
      status: 'False',
      reason: o.policyRefused ? 'PolicyRefused' : 'NoPolicy',
      message: o.policyRefused
        ? `no policy could be compiled yet: ${o.policyRefused}`
        : 'the policy ConfigMap does not exist yet',
    };
  } else if (ready === 0)
    syncC = {
      type: 'PolicySynced',
      status: 'Unknown',
      reason: 'NoReadySlaves',
      message: 'no slave is ready to enforce the policy',
    };
  else if (!o.registry)
    syncC = {
      type: 'PolicySynced',
      status: 'Unknown',
      reason: 'MasterUnavailable',
      message: 'the master is not available to report its slaves',
    };
  else if (o.registry === 'pending')
    syncC = {
      type: 'PolicySynced',
      status: 'Unknown',
      reason: 'AskingMaster',
      message: `asking ${o.masterURL} for its slaves`,
    };
  else if (!o.registry.ok) {
    // While it stays unreachable the first error's wording stays: a DNS failure one minute and a
    // timeout the next is the same truth, and rewriting it would be a write per resync.
    const prev = (o.previous?.conditions as Condition[] | undefined)?.find((c) => c.type === 'PolicySynced');
    const prefix = `cannot read the slave registry at ${o.masterURL}: `;
    const message =
      prev?.reason === 'MasterUnreachable' && prev.message.startsWith(prefix)
        ? prev.message
        : `${prefix}${o.registry.error}`;
    syncC = { type: 'PolicySynced', status: 'Unknown', reason: 'MasterUnreachable', message };
  } else if (synced === ready)
    syncC = {
      type: 'PolicySynced',
      status: 'True',
      reason: 'AllSynced',
      message: `${synced}/${ready} ready slaves enforce ${o.policyHash}`,
    };
  else {
    const behind = readyPods.map((p) => p.metadata!.name!).filter((n) => !syncedNames.includes(n));
    syncC = {
      type: 'PolicySynced',
      status: 'False',
      reason: 'SlavesBehind',
      message: `${synced}/${ready} ready slaves enforce ${o.policyHash}; behind: ${behind.slice(0, 10).join(', ')}${behind.length > 10 ? ', ...' : ''}`,
    };
  }

  const degradedBy: ConditionInput[] = [];
  if (o.applyError) degradedBy.push({ type: 'Degraded', status: 'True', reason: 'ApplyFailed', message: o.applyError });
  if (o.policyRefused)
    degradedBy.push({
      type: 'Degraded',
      status: 'True',
      reason: 'PolicyRefused',
      message: `the previous policy stays in force: ${o.policyRefused}`,
    });
  if (o.noPolicySets)
    degradedBy.push({
      type: 'Degraded',
      status: 'True',
      reason: 'NoPolicySets',
      message: 'policySelector selects no PolicySet in this namespace',
    });
  if (master.status !== 'True')
    degradedBy.push({ type: 'Degraded', status: 'True', reason: 'MasterUnavailable', message: master.message });
  if (slavesC.status !== 'True' || slavesC.reason === 'PartiallyReady')
    degradedBy.push({ type: 'Degraded', status: 'True', reason: 'SlavesUnavailable', message: slavesC.message });
  const degraded = degradedBy[0] ?? {
    type: 'Degraded',
    status: 'False',
    reason: 'AsExpected',
    message: 'nothing is degraded',
  };

  const allTrue = [master, slavesC, syncC].every((c) => c.status === 'True') && slavesC.reason === 'AllReady';
  const notReady = [master, slavesC, syncC].find((c) => c.status !== 'True' || c.reason === 'PartiallyReady');
  const readyC: ConditionInput = allTrue
    ? {
        type: 'Ready',
        status: 'True',
        reason: 'Ready',
        message: `master available, ${ready}/${desired} slaves ready and enforcing the current policy`,
      }
    : { type: 'Ready', status: 'False', reason: notReady!.reason, message: `${notReady!.type}: ${notReady!.message}` };

  const svc = o.proxyService;
  const ingress = (svc?.status as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)
    ?.loadBalancer?.ingress?.[0];
  const clusterIP = (svc?.spec as { clusterIP?: string } | undefined)?.clusterIP;
  const host = ingress?.ip ?? ingress?.hostname ?? (clusterIP && clusterIP !== 'None' ? clusterIP : undefined);
  const endpoint = host ? `${host.includes(':') ? `[${host}]` : host}:${o.proxyPort}` : undefined;

  const previousConditions = (o.previous?.conditions as Condition[] | undefined) ?? undefined;
  return {
    observedGeneration: o.generation,
    policyHash: o.policyHash,
    policyHashShort: o.policyHash ? o.policyHash.replace(/^sha256:/, '').slice(0, 12) : undefined,
    slaves: { desired, ready, synced, summary: `${ready}/${desired}` },
    replicas: num(stsStatus?.replicas),
    selector: stsSpec?.selector?.matchLabels ? selectorString(stsSpec.selector.matchLabels) : undefined,
    masterURL: o.masterURL,
    proxyEndpoint: endpoint,
    conditions: mergeConditions(previousConditions, [readyC, master, slavesC, syncC, degraded], o.generation, o.now),
  };
}
