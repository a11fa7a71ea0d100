import type { Logger } from 'pino';
import type { PolicyBundle } from '@safesquid/proxy/policy';
import { applyClusterDefaults, validateClusterSpec, type DefaultedClusterSpec } from '../api/index.js';
import { applyIfChanged } from '../kube/apply.js';
import { isNotFound, type KubeClient, type KubeObject } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import type { Informer } from '../kube/informer.js';
import { objectPath, RESOURCES, resourceOf } from '../kube/resources.js';
import type { OperatorMetrics } from '../metrics.js';
import {
  buildChildren,
  buildSecrets,
  bundleInConfigMap,
  generatedSecretNames,
  generateSecretValue,
  masterUrl,
  POLICY_HASH_ANNOTATION,
  secretRefs,
  type ClusterRef,
  type SecretValues,
} from './children.js';
import { clusterStatus, type RegistryAnswer } from './cluster-status.js';
import { statusMergePatch } from './conditions.js';
import type { RegistryProber } from './registry-prober.js';
import type { Caches, WatchedKind } from './caches.js';
import { selectPolicySets, type PolicyCompiler } from './policy-compile.js';

export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=safesquid-operator';
export const PODS_SELECTOR = 'app.kubernetes.io/name=safesquid';
const INSTANCE = 'app.kubernetes.io/instance';
const COMPONENT = 'app.kubernetes.io/component';
/** Applied before the other children, which refer to them. */
const FIRST_ROUND = new Set(['ServiceAccount', 'Role', 'ConfigMap', 'PersistentVolumeClaim']);

export interface ClusterReconcilerDeps {
  client: KubeClient;
  logger: Logger;
  metrics: OperatorMetrics;
  caches: Caches;
  events: EventRecorder;
  compiler: PolicyCompiler;
  masterUrls: Map<string, string>;
  registry: RegistryProber;
  /** Let through the master's NetworkPolicy besides the slaves: the operator's own pods, to read the registry. */
  portalPeers?: Record<string, unknown>[];
}

export interface ReconcileOutcome {
  requeueAfterMs?: number;
  policySetsTouched?: boolean;
}

const decode = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined);

/**
 * One SafeSquidCluster: compile the PolicySets it selects, apply every child that differs from what
 * the API server holds, delete the children it no longer wants, and write a status derived from what
 * the API server and the master report. A second run over an unchanged cluster sends no write.
 */
export class ClusterReconciler {
  /** Secret values this process generated and applied, in case the Secret cache lags behind. */
  private readonly issued = new Map<string, SecretValues>();

  constructor(private readonly d: ClusterReconcilerDeps) {}

