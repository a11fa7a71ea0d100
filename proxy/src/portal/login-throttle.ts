/**
 * Throttling of admin logins that slows a password guesser down without locking the owner out.
 *
 * - Per (client address, user name): the first `freeFailures` failures cost nothing more than the
 *   failure delay; after that each failure makes the pair wait, doubling from `firstWaitMs` up to
 *   `maxWaitMs`. While a pair waits its attempts are answered 429 without checking the password,
 *   so guesses cannot be tried meanwhile. The same user from another address is not affected, so
 *   guesses aimed at the admin from one place never keep the admin out from another.
 * - Across the portal: at most `globalFailuresPerMinute` failures in any minute. Past that, guesses
 *   spread over many addresses are refused (429) until the minute is over, except from addresses
 *   the user logged in from before (`knownDays`): the owner at their usual place still gets in.
 *
 * The old rule (10 failures from an address refuse everything from it for 10 minutes) locked the
 * right password out and did not limit guesses spread over many addresses at all.
 */

export interface LoginThrottleOptions {
  freeFailures?: number;
  firstWaitMs?: number;
  maxWaitMs?: number;
  globalFailuresPerMinute?: number;
  /** How long a successful login makes its (address, user) pair "known". */
  knownDays?: number;
  now?: () => number;
}

export type LoginVerdict = { ok: true } | { ok: false; retryAfterS: number; reason: string };

interface PairState {
  failures: number;
  waitUntil: number;
  lastFailure: number;
}

const MINUTE_MS = 60_000;
/** A pair that has not failed for this long starts over. */
const FORGET_MS = 30 * 60_000;
/** Bounds on the remembered pairs; the oldest go first. */
const MAX_PAIRS = 100_000;
const MAX_KNOWN = 100_000;

export class LoginThrottle {
  private readonly freeFailures: number;
  private readonly firstWaitMs: number;
  private readonly maxWaitMs: number;
  private readonly globalPerMinute: number;
  private readonly knownMs: number;
  private readonly now: () => number;
  private readonly pairs = new Map<string, PairState>();
  private readonly known = new Map<string, number>();
  /** Failure times (ms) within the last minute, oldest first. */
  private recent: number[] = [];

  constructor(o: LoginThrottleOptions = {}) {
    this.freeFailures = o.freeFailures ?? 3;
    this.firstWaitMs = o.firstWaitMs ?? 1000;
    this.maxWaitMs = o.maxWaitMs ?? 10 * MINUTE_MS;
    this.globalPerMinute = o.globalFailuresPerMinute ?? 100;
    this.knownMs = (o.knownDays ?? 30) * 24 * 3600_000;
    this.now = o.now ?? Date.now;
  }

  /** Whether an attempt by `user` from `client` may have its password checked now. */
  check(client: string, user: string): LoginVerdict {
    const now = this.now();
    const key = pairKey(client, user);
    const pair = this.livePair(key, now);
    if (pair && pair.waitUntil > now) {
      return {
        ok: false,
        retryAfterS: Math.ceil((pair.waitUntil - now) / 1000),
        reason: `too many failed logins for "${user}" from ${client}`,
      };
    }
    this.trimRecent(now);
    if (this.recent.length >= this.globalPerMinute && !this.isKnown(key, now)) {
      return {
        ok: false,
        retryAfterS: Math.max(1, Math.ceil((this.recent[0] + MINUTE_MS - now) / 1000)),
        reason:
          'too many failed logins to this portal in the last minute (addresses that logged in before are still let in)',
      };
    }
    return { ok: true };
  }

  failed(client: string, user: string): void {
    const now = this.now();
    const key = pairKey(client, user);
    const pair = this.livePair(key, now) ?? { failures: 0, waitUntil: 0, lastFailure: now };
    pair.failures++;
    pair.lastFailure = now;
    const over = pair.failures - this.freeFailures;
    if (over > 0) pair.waitUntil = now + Math.min(this.maxWaitMs, this.firstWaitMs * 2 ** Math.min(over - 1, 30));
    this.pairs.delete(key);
    this.pairs.set(key, pair);
    if (this.pairs.size > MAX_PAIRS) this.pairs.delete(this.pairs.keys().next().value!);
    this.recent.push(now);
  }

  succeeded(client: string, user: string): void {
    const key = pairKey(client, user);
    this.pairs.delete(key);
    this.known.delete(key);
    this.known.set(key, this.now() + this.knownMs);
    if (this.known.size > MAX_KNOWN) this.known.delete(this.known.keys().next().value!);
  }

  private livePair(key: string, now: number): PairState | undefined {
    const pair = this.pairs.get(key);
    if (pair && now - pair.lastFailure > FORGET_MS && pair.waitUntil <= now) {
      this.pairs.delete(key);
      return undefined;
    }
    return pair;
  }

  private isKnown(key: string, now: number): boolean {
    const until = this.known.get(key);
    return until !== undefined && until > now;
  }

  private trimRecent(now: number): void {
    let i = 0;
    while (i < this.recent.length && this.recent[i] <= now - MINUTE_MS) i++;
    if (i > 0) this.recent = this.recent.slice(i);
  }
}

function pairKey(client: string, user: string): string {
  return `${client}\n${user}`;
}
