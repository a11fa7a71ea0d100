import type { Logger } from 'pino';
import type { PolicyCompiler } from './policy-compiler.js';
import type { PolicyHub } from './policy-hub.js';
import type { PolicyStore, PolicyVersion } from './policy-store.js';

/**
 * The origin the engine is given for policy text from the portal. A bare spec takes its PolicySet
 * name from it, so it must not vary (with a file name or version) or the hash would.
 */
export const PORTAL_POLICY_ORIGIN = 'standalone';

/**
 * Standalone mode: the master's own store is the source of truth. The newest version is in force;
 * saving validates with the policy engine first, so a version in the store always compiled.
 */
export class StorePolicySource {
  readonly kind = 'store' as const;
  readonly editable = true;
  readonly description = 'the master policy store';

  constructor(
    private readonly store: PolicyStore,
    private readonly hub: PolicyHub,
    private readonly compiler: PolicyCompiler,
    private readonly defaultText: { text: string; origin: string },
    private readonly logger: Logger,
  ) {}

  /** Loads the newest version; an empty store is seeded with the embedded default policy. */
  start(): void {
    let latest = this.store.latest();
    if (!latest) {
      this.save(this.defaultText.text, 'system', `seeded from ${this.defaultText.origin}`);
      latest = this.store.latest()!;
      this.logger.info(
        { version: latest.version, hash: latest.hash, from: this.defaultText.origin },
        'policy store seeded',
      );
      return;
    }
    let compiled;
    try {
      compiled = this.compiler.compileText(latest.text, PORTAL_POLICY_ORIGIN);
    } catch (err) {
      throw new Error(
        `policy version ${latest.version} in ${this.store.file} no longer loads: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.hub.set({
      hash: compiled.hash,
      bundle: compiled.bundle,
      source: 'store',
      text: latest.text,
      updatedAt: new Date(latest.createdAt),
    });
    this.logger.info({ version: latest.version, hash: compiled.hash }, 'policy loaded from the store');
  }

  /** Throws PolicyRejectedError (nothing saved) when the engine refuses the text. */
  save(text: string, author: string, comment = ''): PolicyVersion {
    const compiled = this.compiler.compileText(text, PORTAL_POLICY_ORIGIN);
    const version = this.store.append({ text, hash: compiled.hash, author, comment });
    this.hub.set({ hash: compiled.hash, bundle: compiled.bundle, source: 'store', text });
    this.logger.info({ version: version.version, hash: compiled.hash, author }, 'policy saved');
    return version;
  }

  /** Appends a copy of `version` as the newest one; undefined when there is no such version. */
  rollback(version: number, author: string): PolicyVersion | undefined {
    const old = this.store.get(version);
    if (!old) return undefined;
    return this.save(old.text, author, `rollback to version ${version}`);
  }

  stop(): void {}
}
