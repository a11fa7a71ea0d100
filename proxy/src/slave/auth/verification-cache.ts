import { hash } from 'node:crypto';
import type { AuthResult } from './types.js';

/**
 * Remembers verification results keyed by a SHA-256 of the whole header, so the plain
 * credentials are never kept, and coalesces concurrent checks of the same header into one.
 * Successes live `ttlMs`; failures only `failureTtlMs` (a retyped password must work at once,
 * but a client hammering the same wrong header must not cost a bcrypt each time).
 */
export class VerificationCache {
  private readonly entries = new Map<string, { result: AuthResult; expires: number }>();
  private readonly inflight = new Map<string, Promise<AuthResult>>();
  private generation = 0;

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
    private readonly failureTtlMs = 1_000,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ttlMs >= 0) || !Number.isInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError(
        `auth cache: ttlMs must be >= 0 and maxEntries a non-negative integer (got ${ttlMs}, ${maxEntries})`,
      );
    }
  }

  static keyOf(header: string): string {
    // The one-shot hash costs a sixth of createHash(): this runs on every authenticated request.
    return hash('sha256', header, 'base64');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached result for this header, if any and still fresh. */
  peek(header: string): AuthResult | undefined {
    return this.lookup(VerificationCache.keyOf(header));
  }

  /** The cached result, else the result of `verify`, run once however many callers wait for it. */
  async resolve(header: string, verify: () => Promise<AuthResult & { cacheable?: boolean }>): Promise<AuthResult> {
    const key = VerificationCache.keyOf(header);
    const hit = this.lookup(key);
    if (hit) return hit;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const generation = this.generation;
    const run = verify().then(({ cacheable = true, ...result }) => {
      if (cacheable && generation === this.generation) this.store(key, result as AuthResult);
      return result as AuthResult;
    });
    this.inflight.set(key, run);
    try {
      return await run;
    } finally {
      this.inflight.delete(key);
    }
  }

  /** Forgets everything, including checks still running (users changed: old answers may be wrong). */
  clear(): void {
    this.entries.clear();
    this.generation++;
  }

  private lookup(key: string): AuthResult | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expires > this.now()) return hit.result;
    this.entries.delete(key);
    return undefined;
  }

  private store(key: string, result: AuthResult): void {
    const ttl = result.ok ? this.ttlMs : Math.min(this.failureTtlMs, this.ttlMs);
    if (ttl <= 0 || this.maxEntries === 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { result, expires: this.now() + ttl });
  }
}
