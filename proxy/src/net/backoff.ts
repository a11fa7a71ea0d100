/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random, so a fleet of
 * slaves that lost the master at the same instant does not come back in lock-step, yet no
 * slave retries in a tight loop.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const exp = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
