import type { Logger } from 'pino';
import { sleep } from './sleep.js';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from './client.js';
import { collectionPath, objectPath, RESOURCES } from './resources.js';
import { OPERATOR_LOG } from '../log-messages.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a lease holds without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** A leader that could not renew for this long steps down (default 10 s). */
  renewDeadlineMs?: number;
  /** Between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  /**
   * The candidate's own Pod (same namespace as the Lease). While leading, the Lease names it as an
   * owner, so the garbage collector deletes the Lease once that Pod is gone without releasing it.
   * That is what happens at `helm uninstall`: the RBAC is deleted while the Pod is still stopping,
   * so release() is refused, and without an owner the Lease would outlive the release.
   */
  ownerPod?: { name: string; uid: string };
  onStartedLeading: () => void;
  /** Called once when leadership is lost without release (renewal failed past the deadline). */
  onStoppedLeading: () => void;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; ownerReferences?: OwnerReference[] };
  spec?: LeaseSpec;
}

/** The Lease's owner references with a candidate's Pod replaced by `pod` (none: no Pod at all). */
export function withOwnerPod(
  refs: OwnerReference[] | undefined,
  pod: { name: string; uid: string } | undefined,
): OwnerReference[] {
  const others = (refs ?? []).filter((r) => !(r.apiVersion === 'v1' && r.kind === 'Pod'));
  return pod ? [...others, { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid }] : others;
}

/** RFC 3339 with microseconds, the MicroTime format the Lease API requires. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Leader election on a coordination.k8s.io Lease, as client-go does it: a candidate takes the lease
 * when it is free or when its record has not changed for a lease duration *as observed on the local
 * clock* (so clocks of different nodes never need to agree); the leader renews every retry period
 * and steps down when it could not renew within the renew deadline; release() empties the holder so
 * another candidate takes over at its next attempt instead of waiting the lease out. Writes are
 * optimistic (resourceVersion), so two candidates can never both win one round.
 */
export class LeaderElector {
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private readonly abort = new AbortController();
  private observed: { record: string; at: number } | undefined;
  private lease: Lease | undefined;
  private leading = false;
  private lastRenew = 0;
  private loop: Promise<void> | undefined;
  transitions = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly logger: Logger,
  ) {
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    this.now = opts.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  private path(): string {
    return objectPath(RESOURCES.Lease, this.opts.namespace, this.opts.name);
  }

  private observe(lease: Lease | undefined): void {
    const s = lease?.spec ?? {};
    const record = JSON.stringify([
      s.holderIdentity ?? '',
      s.renewTime ?? '',
      s.acquireTime ?? '',
      s.leaseDurationSeconds ?? 0,
    ]);
    if (this.observed?.record !== record) this.observed = { record, at: this.now() };
    this.lease = lease;
  }

  /** One round: true when we hold the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const mine: LeaseSpec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.round(this.leaseMs / 1000),
      renewTime: microTime(now),
    };
    let current: Lease | undefined;
    try {
      current = await this.client.request<Lease>('GET', this.path());
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!current) {
      const created = await this.client
        .request<Lease>('POST', collectionPath(RESOURCES.Lease, this.opts.namespace), {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {
              name: this.opts.name,
              namespace: this.opts.namespace,
              ...(this.opts.ownerPod ? { ownerReferences: withOwnerPod(undefined, this.opts.ownerPod) } : {}),
            },
            spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 },
          },
        })
        .catch((err) => {
          if (err instanceof KubeApiError && err.status === 409) return undefined; // another candidate was first
          throw err;
        });
      this.observe(created);
      return created !== undefined;
    }
    this.observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? Math.round(this.leaseMs / 1000)) * 1000;
    if (holder && holder !== this.opts.identity && this.observed!.at + durationMs > now) return false;
    const next: Lease = {
      ...current,
      metadata: this.opts.ownerPod
        ? { ...current.metadata, ownerReferences: withOwnerPod(current.metadata.ownerReferences, this.opts.ownerPod) }
        : current.metadata,
      spec: {
        ...spec,
        ...mine,
        acquireTime: holder === this.opts.identity ? spec.acquireTime : microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === this.opts.identity ? 0 : 1),
      },
    };
    try {
      const updated = await this.client.request<Lease>('PUT', this.path(), { body: next });
      this.observe(updated);
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote it first; look again next round
      throw err;
    }
  }

  /** When not leading: wait the retry period, or less when the observed lease expires sooner. */
  private nextAttemptIn(): number {
    if (this.leading || !this.observed || !this.lease?.spec?.holderIdentity) return this.retryMs;
    const durationMs = (this.lease.spec.leaseDurationSeconds ?? 15) * 1000;
    const expiresIn = this.observed.at + durationMs - this.now() + 10;
    return Math.max(50, Math.min(this.retryMs, expiresIn));
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.logger.warn(
          { err: err instanceof Error ? err.message : String(err), lease: `${this.opts.namespace}/${this.opts.name}` },
          'lease request failed',
        );
      }
      if (signal.aborted) break;
      if (ok) {
        this.lastRenew = this.now();
        if (!this.leading) {
          this.leading = true;
          this.transitions++;
          this.logger.info(
            { identity: this.opts.identity, lease: `${this.opts.namespace}/${this.opts.name}` },
            OPERATOR_LOG.becameLeader,
          );
          this.opts.onStartedLeading();
        }
      } else if (this.leading && this.now() - this.lastRenew > this.renewDeadlineMs) {
        this.leading = false;
        this.logger.error(
          { identity: this.opts.identity },
          'leadership lost: could not renew the lease within the renew deadline',
        );
        this.opts.onStoppedLeading();
        return;
      }
      await sleep(this.nextAttemptIn(), signal);
    }
  }

  /** Stops campaigning; a leader empties the holder so another candidate takes over at once. */
  async release(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (!this.leading) return;
    this.leading = false;
    try {
      const current = await this.client.request<Lease>('GET', this.path());
      if (current.spec?.holderIdentity !== this.opts.identity) return;
      await this.client.request('PUT', this.path(), {
        body: {
          ...current,
          // A released Lease belongs to no Pod: the next leader's Pod becomes its owner, and this
          // Pod's deletion must not take the Lease from under that leader.
          metadata: { ...current.metadata, ownerReferences: withOwnerPod(current.metadata.ownerReferences, undefined) },
          spec: {
            ...current.spec,
            holderIdentity: null,
            leaseDurationSeconds: 1,
            acquireTime: null,
            renewTime: microTime(this.now()),
          },
        },
      });
      this.logger.info({ identity: this.opts.identity }, 'lease released');
    } catch (err) {
      if (isNotFound(err)) return; // deleted already (its owner Pod is gone): nothing to release
      this.logger.warn(
        { err: err instanceof Error ? err.message : String(err), ownerPod: this.opts.ownerPod?.name },
        this.opts.ownerPod
          ? 'could not release the lease; it expires on its own and is deleted with this Pod'
          : 'could not release the lease; it expires on its own',
      );
    }
  }
}
