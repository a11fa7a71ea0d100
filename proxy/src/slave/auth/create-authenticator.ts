import { parseBasicAuthorization, type BasicCredentials } from './basic-credentials.js';
import type { CredentialVerifier } from './credential-verifier.js';
import { LdapVerifier } from './ldap-verifier.js';
import { UsersFileStore } from './users-file.js';
import { UsersFileVerifier } from './users-file-verifier.js';
import type { AuthOptions, AuthResult, ProxyAuthenticator } from './types.js';
import { VerificationCache } from './verification-cache.js';
import { VerificationLimiter } from './verification-limiter.js';
import { LogThrottle } from '../log-throttle.js';
import { LOG } from '../../log-messages.js';

/** The pino subset authentication logs through; messages never carry a password or header. */
export interface AuthLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AuthDependencies {
  logger?: AuthLogger;
  /** How often the users file is checked for changes (default 1 000 ms). */
  usersFilePollMs?: number;
}

const INVALID = 'invalid user name or password';
const UNAVAILABLE = 'authentication service unavailable';
const BUSY = 'too many authentications in progress; try again';

/**
 * Builds the authenticator the options ask for, or undefined when they ask for none.
 * Throws with the file and line (users file) or the setting (LDAP) when the options are bad,
 * so a slave refuses to start rather than run open.
 */
export function createAuthenticator(opts: AuthOptions, deps: AuthDependencies = {}): ProxyAuthenticator | undefined {
  if (!opts.users && !opts.ldap) return undefined;
  const logger = deps.logger;
  const cache = new VerificationCache(opts.cache?.ttlMs, opts.cache?.maxEntries);
  const verifiers: CredentialVerifier[] = [];
  let reloadUsers: (() => string) | undefined;
  if (opts.users) {
    const store = new UsersFileStore(
      opts.users.path,
      {
        onReload: (users) => {
          // A removed user or changed password must stop working now, not after the TTL.
          cache.clear();
          logger?.info({ file: opts.users!.path, users: users.size }, 'proxy users reloaded');
        },
        onError: (err) => logger?.error({ file: err.file, line: err.line, err: err.message }, LOG.proxyUsersRefused),
      },
      deps.usersFilePollMs,
    );
    // Alone, the file must not reveal by timing which names exist; before LDAP, unknown names go on.
    verifiers.push(new UsersFileVerifier(store, { decoyForUnknown: !opts.ldap }));
    reloadUsers = () => `${store.reloadNow()} users reloaded from ${opts.users!.path}`;
  }
  if (opts.ldap) verifiers.push(new LdapVerifier(opts.ldap));
  const authenticator = new BasicAuthenticator(opts.realm ?? 'SafeSquid', verifiers, cache, logger);
  authenticator.reloadUsers = reloadUsers;
  return authenticator;
}

class BasicAuthenticator implements ProxyAuthenticator {
  readonly scheme = 'Basic' as const;

  constructor(
    readonly realm: string,
    private readonly verifiers: CredentialVerifier[],
    private readonly cache: VerificationCache,
    private readonly logger: AuthLogger | undefined,
    private readonly limiter = new VerificationLimiter(),
    private readonly failureLog = new LogThrottle(),
    private readonly backendLog = new LogThrottle(),
  ) {
    if (/["\\\r\n]/.test(realm))
      throw new Error(`auth realm "${realm}" may not contain quotes, backslashes or line breaks`);
  }

  async authenticate(header: string | undefined): Promise<AuthResult> {
    if (header === undefined) return { ok: false, reason: 'no Proxy-Authorization header' };
    return this.cache.resolve(header, async () => {
      // Malformed headers are refused before queueing: they cost nothing to judge.
      const parsed = parseBasicAuthorization(header);
      if (!parsed.ok) return { ok: false, reason: parsed.reason };
      const result = await this.limiter.run(() => this.verify(parsed.credentials));
      return result ?? { ok: false, reason: BUSY, unavailable: true, cacheable: false };
    });
  }

  cached(header: string | undefined): AuthResult | undefined {
    if (header === undefined) return { ok: false, reason: 'no Proxy-Authorization header' };
    return this.cache.peek(header);
  }

  /** Set by createAuthenticator when there is a users file. */
  reloadUsers?: () => string;

  async reload(): Promise<string> {
    const users = this.reloadUsers?.();
    this.cache.clear();
    return users ?? 'cached verifications cleared: each user is checked against LDAP again';
  }

  async close(): Promise<void> {
    await Promise.all(this.verifiers.map((v) => v.close?.()));
  }

  private async verify(credentials: BasicCredentials): Promise<AuthResult & { cacheable?: boolean }> {
    const { user } = credentials;
    for (const verifier of this.verifiers) {
      const outcome = await verifier.verify(credentials);
      switch (outcome.kind) {
        case 'ok':
          return { ok: true, user: outcome.user, groups: outcome.groups };
        case 'rejected':
          this.failureLog.log((suppressed) =>
            this.logger?.warn(
              { user, by: verifier.name, detail: outcome.detail, suppressed },
              'proxy authentication failed',
            ),
          );
          return { ok: false, reason: INVALID };
        case 'error':
          this.backendLog.log((suppressed) =>
            this.logger?.error(
              { user, by: verifier.name, detail: outcome.detail, suppressed },
              'proxy authentication back end failed',
            ),
          );
          return { ok: false, reason: UNAVAILABLE, unavailable: true, cacheable: false };
        case 'unknown':
          continue;
      }
    }
    this.failureLog.log((suppressed) =>
      this.logger?.warn({ user, suppressed }, 'proxy authentication failed: unknown user'),
    );
    return { ok: false, reason: INVALID };
  }
}
