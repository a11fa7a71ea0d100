import { parseSlaveArgs } from './slave-command.js';

describe('slave flags', () => {
  it('applies defaults and reads every flag', () => {
    const o = parseSlaveArgs([
      '--policy',
      'p.yaml',
      '--listen',
      '127.0.0.1:3128',
      '--listen',
      '127.0.0.1:3129',
      '--name',
      's-1',
    ]);
    expect(o).toMatchObject({
      policyFile: 'p.yaml',
      name: 's-1',
      listen: [
        { host: '127.0.0.1', port: 3128 },
        { host: '127.0.0.1', port: 3129 },
      ],
      metricsListen: { host: '127.0.0.1', port: 9090 },
      workers: 1,
      accessLog: 'off',
      shutdownGraceMs: 25000,
      drainDelayMs: 0,
    });
    const all = parseSlaveArgs([
      '--master',
      'http://127.0.0.1:8888',
      '--token-file',
      't',
      '--state-dir',
      'd',
      '--workers',
      '2',
      '--access-log',
      'json',
      '--max-connections',
      '10',
      '--max-tunnels',
      '5',
      '--header-timeout',
      '100',
      '--idle-timeout',
      '200',
      '--shutdown-grace',
      '300',
      '--drain-delay',
      '1500',
      '--metrics-listen',
      'off',
      '--auth-users',
      'users.txt',
      '--proxy-protocol-from',
      '10.0.0.0/8',
      '--proxy-protocol-from',
      'fd00::/8',
    ]);
    expect(all).toMatchObject({
      master: 'http://127.0.0.1:8888',
      tokenFile: 't',
      stateDir: 'd',
      workers: 2,
      accessLog: 'json',
      maxConnections: 10,
      maxTunnels: 5,
      headerTimeoutMs: 100,
      idleTimeoutMs: 200,
      shutdownGraceMs: 300,
      drainDelayMs: 1500,
      metricsListen: undefined,
      listen: [{ host: '', port: 3128 }],
      proxyProtocolFrom: ['10.0.0.0/8', 'fd00::/8'],
    });
    expect(o.proxyProtocolFrom).toEqual([]);
    expect(all.auth?.users?.path).toBe('users.txt');
  });

  it.each([
    [[], /--policy FILE is required/],
    [['--policy', 'p', '--master', 'not a url', '--token-file', 't'], /--master "not a url"/],
    [['--policy', 'p', '--workers', 'two'], /--workers "two"/],
    [['--policy', 'p', '--name', 'bad name'], /--name "bad name"/],
    [['--policy', 'p', '--auth-nonsense', 'x'], /--auth-nonsense/],
    [['--policy', 'p', 'stray'], /stray|positional/i],
    [
      ['--policy', 'p', '--master', 'http://127.0.0.1:8888', '--token-file', 't', '--master-ca', 'ca.pem'],
      /--master-ca is for an https:\/\/ --master/,
    ],
    [
      [
        '--policy',
        'p',
        '--master',
        'https://127.0.0.1:8888',
        '--token-file',
        't',
        '--master-ca',
        '/nonexistent/ca.pem',
      ],
      /--master-ca: cannot read \/nonexistent\/ca.pem/,
    ],
    [
      ['--policy', 'p', '--master', 'https://127.0.0.1:8888', '--token-file', 't', '--master-ca', __filename],
      /--master-ca: .* holds no PEM certificate/,
    ],
    [['--policy', 'p', '--drain-delay=-5'], /--drain-delay "-5": expected a whole number of milliseconds/],
    [['--policy', 'p', '--drain-delay', '2s'], /--drain-delay "2s"/],
    [['--policy', 'p', '--proxy-protocol-from', '10.0.0.0/33'], /--proxy-protocol-from: invalid CIDR "10.0.0.0\/33"/],
    [
      ['--policy', 'p', '--proxy-protocol-from', 'balancer.local'],
      /--proxy-protocol-from: invalid CIDR "balancer.local"/,
    ],
  ])('refuses %j', (argv, message) => {
    expect(() => parseSlaveArgs(argv as string[])).toThrow(message);
  });
});

describe('slave flags from SAFESQUID_<FLAG>', () => {
  it('takes the --auth-* flags from the environment too, the command line winning', () => {
    const env = {
      SAFESQUID_POLICY: 'p.yaml',
      SAFESQUID_AUTH_USERS: 'env-users.txt',
      SAFESQUID_AUTH_REALM: 'Env Realm',
      SAFESQUID_AUTH_CACHE_TTL: '30',
      SAFESQUID_AUTH_LDAP_URL: 'ldaps://ldap.example.org:636',
      SAFESQUID_AUTH_LDAP_SEARCH_BASE: 'ou=people,dc=example,dc=org',
      SAFESQUID_AUTH_LDAP_SERVICE_DN: 'cn=svc,dc=example,dc=org',
      SAFESQUID_AUTH_LDAP_SERVICE_PASSWORD_FILE: '/run/secrets/ldap-password',
      SAFESQUID_AUTH_LDAP_STARTTLS: 'true',
      SAFESQUID_AUTH_LDAP_INSECURE: 'false',
      SAFESQUID_AUTH_LDAP_TIMEOUT: '3',
    };
    const o = parseSlaveArgs(['--auth-realm', 'Flag Realm'], env);
    expect(o.policyFile).toBe('p.yaml');
    expect(o.auth).toMatchObject({
      realm: 'Flag Realm',
      users: { path: 'env-users.txt' },
      cache: { ttlMs: 30_000 },
      ldap: {
        url: 'ldaps://ldap.example.org:636',
        searchBase: 'ou=people,dc=example,dc=org',
        serviceBindDn: 'cn=svc,dc=example,dc=org',
        serviceBindPasswordFile: '/run/secrets/ldap-password',
        timeoutMs: 3000,
        tls: { startTls: true, rejectUnauthorized: true },
      },
    });
    expect(parseSlaveArgs(['--policy', 'p.yaml'], {}).auth).toBeUndefined();
  });

  it('names the variable when an --auth-* value from it is wrong', () => {
    expect(() => parseSlaveArgs(['--policy', 'p'], { SAFESQUID_AUTH_LDAP_STARTTLS: 'maybe' })).toThrow(
      'SAFESQUID_AUTH_LDAP_STARTTLS: expected true or false, got "maybe"',
    );
    expect(() => parseSlaveArgs(['--policy', 'p'], { SAFESQUID_AUTH_LDAP_BIND_DN: 'uid={user}' })).toThrow(
      '--auth-ldap-bind-dn needs --auth-ldap-url',
    );
  });
});
