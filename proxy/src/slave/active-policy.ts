/**
 * The policy a slave enforces right now. Every source (the policy file, the master, the state
 * directory at start) goes through `apply`, which validates and compiles before swapping, so a bad
 * bundle never replaces a good one. The last good bundle is persisted, so a restarted slave
 * enforces at once even when nothing else is reachable.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadCompiledPolicy, type PolicyBundle } from '../policy/index.js';
import type { CompiledPolicy } from '../policy/decision.js';
import { servedClients } from './served-clients.js';

export type PolicySourceKind = 'file' | 'master' | 'state';

const STATE_FILE = 'policy-bundle.json';

export interface ActivePolicyEvents {
  change: [policy: CompiledPolicy, source: PolicySourceKind];
}

export class ActivePolicy extends EventEmitter<ActivePolicyEvents> {
  private policy: CompiledPolicy | undefined;
  private source: PolicySourceKind | undefined;
  private readonly stateDir: string | undefined;
  private readonly logger: Logger;

  constructor(opts: { stateDir?: string; logger: Logger }) {
    super();
    this.stateDir = opts.stateDir;
    this.logger = opts.logger;
  }

  get current(): CompiledPolicy | undefined {
    return this.policy;
  }

  get hash(): string | undefined {
    return this.policy?.hash;
  }

  /** Where the policy in force came from. */
  get currentSource(): PolicySourceKind | undefined {
    return this.source;
  }

  /** `source` vouches that `hash` is current (the master answered "unchanged"): it becomes the source of that policy. */
  confirm(hash: string, source: PolicySourceKind): void {
    if (this.policy?.hash === hash) this.source = source;
  }

  /**
   * Validates, compiles, swaps atomically and persists the bundle as last-known-good.
   * Throws `PolicyValidationError` (and keeps the old policy) on bad input.
   */
  apply(bundle: PolicyBundle, source: PolicySourceKind): { changed: boolean } {
    if (this.policy && bundle.hash === this.policy.hash) {
      this.source = source;
      return { changed: false };
    }
    const compiled = loadCompiledPolicy(bundle);
    const previous = this.policy?.hash;
    this.policy = compiled;
    this.source = source;
    if (source !== 'state') this.persist(bundle);
    this.logger.info({ hash: compiled.hash, previous, source, clients: servedClients(compiled) }, 'policy in force');
    this.emit('change', compiled, source);
    return { changed: true };
  }

  /** Loads the persisted last-known-good bundle, if any. A corrupt state file is logged and ignored. */
  loadPersisted(): boolean {
    if (!this.stateDir) return false;
    const path = join(this.stateDir, STATE_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.error({ err, path }, 'cannot read the persisted policy bundle');
      }
      return false;
    }
    try {
      this.apply(JSON.parse(text) as PolicyBundle, 'state');
      return true;
    } catch (err) {
      this.logger.error({ err, path }, 'the persisted policy bundle is unusable; ignoring it');
      return false;
    }
  }

  private persist(bundle: PolicyBundle): void {
    if (!this.stateDir) return;
    const path = join(this.stateDir, STATE_FILE);
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(this.stateDir, { recursive: true });
      writeFileSync(tmp, JSON.stringify(bundle));
      renameSync(tmp, path);
    } catch (err) {
      // Enforcement goes on with the new policy; only the restart fallback is stale.
      this.logger.error({ err, path }, 'cannot persist the policy bundle; a restart would fall back to an older one');
    }
  }
}
