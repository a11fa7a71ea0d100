/**
 * The `--policy FILE` source: PolicySet documents (manifests or bare specs) or a compiled
 * PolicyBundle, as the operator's ConfigMap carries. The file is watched through its directory
 * (a ConfigMap volume swaps a `..data` symlink rather than writing the file) and reloaded live;
 * a bad new version is refused with a logged error and the policy in force stays.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { compilePolicyBundle, parsePolicyDocuments } from '../policy/index.js';
import type { ActivePolicy } from './active-policy.js';
import { LOG } from '../log-messages.js';

export interface PolicyFileWatcherOptions {
  path: string;
  active: ActivePolicy;
  logger: Logger;
  debounceMs?: number;
  /** Called after every reload attempt (tests wait on it). */
  onReload?: (result: { ok: boolean; changed: boolean; error?: Error }) => void;
}

export class PolicyFileWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private readonly path: string;

  constructor(private readonly opts: PolicyFileWatcherOptions) {
    this.path = resolve(opts.path);
  }

  /** Loads the file once; throws with the file name and every validation issue if it is unusable. */
  async load(): Promise<{ changed: boolean }> {
    const text = await readFile(this.path, 'utf8');
    const bundle = compilePolicyBundle(parsePolicyDocuments(text, this.path));
    const result = this.opts.active.apply(bundle, 'file');
    this.lastText = digest(text);
    return result;
  }

  start(): void {
    this.watcher = watch(dirname(this.path), { persistent: false }, () => this.schedule());
    this.watcher.on('error', (err) => this.opts.logger.error({ err, path: this.path }, 'policy file watch failed'));
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reloading = this.reloading.then(() => this.reload());
    }, this.opts.debounceMs ?? 200);
  }

  private async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      // Mid-swap (ConfigMap symlink flip, editor rename): the next event brings the new file.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.opts.logger.error({ err, path: this.path }, 'cannot read the policy file; keeping the policy in force');
      }
      return;
    }
    const d = digest(text);
    if (d === this.lastText) return;
    try {
      const bundle = compilePolicyBundle(parsePolicyDocuments(text, this.path));
      const result = this.opts.active.apply(bundle, 'file');
      this.lastText = d;
      this.opts.onReload?.({ ok: true, changed: result.changed });
    } catch (err) {
      this.lastText = d;
      this.opts.logger.error(
        { path: this.path, error: (err as Error).message, keptHash: this.opts.active.hash },
        LOG.policyFileRefused,
      );
      this.opts.onReload?.({ ok: false, changed: false, error: err as Error });
    }
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
