import { authOptionsFromFlags, parseAuthFlags } from './auth-flags.js';

describe('parseAuthFlags', () => {
  it('takes the --auth-* flags out and leaves the rest in order', () => {
    const { auth, rest } = parseAuthFlags([
      '--policy',
      'p.yaml',
      '--auth-users',
      '/s/users',
      '--listen=:3128',
      '--auth-realm=Corp',
      '--auth-cache-ttl',
      '30',
    ]);
    expect(rest).toEqual(['--policy', 'p.yaml', '--listen=:3128']);
    expect(auth).toEqual({ realm: 'Corp', users: { path: '/s/users' }, cache: { ttlMs: 30_000 } });
  });

  it('builds LDAP options with TLS pass-through', () => {
    const { auth } = parseAuthFlags([
      '--auth-ldap-url',
      'ldaps://ldap.corp:636',
      '--auth-ldap-search-base',
      'ou=people,dc=corp',
      '--auth-ldap-service-dn',
      'cn=proxy,dc=corp',
      '--auth-ldap-service-password-file',
      '/s/pw',
      '--auth-ldap-group-base',
      'ou=groups,dc=corp',
      '--auth-ldap-ca-file',
      '/s/ca.pem',
      '--auth-ldap-timeout',
      '2',
    ]);
    expect(auth?.ldap).toMatchObject({
      url: 'ldaps://ldap.corp:636',
      searchBase: 'ou=people,dc=corp',
      serviceBindDn: 'cn=proxy,dc=corp',
      serviceBindPasswordFile: '/s/pw',
      groupSearchBase: 'ou=groups,dc=corp',
      timeoutMs: 2000,
      tls: { caFile: '/s/ca.pem', startTls: false, rejectUnauthorized: true },
    });
    expect(auth?.users).toBeUndefined();
  });

  it('means no authentication when no back end is named', () => {
    expect(parseAuthFlags(['--policy', 'p.yaml']).auth).toBeUndefined();
  });

  it.each([
    [['--auth-user', 'x'], 'unknown flag --auth-user'],
    [['--auth-users'], '--auth-users needs a value'],
    [['--auth-users', '--policy'], '--auth-users needs a value'],
    [['--auth-ldap-starttls=yes'], '--auth-ldap-starttls takes no value'],
    [['--auth-ldap-bind-dn', 'uid={user}'], '--auth-ldap-bind-dn needs --auth-ldap-url'],
    [['--auth-realm', 'x'], '--auth-realm needs --auth-users or --auth-ldap-url'],
    [['--auth-users', 'u', '--auth-cache-ttl', 'soon'], '--auth-cache-ttl: expected a number of seconds, got "soon"'],
  ])('refuses %p', (argv, message) => {
    expect(() => parseAuthFlags(argv)).toThrow(message);
  });

  it('accepts util.parseArgs-style values', () => {
    expect(
      authOptionsFromFlags({
        'auth-ldap-url': 'ldap://127.0.0.1:389',
        'auth-ldap-bind-dn': 'uid={user},dc=x',
        'auth-ldap-starttls': true,
      })?.ldap?.tls,
    ).toEqual({
      caFile: undefined,
      startTls: true,
      rejectUnauthorized: true,
    });
  });
});
