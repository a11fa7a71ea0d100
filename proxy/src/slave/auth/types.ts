/**
 * The contract between proxy authentication and the proxy core. The core asks one
 * `ProxyAuthenticator` per request (or CONNECT) with the raw `Proxy-Authorization` header and
 * answers 407 with `Proxy-Authenticate: Basic realm="<realm>"` when the result is not ok.
 */

export type AuthResult =
  | { ok: true; user: string; groups: string[] }
  /**
   * `unavailable`: the credentials could not be checked (LDAP down, too many checks running).
   * A 503 fits better than a 407, which would make a browser ask its user for the password again.
   */
  | { ok: false; reason: string; unavailable?: true };

export interface ProxyAuthenticator {
  readonly scheme: 'Basic';
  readonly realm: string;
  /** Never rejects: a back-end failure (LDAP down) is `{ ok: false, reason }`. */
  authenticate(proxyAuthorization: string | undefined): Promise<AuthResult>;
  /**
   * The answer `authenticate` would give at once from its cache, synchronously, or undefined
   * when it would have to verify: lets the proxy stay synchronous on the hot path.
   */
  cached?(proxyAuthorization: string | undefined): AuthResult | undefined;
  /**
   * Re-reads the users file now and forgets cached verifications, so removed users and changed
   * passwords or LDAP groups take effect at once; resolves with what was done, rejects on a bad file.
   */
  reload?(): Promise<string>;
  /** Stops file watchers and closes LDAP connections. */
  close?(): Promise<void>;
}

/** Basic against an htpasswd-style file (`user:hash` or `user:hash:group1,group2` per line). */
export interface UsersFileOptions {
  path: string;
}

export interface LdapTlsOptions {
  /** PEM file with the CA(s) that signed the server certificate. */
  caFile?: string;
  /** Upgrade an `ldap://` connection with StartTLS before binding. */
  startTls?: boolean;
  /** Default true; false only for a lab server with a self-signed certificate. */
  rejectUnauthorized?: boolean;
}

/**
 * LDAP simple bind. Either `bindDnTemplate` (direct bind as `uid={user},ou=people,...`) or
 * search-then-bind: `searchBase` + `searchFilter` (default `(uid={user})`), optionally as a
 * service account (`serviceBindDn` + `serviceBindPasswordFile`).
 * Groups: the `groupAttribute` of the user entry (e.g. `memberOf`, values' first RDN value is
 * the group name) and/or a search under `groupSearchBase` with `groupSearchFilter`
 * (`{dn}` and `{user}` placeholders, default `(member={dn})`), naming groups by `groupNameAttribute` (default `cn`).
 */
export interface LdapOptions {
  url: string;
  bindDnTemplate?: string;
  searchBase?: string;
  searchFilter?: string;
  serviceBindDn?: string;
  serviceBindPasswordFile?: string;
  groupAttribute?: string;
  groupSearchBase?: string;
  groupSearchFilter?: string;
  groupNameAttribute?: string;
  timeoutMs?: number;
  tls?: LdapTlsOptions;
}

export interface AuthCacheOptions {
  /** How long a successful verification is reused (default 60 000 ms). */
  ttlMs?: number;
  /** Most cached successes kept (default 10 000). */
  maxEntries?: number;
}

/**
 * What `createAuthenticator` needs. With both a users file and LDAP, a user listed in the
 * file is decided by the file alone; any other user is checked against LDAP.
 */
export interface AuthOptions {
  realm?: string;
  users?: UsersFileOptions;
  ldap?: LdapOptions;
  cache?: AuthCacheOptions;
}