  private cache(kind: string): Informer | undefined {
    return (this.d.caches as Record<string, Informer>)[kind];
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileOutcome> {
    const key = `${namespace}/${name}`;
    const ssc = this.d.caches.SafeSquidCluster.get(key);
    if (!ssc || ssc.metadata?.deletionTimestamp) {
      this.issued.delete(key);
      this.d.registry.forget(key);
      return { policySetsTouched: true };
    }
    const log = this.d.logger.child({ cluster: key });
    const issues = validateClusterSpec(ssc.spec);
    if (issues.length) {
      const message = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      await this.d.events.record(ssc, 'Warning', 'InvalidSpec', message);
      await this.writeStatus(ssc, {
        ...(ssc.status as object),
        observedGeneration: ssc.metadata?.generation,
        conditions: invalidSpecConditions(ssc, message),
      });
      return {};
    }
    const spec = applyClusterDefaults(ssc.spec as never);
    const ref: ClusterRef = {
      metadata: { ...(ssc.metadata as ClusterRef['metadata']), name, namespace, uid: ssc.metadata!.uid! },
      spec,
    };

    // The generated Secrets' values (a read from the API server on a cache miss), beside the first round.
    const reading = this.secretValues(ref).then(
      (values) => ({ values }),
      (error: unknown) => ({ error }),
    );
    // Events are best effort (the recorder never throws): sent beside the work, awaited at the end.
    const recorded: Promise<void>[] = [];
    const sets = selectPolicySets(this.d.caches.PolicySet.list(namespace), namespace, spec.policySelector);
    const compiled = this.d.compiler.compile(sets);
    let bundle: PolicyBundle | undefined;
    if (compiled.ok) bundle = compiled.bundle;
    else {
      log.warn(
        { issues: compiled.issues.slice(0, 10) },
        'PolicySets refused by the policy engine; the previous policy stays',
      );
      recorded.push(
        this.d.events.record(
          ssc,
          'Warning',
          'PolicyRefused',
          `the previous policy stays in force: ${compiled.message}`,
        ),
      );
    }

    const policyName = `${name}-policy`;
    const inForce = bundle ?? bundleInConfigMap(this.d.caches.ConfigMap.get(`${namespace}/${policyName}`));
    let desired = buildChildren(ref, inForce, undefined, this.d.portalPeers);
    // A refused policy never reaches the ConfigMap: the one in force stays as it is.
    if (!bundle) desired = desired.filter((c) => !(c.kind === 'ConfigMap' && c.metadata?.name === policyName));
    if (desired.some((c) => c.kind === 'HorizontalPodAutoscaler')) {
      for (const c of desired) if (c.kind === 'StatefulSet') delete (c.spec as Record<string, unknown>).replicas;
    }

    let secretValues: SecretValues = {};
    const errors: string[] = [];
    const created: string[] = [];
    const updated: string[] = [];
    const applyOne = async (child: KubeObject) => {
      const kind = child.kind!;
      const inf = this.cache(kind);
      const live = inf?.get(`${child.metadata!.namespace}/${child.metadata!.name}`);
      try {
        const { outcome, object } = await applyIfChanged(this.d.client, child, live);
        if (outcome === 'unchanged') return;
        inf?.bump(object);
        this.d.metrics.childWrites.inc({ kind, outcome });
        log.info({ kind, name: child.metadata!.name, outcome }, `${kind} ${outcome}`);
        (outcome === 'created' ? created : updated).push(`${kind} ${child.metadata!.name}`);
        if (kind === 'Secret') this.rememberIssued(key, ref, secretValues);
      } catch (err) {
        const message = `${kind} ${child.metadata!.name}: ${err instanceof Error ? err.message : String(err)}`;
        errors.push(message);
        log.error({ kind, name: child.metadata!.name, err: message }, 'apply failed');
      }
    };
    // Two rounds of parallel applies, each child once: first what the others refer to (a RoleBinding
    // needs its Role; pods their ServiceAccount, ConfigMap and claim), then the rest with the generated
    // Secrets, whose values may have needed the read above (pods are made by controllers after their
    // workload exists, and the kubelet waits for a Secret it mounts).
    await Promise.all(desired.filter((c) => FIRST_ROUND.has(c.kind!)).map(applyOne));
    const read = await reading;
    if ('error' in read) {
      await Promise.all(recorded);
      throw read.error;
    }
    secretValues = read.values;
    desired = [...buildSecrets(ref, secretValues), ...desired];
    await Promise.all(desired.filter((c) => !FIRST_ROUND.has(c.kind!)).map(applyOne));
    // One Event per reconcile and outcome, not one per child: a new cluster is one story.
    if (created.length) recorded.push(this.d.events.record(ssc, 'Normal', 'Created', `created ${created.join(', ')}`));
    if (updated.length)
      recorded.push(this.d.events.record(ssc, 'Normal', 'Updated', `updated to match the spec: ${updated.join(', ')}`));
    if (errors.length) recorded.push(this.d.events.record(ssc, 'Warning', 'ApplyFailed', errors.join('; ')));
    try {
      await this.prune(ssc, desired, log);
    } finally {
      await Promise.all(recorded);
    }

    const status = await this.observe(ssc, spec, ref, secretValues, {
      policyRefused: compiled.ok ? undefined : compiled.message,
      noPolicySets: sets.length === 0,
      applyError: errors.length ? errors.join('; ') : undefined,
    });
    await this.writeStatus(ssc, status, log);
    if (errors.length) throw new Error(`applying children of ${key} failed: ${errors.join('; ')}`);
    return { policySetsTouched: true };
  }

  private rememberIssued(key: string, ref: ClusterRef, values: SecretValues): void {
    if (Object.keys(generatedSecretNames(ref)).length) this.issued.set(key, values);
  }

  /** The generated Secrets' values: kept from the live Secrets, generated only when there are none. */
  private async secretValues(ref: ClusterRef): Promise<SecretValues> {
    const key = `${ref.metadata.namespace}/${ref.metadata.name}`;
    const names = generatedSecretNames(ref);
    const issued = this.issued.get(key);
    const read = async (secretName: string): Promise<Record<string, string> | undefined> => {
      let s = this.d.caches.Secret.get(`${ref.metadata.namespace}/${secretName}`);
      if (!s) {
        // A cache miss may be lag: ask the API server before minting a new token over a live one.
        try {
          s = await this.d.client.request('GET', objectPath(RESOURCES.Secret, ref.metadata.namespace, secretName));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      return s?.data as Record<string, string> | undefined;
    };
    const values: SecretValues = {};
    const [syncData, adminData] = await Promise.all([
      names.syncToken ? read(names.syncToken) : undefined,
      names.admin ? read(names.admin) : undefined,
    ]);
    if (names.syncToken) {
      values.syncToken = decode(syncData?.token) || issued?.syncToken || generateSecretValue();
    }
    if (names.admin) {
      const data = adminData;
      values.adminPassword = decode(data?.password) || issued?.adminPassword || generateSecretValue();
      values.adminToken = decode(data?.token) || issued?.adminToken || generateSecretValue();
    }
    return values;
  }

  private async adminToken(ref: ClusterRef, values: SecretValues): Promise<string | undefined> {
    if (values.adminToken) return values.adminToken;
    const { admin } = secretRefs(ref);
    try {
      const s = await this.d.client.request('GET', objectPath(RESOURCES.Secret, ref.metadata.namespace, admin.name));
      return decode((s.data as Record<string, string> | undefined)?.[admin.tokenKey]);
    } catch {
      return undefined;
    }
  }

  /** Deletes children this cluster controls that the spec no longer calls for (an HPA after `slaves.replicas` is set). */
  private async prune(ssc: KubeObject, desired: KubeObject[], log: Logger): Promise<void> {
    const uid = ssc.metadata!.uid;
    const wanted = new Set(desired.map((c) => `${c.kind}/${c.metadata!.name}`));
    for (const kind of Object.keys(this.d.caches) as WatchedKind[]) {
      if (kind === 'SafeSquidCluster' || kind === 'PolicySet' || kind === 'Pod') continue;
      // The policy ConfigMap stays while the policy is refused: it is left out of `desired` on purpose.
      for (const obj of this.d.caches[kind].list(ssc.metadata!.namespace)) {
        if (!obj.metadata?.ownerReferences?.some((r) => r.uid === uid && r.controller)) continue;
        if (wanted.has(`${kind}/${obj.metadata.name}`) || obj.metadata.deletionTimestamp) continue;
        if (kind === 'ConfigMap' && obj.metadata.name === `${ssc.metadata!.name}-policy`) continue;
        try {
          await this.d.client.request(
            'DELETE',
            objectPath(resourceOf(obj), obj.metadata.namespace, obj.metadata.name!),
            {
              body: {
                kind: 'DeleteOptions',
                apiVersion: 'v1',
                propagationPolicy: 'Background',
                preconditions: { uid: obj.metadata.uid },
              },
            },
          );
          log.info({ kind, name: obj.metadata.name }, `${kind} deleted: no longer part of the spec`);
          await this.d.events.record(
            ssc,
            'Normal',
            'Deleted',
            `deleted ${kind} ${obj.metadata.name}: no longer part of the spec`,
          );
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }
  }

  private async observe(
    ssc: KubeObject,
    spec: DefaultedClusterSpec,
    ref: ClusterRef,
    values: SecretValues,
    o: { policyRefused?: string; noPolicySets: boolean; applyError?: string },
  ): Promise<Record<string, unknown>> {
    const ns = ref.metadata.namespace;
    const name = ref.metadata.name;
    const c = this.d.caches;
    const pods = c.Pod.list(ns).filter((p) => p.metadata?.labels?.[INSTANCE] === name);
    const cm = c.ConfigMap.get(`${ns}/${name}-policy`);
    const policyHash = cm?.metadata?.annotations?.[POLICY_HASH_ANNOTATION];
    const masterDeployment = c.Deployment.get(`${ns}/${name}-master`);
    const override = this.d.masterUrls.get(`${ns}/${name}`);
    const masterURL = override ?? masterUrl(ref);
    const masterAvailable =
      ((masterDeployment?.status as { availableReplicas?: number } | undefined)?.availableReplicas ?? 0) >= 1;
    let registry: RegistryAnswer | 'pending' | undefined;
    const key = `${ns}/${name}`;
    if (masterAvailable || override) {
      const token = await this.adminToken(ref, values);
      // The prober polls in the background and queues the cluster when the answer changes.
      registry = token
        ? (this.d.registry.latest(key, masterURL, token) ?? 'pending')
        : { ok: false, error: 'the admin Secret has no token' };
    } else this.d.registry.forget(key);
    return clusterStatus({
      generation: ssc.metadata?.generation,
      previous: ssc.status as Record<string, unknown> | undefined,
      policyHash,
      policyRefused: o.policyRefused,
      noPolicySets: o.noPolicySets,
      masterDeployment,
      masterPods: pods.filter((p) => p.metadata?.labels?.[COMPONENT] === 'master'),
      statefulSet: c.StatefulSet.get(`${ns}/${name}-slave`),
      desiredFallback: spec.slaves.replicas ?? spec.slaves.minReplicas,
      slavePods: pods.filter((p) => p.metadata?.labels?.[COMPONENT] === 'slave'),
      proxyService: c.Service.get(`${ns}/${name}-proxy`),
      proxyPort: spec.slaves.proxyPort,
      masterURL,
      registry,
      applyError: o.applyError,
      now: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
  }

  private async writeStatus(ssc: KubeObject, status: Record<string, unknown>, log?: Logger): Promise<void> {
    const patch = statusMergePatch(ssc.status as Record<string, unknown> | undefined, status);
    if (!patch) return;
    const conditions = (patch.conditions as { type: string; status: string; reason: string }[] | undefined)?.map(
      (c) => `${c.type}=${c.status}/${c.reason}`,
    );
    log?.info({ changed: Object.keys(patch), conditions }, 'status updated');
    const m = ssc.metadata!;
    const updated = await this.d.client.request(
      'PATCH',
      objectPath(RESOURCES.SafeSquidCluster, m.namespace, m.name!, 'status'),
      {
        contentType: 'application/merge-patch+json',
        body: { status: patch },
      },
    );
    this.d.caches.SafeSquidCluster.bump(updated);
  }
}

function invalidSpecConditions(ssc: KubeObject, message: string) {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const prev =
    (ssc.status as { conditions?: { type: string; status: string; lastTransitionTime: string }[] } | undefined)
      ?.conditions ?? [];
  const keep = (type: string, status: string) =>
    prev.find((c) => c.type === type && c.status === status)?.lastTransitionTime ?? now;
  const g = ssc.metadata?.generation;
  return [
    {
      type: 'Ready',
      status: 'False',
      observedGeneration: g,
      lastTransitionTime: keep('Ready', 'False'),
      reason: 'InvalidSpec',
      message,
    },
    {
      type: 'Degraded',
      status: 'True',
      observedGeneration: g,
      lastTransitionTime: keep('Degraded', 'True'),
      reason: 'InvalidSpec',
      message,
    },
  ];
}
