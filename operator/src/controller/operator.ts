import type { Logger } from 'pino';
import { Informer } from '../kube/informer.js';
import type { KubeClient, KubeObject } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import { RESOURCES } from '../kube/resources.js';
import { WorkQueue } from '../kube/work-queue.js';
import type { OperatorMetrics } from '../metrics.js';
import { ClusterReconciler, MANAGED_BY_SELECTOR, PODS_SELECTOR } from './cluster-reconciler.js';
import { PolicyCompiler } from './policy-compile.js';
import { PolicySetStatusReconciler } from './policyset-status.js';
import { RegistryProber } from './registry-prober.js';
import { SlaveTaskController } from './slave-tasks.js';
import { WATCHED_KINDS, type Caches, type WatchedKind } from './caches.js';

export interface OperatorOptions {
  client: KubeClient;
  logger: Logger;
  metrics: OperatorMetrics;
  /** Only this namespace; all when undefined. */
  namespace?: string;
  resyncMs: number;
  concurrency: number;
  /** "ns/name" → master URL, for an operator run outside the cluster. */
  masterUrls: Map<string, string>;
  identity: string;
  portalPeers?: Record<string, unknown>[];
}

/** Of a Pod, status needs its identity, labels, owner, node and readiness: a fifth of its size. */
function slimPod(p: KubeObject): KubeObject {
  const m = p.metadata ?? {};
  const st = (p.status ?? {}) as {
    phase?: string;
    conditions?: unknown[];
    containerStatuses?: { name: string; state?: { waiting?: unknown } }[];
  };
  return {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      labels: m.labels,
      ownerReferences: m.ownerReferences,
      deletionTimestamp: m.deletionTimestamp,
    },
    spec: { nodeName: (p.spec as { nodeName?: string } | undefined)?.nodeName },
    status: {
      phase: st.phase,
      conditions: st.conditions,
      containerStatuses: st.containerStatuses?.map((c) => ({
        name: c.name,
        state: c.state?.waiting ? { waiting: c.state.waiting } : undefined,
      })),
    },
  };
}

const CLUSTER_KEY = 'ssc/';
const POLICYSETS_KEY = 'psets/';

/**
 * Wires caches, the work queue and the reconcilers. Caches run from start() so a standby replica is
 * warm; keys are processed only between startReconciling() and stopReconciling() (leadership).
 */
export class SafeSquidOperator {
  readonly caches: Caches;
  readonly queue: WorkQueue;
  readonly events: EventRecorder;
  private readonly clusters: ClusterReconciler;
  private readonly policySets: PolicySetStatusReconciler;
  private readonly registry: RegistryProber;
  private readonly tasks: SlaveTaskController;
  private resyncTimer: NodeJS.Timeout | undefined;
  private reconciling = false;

  constructor(private readonly o: OperatorOptions) {
    const log = o.logger;
    const informer = (kind: WatchedKind, labelSelector?: string) =>
      new Informer(o.client, RESOURCES[kind], log.child({ component: 'informer' }), {
        namespace: o.namespace,
        labelSelector,
        transform: kind === 'Pod' ? slimPod : undefined,
        onRestart: (reason) => o.metrics.watchRestarts.inc({ kind, reason }),
      });
    this.caches = {} as Caches;
    for (const kind of WATCHED_KINDS) {
      const selector =
        kind === 'SafeSquidCluster' || kind === 'PolicySet'
          ? undefined
          : kind === 'Pod'
            ? PODS_SELECTOR
            : MANAGED_BY_SELECTOR;
      this.caches[kind] = informer(kind, selector);
    }
    this.events = new EventRecorder(o.client, log, 'safesquid-operator', o.identity);
    const compiler = new PolicyCompiler();
    this.registry = new RegistryProber({ logger: log, onChange: (key) => this.queue.add(`${CLUSTER_KEY}${key}`) });
    this.clusters = new ClusterReconciler({
      ...o,
      caches: this.caches,
      events: this.events,
      compiler,
      registry: this.registry,
    });
    this.tasks = new SlaveTaskController({ ...o, caches: this.caches, events: this.events });
    this.policySets = new PolicySetStatusReconciler({
      client: o.client,
      logger: log,
      caches: this.caches,
      events: this.events,
      compiler,
    });
    this.queue = new WorkQueue((key) => this.process(key), {
      concurrency: o.concurrency,
      baseDelayMs: 500,
      maxDelayMs: 60_000,
      onError: (key, err, attempt, retryInMs) =>
        log.error(
          { key, attempt, retryInMs, err: err instanceof Error ? err.message : String(err) },
          'reconcile failed; retrying',
        ),
    });
    this.wireEvents();
  }

