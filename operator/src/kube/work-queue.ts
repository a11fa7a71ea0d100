import { backoffDelay } from '@safesquid/proxy/backoff';

export interface WorkResult {
  /** Look again after this long even if nothing changes (e.g. waiting for pods or the master). */
  requeueAfterMs?: number;
}

export type WorkHandler = (key: string) => Promise<WorkResult | void>;

export interface WorkQueueOptions {
  /** Keys processed at once; one key is never processed twice at the same time. Default 4. */
  concurrency?: number;
  /** First retry delay of a failing key; doubled per failure up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called when a handler throws (after the retry is scheduled). */
  onError?: (key: string, err: unknown, attempt: number, retryInMs: number) => void;
  random?: () => number;
}

/**
 * A keyed work queue as controllers need it: a key added while queued is queued once (dedup); a key
 * added while being processed is processed again afterwards, never concurrently; a key whose handler
 * throws comes back after a per-key exponential backoff, reset by its next success; delayed adds keep
 * only the earliest due time.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Added again while processing: re-queued when done. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  private readonly concurrency: number;
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: WorkHandler,
    private readonly opts: WorkQueueOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
  }

  /** Keys waiting (not counting those being processed or delayed). */
  get depth(): number {
    return this.queue.length;
  }

  get active(): number {
    return this.processing.size;
  }

  /** Keys waiting on a delay (backoff or requeueAfter). */
  get delayed(): number {
    return this.timers.size;
  }

  attempts(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  add(key: string): void {
    const t = this.timers.get(key);
    if (t) {
      clearTimeout(t.timer);
      this.timers.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  addAfter(key: string, ms: number): void {
    if (ms <= 0) return this.add(key);
    const due = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.due <= due) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { due, timer });
  }

  /** Forgets a key's failures (its next failure waits the base delay again). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops taking keys and resolves once the handlers in progress have finished. */
  async stop(): Promise<void> {
    this.running = false;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.idle();
  }

  /** Resolves when nothing is being processed (queued keys may remain if stopped). */
  idle(): Promise<void> {
    if (this.processing.size === 0 && (!this.running || this.queue.length === 0)) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (this.running && this.processing.size < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      void this.process(key);
    }
    if (this.processing.size === 0 && (!this.running || this.queue.length === 0)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async process(key: string): Promise<void> {
    let result: WorkResult | void = undefined;
    let failed = false;
    try {
      result = await this.handler(key);
    } catch (err) {
      failed = true;
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      const delay = backoffDelay(
        attempt,
        { initialMs: this.opts.baseDelayMs ?? 500, maxMs: this.opts.maxDelayMs ?? 60_000 },
        this.opts.random,
      );
      this.opts.onError?.(key, err, attempt, delay);
      if (this.running) this.addAfter(key, delay);
    }
    this.processing.delete(key);
    if (!failed) {
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined && this.running) this.addAfter(key, result.requeueAfterMs);
    }
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }
}
