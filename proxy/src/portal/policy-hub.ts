import { gzipSync } from 'node:zlib';

/** The policy in force on the master, as slaves fetch it. */
export interface CurrentPolicy {
  hash: string;
  bundle: unknown;
  /** The bundle serialised once per change: every slave gets the same bytes. */
  body: Buffer;
  /** The same, gzip-compressed on first demand (large category lists shrink tenfold). */
  gzipped(): Buffer;
  source: 'store' | 'file' | 'configmap';
  /** Where a read-only policy comes from, in words (`file /etc/policy/bundle.json`, `ConfigMap ns/name`). */
  origin?: string;
  updatedAt: Date;
  /** The policy text as saved (YAML/JSON), when known. */
  text?: string;
}

type Waiter = { known: string; resolve: (p: CurrentPolicy | undefined) => void; timer: NodeJS.Timeout };

/**
 * Holds the current bundle and wakes long-polling slaves the moment it changes, so a change
 * reaches every connected slave within one round trip.
 */
export class PolicyHub {
  private value: CurrentPolicy | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly listeners: ((p: CurrentPolicy) => void)[] = [];

  get current(): CurrentPolicy | undefined {
    return this.value;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  set(next: Omit<CurrentPolicy, 'body' | 'gzipped' | 'updatedAt'> & { updatedAt?: Date }): boolean {
    if (this.value && this.value.hash === next.hash && this.value.source === next.source) {
      if (next.text !== undefined) this.value.text = next.text;
      return false;
    }
    const body = Buffer.from(JSON.stringify(next.bundle));
    let gz: Buffer | undefined;
    const value: CurrentPolicy = {
      ...next,
      body,
      gzipped: () => (gz ??= gzipSync(body)),
      updatedAt: next.updatedAt ?? new Date(),
    };
    this.value = value;
    for (const fn of this.listeners) fn(value);
    for (const w of this.waiters) {
      if (w.known !== value.hash) this.finish(w, value);
    }
    return true;
  }

  /** Called after every change of hash, before waiting slaves are answered. */
  onChange(fn: (p: CurrentPolicy) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Resolves with the policy as soon as its hash differs from `known`, or with undefined
   * after `ms` (or when `signal` aborts: the slave went away).
   */
  waitForChange(known: string, ms: number, signal?: AbortSignal): Promise<CurrentPolicy | undefined> {
    if (this.value && this.value.hash !== known) return Promise.resolve(this.value);
    return new Promise((resolve) => {
      const w: Waiter = { known, resolve, timer: setTimeout(() => this.finish(w, undefined), ms) };
      this.waiters.add(w);
      signal?.addEventListener('abort', () => this.finish(w, undefined), { once: true });
    });
  }

  /** Answers every waiting slave with "unchanged" (used on shutdown). */
  releaseAll(): void {
    for (const w of this.waiters) this.finish(w, undefined);
  }

  private finish(w: Waiter, value: CurrentPolicy | undefined): void {
    if (!this.waiters.delete(w)) return;
    clearTimeout(w.timer);
    w.resolve(value);
  }
}
