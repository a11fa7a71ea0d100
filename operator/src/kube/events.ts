import type { Logger } from 'pino';
import type { KubeClient, KubeObject } from './client.js';
import { collectionPath, RESOURCES } from './resources.js';

export type EventType = 'Normal' | 'Warning';

/**
 * Records core/v1 Events about objects (what `kubectl describe` shows). The same event about the same
 * object within `dedupMs` is sent once: reconciles repeat, the story they tell should not. Best effort:
 * a failure to record is logged, never fails a reconcile.
 */
export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly logger: Logger,
    private readonly component = 'safesquid-operator',
    private readonly instance = '',
    private readonly dedupMs = 10 * 60_000,
  ) {}

  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = obj.metadata ?? {};
    const key = `${m.uid}|${type}|${reason}|${message}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.dedupMs) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) for (const [k, t] of this.recent) if (now - t >= this.dedupMs) this.recent.delete(k);
    const time = new Date(now).toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${m.name}.`, namespace: m.namespace ?? 'default' },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
    try {
      await this.client.request('POST', collectionPath(RESOURCES.Event, m.namespace ?? 'default'), { body });
    } catch (err) {
      this.recent.delete(key);
      this.logger.warn(
        {
          err: err instanceof Error ? err.message : String(err),
          reason,
          object: `${obj.kind}/${m.namespace}/${m.name}`,
        },
        'could not record an event',
      );
    }
  }
}
