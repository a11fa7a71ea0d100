import type { AuthOptions, LdapOptions } from './types.js';

/**
 * The slave's authentication flags. They live here so that the proxy core only forwards
 * argv: `parseAuthFlags` takes the `--auth-*` flags out and hands back the rest.
 */
export const AUTH_FLAG_OPTIONS = {
  'auth-users': { type: 'string' },
  'auth-realm': { type: 'string' },
  'auth-cache-ttl': { type: 'string' },
  'auth-ldap-url': { type: 'string' },
  'auth-ldap-bind-dn': { type: 'string' },
  'auth-ldap-search-base': { type: 'string' },
  'auth-ldap-search-filter': { type: 'string' },
  'auth-ldap-service-dn': { type: 'string' },
  'auth-ldap-service-password-file': { type: 'string' },
  'auth-ldap-group-attribute': { type: 'string' },
  'auth-ldap-group-base': { type: 'string' },
  'auth-ldap-group-filter': { type: 'string' },
  'auth-ldap-group-name-attribute': { type: 'string' },
  'auth-ldap-ca-file': { type: 'string' },
  'auth-ldap-starttls': { type: 'boolean' },
  'auth-ldap-insecure': { type: 'boolean' },
  'auth-ldap-timeout': { type: 'string' },
} as const;

type AuthFlag = keyof typeof AUTH_FLAG_OPTIONS;
export type AuthFlagValues = Partial<Record<AuthFlag, string | boolean>>;

export const AUTH_FLAGS_USAGE = `proxy authentication (Basic; none unless one of --auth-users / --auth-ldap-url is given):
  --auth-users FILE                 users file: "user:hash[:group1,group2]" lines, bcrypt or argon2 hashes; reloaded on change
  --auth-realm REALM                realm shown in Proxy-Authenticate (default SafeSquid)
  --auth-cache-ttl SECONDS          how long a successful check is reused (default 60)
  --auth-ldap-url URL               ldap://host:port or ldaps://host:port
  --auth-ldap-bind-dn TEMPLATE      direct bind DN, e.g. uid={user},ou=people,dc=example,dc=org
  --auth-ldap-search-base DN        or search the user under DN, then bind as the entry found
  --auth-ldap-search-filter F       user search filter (default (uid={user}))
  --auth-ldap-service-dn DN         bind as this account to search (with --auth-ldap-service-password-file FILE)
  --auth-ldap-group-attribute A     user attribute listing group DNs (e.g. memberOf)
  --auth-ldap-group-base DN         search groups under DN with --auth-ldap-group-filter (default (member={dn}))
  --auth-ldap-group-name-attribute A  group name attribute (default cn)
  --auth-ldap-ca-file FILE          CA for ldaps:// or --auth-ldap-starttls
  --auth-ldap-insecure              accept any server certificate (lab use only)
  --auth-ldap-timeout SECONDS       connect and operation timeout (default 5)
`;

/** Splits argv into the authentication options and the arguments that are not `--auth-*` flags. */
export function parseAuthFlags(argv: readonly string[]): { auth: AuthOptions | undefined; rest: string[] } {
  const values: AuthFlagValues = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--auth-')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)) as AuthFlag;
    const spec = AUTH_FLAG_OPTIONS[name];
    if (!spec) throw new Error(`unknown flag --${name}\n\n${AUTH_FLAGS_USAGE}`);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new Error(`--${name} takes no value`);
      values[name] = true;
    } else if (eq >= 0) {
      values[name] = arg.slice(eq + 1);
    } else {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
      values[name] = value;
    }
  }
  return { auth: authOptionsFromFlags(values), rest };
}

/** Turns flag values (from `parseAuthFlags` or `util.parseArgs` with AUTH_FLAG_OPTIONS) into options. */
export function authOptionsFromFlags(values: AuthFlagValues): AuthOptions | undefined {
  const str = (name: AuthFlag): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const users = str('auth-users');
  const ldapUrl = str('auth-ldap-url');
  const ldapOnly = (Object.keys(values) as AuthFlag[]).filter(
    (k) => k.startsWith('auth-ldap-') && k !== 'auth-ldap-url',
  );
  if (!ldapUrl && ldapOnly.length > 0) throw new Error(`--${ldapOnly[0]} needs --auth-ldap-url`);
  if (!users && !ldapUrl) {
    const stray = (['auth-realm', 'auth-cache-ttl'] as const).find((k) => values[k] !== undefined);
    if (stray) throw new Error(`--${stray} needs --auth-users or --auth-ldap-url`);
    return undefined;
  }
  const opts: AuthOptions = { realm: str('auth-realm') };
  if (users) opts.users = { path: users };
  const ttl = str('auth-cache-ttl');
  if (ttl !== undefined) opts.cache = { ttlMs: seconds('auth-cache-ttl', ttl) * 1000 };
  if (ldapUrl) {
    const ldap: LdapOptions = {
      url: ldapUrl,
      bindDnTemplate: str('auth-ldap-bind-dn'),
      searchBase: str('auth-ldap-search-base'),
      searchFilter: str('auth-ldap-search-filter'),
      serviceBindDn: str('auth-ldap-service-dn'),
      serviceBindPasswordFile: str('auth-ldap-service-password-file'),
      groupAttribute: str('auth-ldap-group-attribute'),
      groupSearchBase: str('auth-ldap-group-base'),
      groupSearchFilter: str('auth-ldap-group-filter'),
      groupNameAttribute: str('auth-ldap-group-name-attribute'),
    };
    const timeout = str('auth-ldap-timeout');
    if (timeout !== undefined) ldap.timeoutMs = seconds('auth-ldap-timeout', timeout) * 1000;
    if (values['auth-ldap-starttls'] || values['auth-ldap-insecure'] || str('auth-ldap-ca-file')) {
      ldap.tls = {
        caFile: str('auth-ldap-ca-file'),
        startTls: values['auth-ldap-starttls'] === true,
        rejectUnauthorized: values['auth-ldap-insecure'] !== true,
      };
    }
    opts.ldap = ldap;
  }
  return opts;
}

function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag}: expected a number of seconds, got "${value}"`);
  return n;
}