  private wireEvents(): void {
    const c = this.caches;
    c.SafeSquidCluster.on((_ev, obj, old) => {
      this.enqueueCluster(obj);
      // A selector change alters which PolicySets the cluster takes: their status says so.
      if (!old || JSON.stringify(old.spec) !== JSON.stringify(obj.spec) || _ev === 'delete')
        this.enqueuePolicySets(obj.metadata?.namespace);
    });
    c.PolicySet.on((ev, obj, old) => {
      // Only spec or label changes matter to clusters; a status write of our own does not.
      if (
        ev === 'update' &&
        old &&
        old.metadata?.generation === obj.metadata?.generation &&
        JSON.stringify(old.metadata?.labels) === JSON.stringify(obj.metadata?.labels)
      ) {
        return;
      }
      const ns = obj.metadata?.namespace;
      for (const ssc of c.SafeSquidCluster.list(ns)) this.enqueueCluster(ssc);
      this.enqueuePolicySets(ns);
    });
    for (const kind of WATCHED_KINDS) {
      if (kind === 'SafeSquidCluster' || kind === 'PolicySet') continue;
      c[kind].on((_ev, obj) => {
        const owner = obj.metadata?.ownerReferences?.find((r) => r.kind === 'SafeSquidCluster' && r.controller);
        const name = owner?.name ?? obj.metadata?.labels?.['app.kubernetes.io/instance'];
        if (name && obj.metadata?.namespace) this.queue.add(`${CLUSTER_KEY}${obj.metadata.namespace}/${name}`);
        this.o.metrics.queueDepth.set(this.queue.depth);
      });
    }
  }

  private enqueueCluster(obj: KubeObject): void {
    this.queue.add(`${CLUSTER_KEY}${obj.metadata?.namespace}/${obj.metadata?.name}`);
    this.o.metrics.queueDepth.set(this.queue.depth);
  }

  private enqueuePolicySets(namespace: string | undefined): void {
    // Batched: one pass for the namespace after a burst of cluster reconciles.
    if (namespace) this.queue.addAfter(`${POLICYSETS_KEY}${namespace}`, 300);
  }

  private async process(key: string) {
    this.o.metrics.queueDepth.set(this.queue.depth);
    const kind = key.startsWith(CLUSTER_KEY) ? 'SafeSquidCluster' : 'PolicySet';
    const end = this.o.metrics.reconcileSeconds.startTimer({ kind });
    try {
      let result;
      if (key.startsWith(CLUSTER_KEY)) {
        const [namespace, name] = key.slice(CLUSTER_KEY.length).split('/');
        result = await this.clusters.reconcile(namespace, name);
        if (result?.policySetsTouched) this.enqueuePolicySets(namespace);
        // Tasks asked for by annotation (slave-tasks.ts): look again sooner while one is unfinished.
        const task = await this.tasks.reconcile(namespace, name);
        if (task.requeueAfterMs && !(result?.requeueAfterMs && result.requeueAfterMs < task.requeueAfterMs))
          result = { ...result, requeueAfterMs: task.requeueAfterMs };
      } else {
        await this.policySets.reconcile(key.slice(POLICYSETS_KEY.length));
      }
      this.o.metrics.reconciles.inc({ kind, result: result?.requeueAfterMs ? 'requeue' : 'success' });
      return result;
    } catch (err) {
      this.o.metrics.reconciles.inc({ kind, result: 'error' });
      throw err;
    } finally {
      end();
      this.o.metrics.queueDepth.set(this.queue.depth);
    }
  }

  /** Starts every cache (standby replicas keep theirs warm). */
  start(): void {
    for (const inf of Object.values(this.caches)) inf.start();
  }

  get synced(): boolean {
    return Object.values(this.caches).every((inf) => inf.isSynced);
  }

  async waitForSync(): Promise<void> {
    await Promise.all(Object.values(this.caches).map((inf) => inf.synced));
  }

  /** Leadership: process keys, with every cluster queued now and at each resync. */
  async startReconciling(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    await this.waitForSync();
    if (!this.reconciling) return;
    this.queue.start();
    this.registry.start();
    this.resyncAll();
    this.resyncTimer = setInterval(() => this.resyncAll(), this.o.resyncMs);
  }

  private resyncAll(): void {
    const namespaces = new Set<string>();
    for (const ssc of this.caches.SafeSquidCluster.list()) {
      this.enqueueCluster(ssc);
      namespaces.add(ssc.metadata!.namespace!);
    }
    for (const ps of this.caches.PolicySet.list()) namespaces.add(ps.metadata!.namespace!);
    for (const ns of namespaces) this.enqueuePolicySets(ns);
    this.o.logger.debug({ clusters: this.caches.SafeSquidCluster.size }, 'resync');
  }

  async stopReconciling(): Promise<void> {
    this.reconciling = false;
    clearInterval(this.resyncTimer);
    this.registry.stop();
    await this.queue.stop();
  }

  async stop(): Promise<void> {
    await this.stopReconciling();
    await Promise.all(Object.values(this.caches).map((inf) => inf.stop()));
  }
}
