/**
 * The real slave with authentication from its own flags: LDAP (a real slapd) with groups that
 * reach policy, and a users file whose changes reach a running slave. (The core's handling of
 * 407, forwarding and logging with a users file is in test/slave/proxy-auth.e2e.test.ts.)
 */
import bcrypt from 'bcryptjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startUpstream, viaProxy, writePolicy, type Upstream } from '../slave/harness.js';
import { startChild, type ChildHandle } from '../support/child-process.js';
import { SAFESQUID_CLI, slaveStarted, startSafesquid } from '../support/safesquid-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';
import { Slapd, SUFFIX } from './slapd.js';

type SlaveProcess = ChildHandle & { port: number };

/** `safesquid slave` on 127.0.0.1 with free ports, once it logged "slave started". */
async function startSlave(args: string[]): Promise<SlaveProcess> {
  const argv = ['slave', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--name', 'e2e-slave', ...args];
  const p = await startSafesquid('the slave', argv, slaveStarted, { readyTimeoutMs: 10_000 });
  return Object.assign(p, { port: p.ready.port });
}

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const auth = (user: string, password: string) => ({ headers: { 'Proxy-Authorization': basic(user, password) } });

// The group is defined for policy to refer to; its members come from the authenticator.
const POLICY = (port: number) => `
userGroups:
  - name: staff
    users: [zed]
rules:
  - name: staff-no-games
    action: deny
    match: {groups: [staff], urlRegex: "^/games"}
  - name: allow-users
    action: allow
accessRestriction:
  defaultAction: deny
  connectPorts: [${port}]
  ssrf: {allowRanges: [127.0.0.0/8]}
`;

describe('slave with LDAP authentication (real slapd)', () => {
  const dir = tempDir('slave-ldap');
  let slapd: Slapd;
  let upstream: Upstream;
  let slave: SlaveProcess;
  let base: string;

  beforeAll(async () => {
    slapd = await Slapd.start(
      [
        { uid: 'alice', password: 'alice-pw' },
        { uid: 'bob', password: 'bob-pw' },
      ],
      [{ cn: 'staff', members: ['alice'] }],
    );
    upstream = await startUpstream();
    base = `http://127.0.0.1:${upstream.port}`;
    writePolicy(join(dir.path, 'policy.yaml'), 'ldap', POLICY(upstream.port));
    slave = await startSlave([
      '--policy',
      join(dir.path, 'policy.yaml'),
      '--access-log',
      'json',
      '--auth-ldap-url',
      slapd.url,
      '--auth-ldap-bind-dn',
      `uid={user},ou=people,${SUFFIX}`,
      '--auth-ldap-group-attribute',
      'memberOf',
      '--auth-realm',
      'LDAP Proxy',
    ]);
  }, 30_000);

  afterAll(async () => {
    await slave?.stop('SIGKILL');
    await upstream?.close();
    await slapd?.stop();
    dir.remove();
  });

  it('challenges without credentials and with a wrong password, dialling nothing', async () => {
    for (const opts of [{}, auth('alice', 'bob-pw'), auth('mallory', 'x'), auth('*', 'alice-pw')]) {
      const res = await viaProxy(slave.port, `${base}/x`, opts);
      expect(res.status).toBe(407);
      expect(res.headers['proxy-authenticate']).toBe('Basic realm="LDAP Proxy"');
    }
    expect(upstream.connections()).toBe(0);
  });

  it('lets LDAP users through with their LDAP groups deciding policy', async () => {
    const bob = await viaProxy(slave.port, `${base}/games/chess`, auth('bob', 'bob-pw'));
    expect(bob.status).toBe(200);
    expect(upstream.seen.at(-1)!.headers['proxy-authorization']).toBeUndefined();
    const alice = await viaProxy(slave.port, `${base}/games/chess`, auth('alice', 'alice-pw'));
    expect(alice.status).toBe(403);
    expect(alice.body.toString()).toContain('staff-no-games');
    const aliceWork = await viaProxy(slave.port, `${base}/work`, auth('alice', 'alice-pw'));
    expect(aliceWork.status).toBe(200);
    const records = await until(
      'the access log lines',
      () => {
        const lines = slave
          .stdout()
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { url: string; user?: string; status: number });
        return lines.some((r) => r.url.endsWith('/work')) ? lines : undefined;
      },
      5000,
    );
    expect(records.find((r) => r.url.endsWith('/work'))!.user).toBe('alice');
    expect(records.find((r) => r.status === 403)!.user).toBe('alice');
    expect(slave.stdout() + slave.stderr()).not.toContain('alice-pw');
  });
});

describe('slave with a users file that changes while it runs', () => {
  const dir = tempDir('slave-users');
  const users = join(dir.path, 'users');
  let upstream: Upstream;
  let slave: SlaveProcess;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    base = `http://127.0.0.1:${upstream.port}`;
    writePolicy(join(dir.path, 'policy.yaml'), 'users', POLICY(upstream.port));
    writeFileSync(users, `alice:${bcrypt.hashSync('alice-pw', 4)}\nbob:${bcrypt.hashSync('bob-pw', 4)}\n`);
    slave = await startSlave(['--policy', join(dir.path, 'policy.yaml'), '--auth-users', users]);
  });

  afterAll(async () => {
    await slave?.stop('SIGKILL');
    await upstream?.close();
    dir.remove();
  });

  it('revokes a removed user and admits a new one without a restart, within the cache TTL', async () => {
    expect((await viaProxy(slave.port, `${base}/a`, auth('bob', 'bob-pw'))).status).toBe(200);
    writeFileSync(users, `alice:${bcrypt.hashSync('alice-pw', 4)}\ncarol:${bcrypt.hashSync('carol-pw', 4)}:staff\n`);
    await until(
      'bob to be refused',
      async () => (await viaProxy(slave.port, `${base}/a`, auth('bob', 'bob-pw'))).status === 407,
      5000,
    );
    const carol = await viaProxy(slave.port, `${base}/games/x`, auth('carol', 'carol-pw'));
    expect(carol.status).toBe(403);
  });

  it('keeps the users it has when the new file is bad, and says which line is wrong', async () => {
    writeFileSync(users, `alice:${bcrypt.hashSync('alice-pw', 4)}\ncarol:plaintext-password\n`);
    await until('the refusal to be logged', () => slave.stderr().includes('proxy users file refused'), 5000);
    expect(slave.stderr()).toContain(`${users}:2: user \\"carol\\"`);
    expect(slave.stderr()).not.toContain('plaintext-password');
    expect((await viaProxy(slave.port, `${base}/b`, auth('carol', 'carol-pw'))).status).toBe(200);
  });

  it('refuses to start on a bad users file, naming file and line', async () => {
    const bad = join(dir.path, 'bad-users');
    writeFileSync(bad, `# ok\ndave:$1$md5crypt$xyz\n`);
    const args = [
      SAFESQUID_CLI,
      'slave',
      '--policy',
      join(dir.path, 'policy.yaml'),
      '--listen',
      '127.0.0.1:0',
      '--metrics-listen',
      'off',
      '--auth-users',
      bad,
    ];
    const proc = startChild('the slave', process.execPath, args);
    const code = await proc.exitWithin(10_000);
    expect(code).not.toBe(0);
    expect(proc.stderr()).toContain(`${bad}:2: user "dave"`);
  });
});
