/**
 * Lets through at most `burst` log lines per `windowMs` for one kind of event, and reports how
 * many it held back when the next window opens: a dead LDAP server or a password-guessing
 * client must not turn every request into a log line.
 */
export class LogThrottle {
  private windowStart = -Infinity;
  private passed = 0;
  private suppressed = 0;

  constructor(
    private readonly burst = 20,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `log` with the number of lines held back since the last one that passed, or skips it. */
  log(log: (suppressedBefore: number) => void): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.passed = 0;
    }
    if (this.passed >= this.burst) {
      this.suppressed++;
      return;
    }
    this.passed++;
    const held = this.suppressed;
    this.suppressed = 0;
    log(held);
  }
}
