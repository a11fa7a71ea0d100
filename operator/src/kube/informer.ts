import type { Logger } from 'pino';
import { backoffDelay } from '@safesquid/proxy/backoff';
import { sleep } from './sleep.js';
import { isGone, type KubeClient, type KubeObject } from './client.js';
import { collectionPath, keyOf, type ResourceType } from './resources.js';

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler = (event: InformerEvent, obj: KubeObject, old?: KubeObject) => void;

export interface InformerOptions {
  /** Only this namespace; all namespaces when unset. */
  namespace?: string;
  labelSelector?: string;
  /** Page size of the initial and re-lists. */
  pageSize?: number;
  /** Keeps only what the operator reads of each object (applied before caching). */
  transform?: (obj: KubeObject) => KubeObject;
  /** Called on every error that made the informer re-list or back off (metrics, tests). */
  onRestart?: (reason: 'expired' | 'error', err: unknown) => void;
}

interface ListAnswer {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubeObject[];
}

/**
 * A local cache of one kind kept current from the API server: list, then watch from the list's
 * resourceVersion; a 410 Gone (the version left etcd's window) means re-list and report the
 * differences as events; any other failure retries the watch with exponential backoff. Objects are
 * cached without managedFields (nothing here reads them; they are most of an object's size).
 */
export class Informer {
  private readonly store = new Map<string, KubeObject>();
  private readonly handlers: InformerHandler[] = [];
  private readonly abort = new AbortController();
  private resourceVersion: string | undefined;
  private syncedResolve!: () => void;
  /** Resolves once the first list is in the cache. */
  readonly synced: Promise<void> = new Promise((r) => (this.syncedResolve = r));
  private loop: Promise<void> | undefined;
  /** True once the first list is in the cache. */
  isSynced = false;
  relists = 0;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceType,
    private readonly logger: Logger,
    private readonly opts: InformerOptions = {},
  ) {}

  on(handler: InformerHandler): void {
    this.handlers.push(handler);
  }

  get(key: string): KubeObject | undefined {
    return this.store.get(key);
  }

  list(namespace?: string): KubeObject[] {
    const all = [...this.store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  get size(): number {
    return this.store.size;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /**
   * Puts an object the operator just wrote into the cache without an event, unless the cache already
   * holds a newer version: the next reconcile sees its own write even before the watch delivers it,
   * and the watch event of that same version then changes nothing.
   */
  bump(obj: KubeObject): void {
    const key = keyOf(obj);
    const cached = this.store.get(key);
    const rv = Number(obj.metadata?.resourceVersion);
    const cachedRv = Number(cached?.metadata?.resourceVersion);
    if (cached && !(rv > cachedRv)) return;
    const copy = {
      ...obj,
      apiVersion: obj.apiVersion ?? this.resource.apiVersion,
      kind: obj.kind ?? this.resource.kind,
    };
    if (copy.metadata) copy.metadata = { ...copy.metadata, managedFields: undefined };
    this.store.set(key, copy);
  }

  private emit(event: InformerEvent, obj: KubeObject, old?: KubeObject): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.logger.error({ err, kind: this.resource.kind }, 'informer handler failed');
      }
    }
  }

  private put(obj: KubeObject): void {
    if (obj.metadata) delete obj.metadata.managedFields;
    if (this.opts.transform) obj = this.opts.transform(obj);
    const key = keyOf(obj);
    const old = this.store.get(key);
    // An older version than one bump() stored: the watch has not caught up with our own write yet.
    if (old && Number(old.metadata?.resourceVersion) > Number(obj.metadata?.resourceVersion)) return;
    this.store.set(key, obj);
    if (!old) this.emit('add', obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
  }

  private remove(obj: KubeObject): void {
    const key = keyOf(obj);
    const old = this.store.get(key);
    this.store.delete(key);
    this.emit('delete', old ?? obj);
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let cont: string | undefined;
    let rv: string | undefined;
    const path = collectionPath(this.resource, this.opts.namespace);
    do {
      const page = await this.client.request<ListAnswer>('GET', path, {
        query: { limit: this.opts.pageSize ?? 500, continue: cont, labelSelector: this.opts.labelSelector },
      });
      for (const item of page.items ?? []) {
        // List items carry no apiVersion/kind; handlers and appliers want them.
        item.apiVersion ??= this.resource.apiVersion;
        item.kind ??= this.resource.kind;
        seen.add(keyOf(item));
        this.put(item);
      }
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion;
    } while (cont);
    for (const [key, obj] of [...this.store]) if (!seen.has(key)) this.remove(obj);
    this.resourceVersion = rv;
    this.relists++;
  }

  private async run(): Promise<void> {
    let failures = 0;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) {
          await this.relist();
          this.isSynced = true;
          this.syncedResolve();
        }
        await this.client.watch(
          collectionPath(this.resource, this.opts.namespace),
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: this.opts.labelSelector,
            // The server ends the watch after this; it is then resumed from the last version seen.
            timeoutSeconds: 240 + Math.floor(Math.random() * 120),
          },
          (type, obj) => {
            failures = 0;
            if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
            if (type === 'BOOKMARK') return;
            if (type === 'DELETED') this.remove(obj);
            else this.put(obj);
          },
          signal,
        );
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.logger.info({ kind: this.resource.kind }, 'watch expired (410); re-listing');
          this.opts.onRestart?.('expired', err);
          this.resourceVersion = undefined;
          continue;
        }
        failures++;
        const delay = backoffDelay(failures, { initialMs: 250, maxMs: 30_000 });
        this.logger.warn(
          { kind: this.resource.kind, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
          'watch failed; retrying',
        );
        this.opts.onRestart?.('error', err);
        // After repeated failures start over with a list: the watch may fail because the cache is stale.
        if (failures >= 3) this.resourceVersion = undefined;
        await sleep(delay, signal);
      }
    }
  }
}
