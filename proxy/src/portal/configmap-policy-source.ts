import { CoreV1Api, KubeConfig, Watch, type V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay } from '../net/backoff.js';
import { loadPolicyContent } from './file-policy-source.js';
import type { PolicyCompiler } from './policy-compiler.js';
import type { PolicyHub } from './policy-hub.js';
import { LOG } from '../log-messages.js';

/** Keys tried, in order, when the ConfigMap holds several: the compiled bundle first. */
const PREFERRED_KEYS = ['bundle.json', 'policy.json', 'policy.yaml'];

export function pickPolicyKey(data: Record<string, string> | undefined): string | undefined {
  if (!data) return undefined;
  return (
    PREFERRED_KEYS.find((k) => k in data) ??
    Object.keys(data)
      .sort()
      .find((k) => /\.(json|ya?ml)$/.test(k))
  );
}

/**
 * Kubernetes mode, in-cluster: watches the operator's policy ConfigMap through the API (list, then
 * watch from its resourceVersion, re-listing whenever the watch ends), so a change reaches the
 * master as soon as the API server has it, rather than after the kubelet's volume sync (which can
 * take a minute). A ConfigMap that does not load is logged and the previous policy stays.
 */
export class ConfigMapPolicySource {
  readonly kind = 'configmap' as const;
  readonly editable = false;
  private readonly kc: KubeConfig;
  private stopped = false;
  private watchAbort: AbortController | undefined;
  private lastText: string | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    readonly namespace: string,
    readonly name: string,
    private readonly hub: PolicyHub,
    private readonly compiler: PolicyCompiler,
    private readonly logger: Logger,
    kubeConfig?: KubeConfig,
  ) {
    if (kubeConfig) this.kc = kubeConfig;
    else {
      this.kc = new KubeConfig();
      this.kc.loadFromDefault();
    }
  }

  get description(): string {
    return `ConfigMap ${this.namespace}/${this.name}`;
  }

  /** Resolves after the first successful read (throws when the ConfigMap cannot be read or loaded). */
  async start(): Promise<void> {
    const rv = await this.list(true);
    this.loop = this.watchLoop(rv);
  }

  private async list(initial: boolean): Promise<string | undefined> {
    const api = this.kc.makeApiClient(CoreV1Api);
    let list;
    try {
      list = await api.listNamespacedConfigMap({
        namespace: this.namespace,
        fieldSelector: `metadata.name=${this.name}`,
      });
    } catch (err) {
      throw new Error(
        `cannot read ${this.description} from the Kubernetes API: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const cm = list.items[0];
    if (!cm) {
      if (initial && !this.hub.current) throw new Error(`${this.description} does not exist`);
      this.logger.warn({ configMap: this.description }, 'policy ConfigMap not found; keeping the current policy');
    } else this.handle(cm, initial);
    return list.metadata?.resourceVersion;
  }

  private handle(cm: V1ConfigMap, initial: boolean): void {
    const key = pickPolicyKey(cm.data);
    if (!key) {
      const message = `${this.description} has no policy key (expected one of ${PREFERRED_KEYS.join(', ')})`;
      if (initial && !this.hub.current) throw new Error(message);
      this.logger.error({ keys: Object.keys(cm.data ?? {}) }, message);
      return;
    }
    const text = cm.data![key];
    if (text === this.lastText) return;
    this.lastText = text;
    const origin = `${this.description} key ${key}`;
    try {
      // The key is the engine's origin: a bare spec takes its PolicySet name from it ("policy.yaml" → policy).
      const loaded = loadPolicyContent(text, key, this.compiler);
      if (
        this.hub.set({ hash: loaded.hash, bundle: loaded.bundle, source: 'configmap', origin: this.description, text })
      ) {
        this.logger.info(
          { configMap: this.description, hash: loaded.hash, resourceVersion: cm.metadata?.resourceVersion },
          'policy ConfigMap changed',
        );
      }
    } catch (err) {
      if (initial && !this.hub.current) throw err;
      this.logger.error({ origin, err: err instanceof Error ? err.message : String(err) }, LOG.policyConfigMapRefused);
    }
  }

  private async watchLoop(initialRv: string | undefined): Promise<void> {
    let rv = initialRv;
    let failures = 0;
    const path = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/configmaps`;
    while (!this.stopped) {
      try {
        if (rv === undefined) rv = await this.list(false);
        const ended = await new Promise<unknown>((resolve, reject) => {
          new Watch(this.kc)
            .watch(
              path,
              { fieldSelector: `metadata.name=${this.name}`, resourceVersion: rv, allowWatchBookmarks: true },
              (phase, obj: V1ConfigMap) => {
                failures = 0;
                if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
                if (phase === 'ADDED' || phase === 'MODIFIED') this.handle(obj, false);
                else if (phase === 'DELETED')
                  this.logger.warn(
                    { configMap: this.description },
                    'policy ConfigMap deleted; keeping the current policy',
                  );
              },
              resolve,
            )
            .then((abort) => {
              this.watchAbort = abort;
              if (this.stopped) abort.abort();
            }, reject);
        });
        if (this.stopped) break;
        // A watch ends normally after the server's timeout; an error (e.g. 410 Gone) means re-list.
        if (ended) {
          this.logger.debug({ err: ended }, 'ConfigMap watch ended with an error; re-listing');
          rv = undefined;
        }
      } catch (err) {
        if (this.stopped) break;
        failures++;
        rv = undefined;
        this.logger.warn(
          { err: err instanceof Error ? err.message : String(err), configMap: this.description },
          'ConfigMap watch failed; retrying',
        );
        await new Promise((r) => setTimeout(r, backoffDelay(failures, { initialMs: 500, maxMs: 30_000 })));
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.watchAbort?.abort();
  }
}
