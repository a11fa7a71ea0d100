import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { PolicyCompiler } from './policy-compiler.js';
import type { PolicyHub } from './policy-hub.js';

/** Policy content from a file or a ConfigMap key: a compiled bundle (JSON) or policy source. */
export function loadPolicyContent(
  text: string,
  origin: string,
  compiler: PolicyCompiler,
): { hash: string; bundle: unknown; text: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed !== undefined && compiler.isBundle(parsed)) {
    const { hash } = compiler.checkBundle(parsed, origin);
    return { hash, bundle: parsed, text };
  }
  const compiled = compiler.compileText(text, origin);
  return { hash: compiled.hash, bundle: compiled.bundle, text };
}

/**
 * Kubernetes mode from a mounted ConfigMap (or any file the operator of the master manages): the
 * file is the source of truth, read-only in the portal. The directory is watched (the kubelet swaps
 * a `..data` symlink rather than writing the file) with a periodic re-read as a safety net; a
 * change that does not load is logged and the previous policy stays in force.
 */
export class FilePolicySource {
  readonly kind = 'file' as const;
  readonly editable = false;
  readonly description: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private reading = false;
  private again = false;

  constructor(
    readonly file: string,
    private readonly hub: PolicyHub,
    private readonly compiler: PolicyCompiler,
    private readonly logger: Logger,
    private readonly label: 'file' | 'configmap' = 'file',
    private readonly pollMs = 2000,
  ) {
    this.description = `file ${file}`;
  }

  /** Throws when the file cannot be read or does not hold a valid policy. */
  async start(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the policy file ${this.file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.apply(text, true);
    try {
      this.watcher = watch(dirname(this.file), () => void this.reload());
      this.watcher.on('error', (err) =>
        this.logger.warn({ err, file: this.file }, 'policy file watch failed; re-reading periodically'),
      );
    } catch (err) {
      this.logger.warn({ err, file: this.file }, 'cannot watch the policy file; re-reading periodically');
    }
    this.timer = setInterval(() => void this.reload(), this.pollMs);
    this.timer.unref();
  }

  private apply(text: string, initial: boolean): void {
    if (text === this.lastText) return;
    const loaded = loadPolicyContent(text, this.file, this.compiler);
    this.lastText = text;
    if (
      this.hub.set({ hash: loaded.hash, bundle: loaded.bundle, source: this.label, origin: this.description, text })
    ) {
      this.logger.info(
        { file: this.file, hash: loaded.hash },
        initial ? 'policy loaded from file' : 'policy file changed',
      );
    }
  }

  private async reload(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        let text: string;
        try {
          text = await readFile(this.file, 'utf8');
        } catch (err) {
          // Mid-swap the file can be briefly absent; the next event or tick reads it.
          this.logger.debug({ err, file: this.file }, 'policy file not readable right now');
          continue;
        }
        try {
          this.apply(text, false);
        } catch (err) {
          this.lastText = text;
          this.logger.error(
            { file: this.file, err: err instanceof Error ? err.message : String(err) },
            'policy file changed but does not load; keeping the previous policy',
          );
        }
      } while (this.again);
    } finally {
      this.reading = false;
    }
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }
}
