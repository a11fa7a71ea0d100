/**
 * Bounds how many slow verifications (bcrypt, argon2, LDAP) run at once and how many wait, so
 * a flood of distinct bad credentials costs a bounded share of the proxy's CPU; beyond the
 * queue, callers are turned away at once instead of piling up.
 */
export class VerificationLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly maxConcurrent = 4,
    readonly maxWaiting = 1000,
  ) {}

  /** Runs `task` when a slot is free; undefined when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.maxConcurrent) {
      if (this.waiting.length >= this.maxWaiting) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
