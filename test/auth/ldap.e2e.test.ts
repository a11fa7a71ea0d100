import bcrypt from 'bcryptjs';
import { Client } from 'ldapts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAuthenticator, type ProxyAuthenticator } from '../../proxy/src/slave/auth/index.js';
import { LdapVerifier } from '../../proxy/src/slave/auth/ldap-verifier.js';
import { freePort } from '../support/free-port.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { Slapd, SUFFIX } from './slapd.js';
import { makeTestCa, type TestCa } from './test-ca.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const INVALID = { ok: false, reason: 'invalid user name or password' };
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;

describe('LDAP authentication against a real slapd', () => {
  let slapd: Slapd;
  let tmp: TempDir;
  let dir: string;
  let ca: TestCa;
  const authenticators: ProxyAuthenticator[] = [];
  const make = (opts: Parameters<typeof createAuthenticator>[0]) => {
    const a = createAuthenticator(opts)!;
    authenticators.push(a);
    return a;
  };

  beforeAll(async () => {
    tmp = tempDir('ldap-auth');
    dir = tmp.path;
    ca = makeTestCa(dir);
    slapd = await Slapd.start(
      [
        { uid: 'alice', password: 'alice-pw' },
        { uid: 'bob', password: 'bob-pw' },
        { uid: 'svc-proxy', password: 'svc-pw' },
      ],
      [
        { cn: 'staff', members: ['alice', 'bob'] },
        { cn: 'admins', members: ['alice'] },
      ],
      ca,
    );
  }, 20_000);

  afterAll(async () => {
    await Promise.all(authenticators.map((a) => a.close?.()));
    await slapd?.stop();
    tmp?.remove();
  });

  describe('direct bind with a DN template and memberOf groups', () => {
    let auth: ProxyAuthenticator;
    beforeAll(() => {
      auth = make({ ldap: { url: slapd.url, bindDnTemplate: `uid={user},${PEOPLE}`, groupAttribute: 'memberOf' } });
    });

    it('accepts a good password and reads the groups', async () => {
      await expect(auth.authenticate(basic('alice', 'alice-pw'))).resolves.toEqual({
        ok: true,
        user: 'alice',
        groups: ['admins', 'staff'],
      });
      await expect(auth.authenticate(basic('bob', 'bob-pw'))).resolves.toEqual({
        ok: true,
        user: 'bob',
        groups: ['staff'],
      });
    });

    it('refuses a wrong password and an unknown user alike', async () => {
      await expect(auth.authenticate(basic('alice', 'bob-pw'))).resolves.toEqual(INVALID);
      await expect(auth.authenticate(basic('mallory', 'alice-pw'))).resolves.toEqual(INVALID);
    });

    it('never turns an empty password into an anonymous bind', async () => {
      const empty = await auth.authenticate(basic('alice', ''));
      expect(empty.ok).toBe(false);
      // Also when the verifier is called directly, below the header parsing that refuses it first.
      const verifier = new LdapVerifier({ url: slapd.url, bindDnTemplate: `uid={user},${PEOPLE}` });
      await expect(verifier.verify({ user: 'alice', password: '' })).resolves.toEqual({
        kind: 'rejected',
        detail: 'empty password',
      });
    });

    it('escapes DN specials so a user name stays one RDN value', async () => {
      // Unescaped, "uid=alice,evil,ou=people,..." is not a DN: slapd would answer invalidDNSyntax,
      // a back-end error; escaped, it is a well-formed DN of nobody, so a plain refusal.
      for (const user of ['alice,evil', 'alice+cn=alice', '#alice', 'alice\\']) {
        await expect(auth.authenticate(basic(user, 'alice-pw'))).resolves.toEqual(INVALID);
      }
    });
  });

  describe('search then bind with a service account and a group search', () => {
    let auth: ProxyAuthenticator;
    beforeAll(() => {
      const pwFile = join(dir, 'svc-password');
      writeFileSync(pwFile, 'svc-pw\n');
      auth = make({
        ldap: {
          url: slapd.url,
          searchBase: PEOPLE,
          searchFilter: '(&(objectClass=inetOrgPerson)(uid={user}))',
          serviceBindDn: `uid=svc-proxy,${PEOPLE}`,
          serviceBindPasswordFile: pwFile,
          groupSearchBase: GROUPS,
          groupSearchFilter: '(&(objectClass=groupOfNames)(member={dn}))',
        },
      });
    });

    it('finds the user, binds as them and lists their groups', async () => {
      await expect(auth.authenticate(basic('alice', 'alice-pw'))).resolves.toEqual({
        ok: true,
        user: 'alice',
        groups: ['admins', 'staff'],
      });
      await expect(auth.authenticate(basic('svc-proxy', 'svc-pw'))).resolves.toEqual({
        ok: true,
        user: 'svc-proxy',
        groups: [],
      });
      await expect(auth.authenticate(basic('bob', 'alice-pw'))).resolves.toEqual(INVALID);
      await expect(auth.authenticate(basic('nobody', 'x'))).resolves.toEqual(INVALID);
    });

    it('escapes filter metacharacters (LDAP injection)', async () => {
      // Proof that the attack would work unescaped: "(uid=al*)" finds exactly alice.
      const raw = new Client({ url: slapd.url });
      try {
        const { searchEntries } = await raw.search(PEOPLE, { filter: '(&(objectClass=inetOrgPerson)(uid=al*))' });
        expect(searchEntries.map((e) => e.dn)).toEqual([`uid=alice,${PEOPLE}`]);
      } finally {
        await raw.unbind();
      }
      for (const user of ['al*', '*', 'x)(uid=alice', 'alice)(|(uid=*']) {
        await expect(auth.authenticate(basic(user, 'alice-pw'))).resolves.toEqual(INVALID);
      }
    });
  });

  it('lets a users file decide its own users and LDAP the others', async () => {
    const users = join(dir, 'users');
    writeFileSync(users, `alice:${bcrypt.hashSync('file-pw', 4)}:local\n`);
    const auth = make({
      users: { path: users },
      ldap: { url: slapd.url, bindDnTemplate: `uid={user},${PEOPLE}`, groupAttribute: 'memberOf' },
    });
    await expect(auth.authenticate(basic('alice', 'file-pw'))).resolves.toEqual({
      ok: true,
      user: 'alice',
      groups: ['local'],
    });
    await expect(auth.authenticate(basic('alice', 'alice-pw'))).resolves.toEqual(INVALID);
    await expect(auth.authenticate(basic('bob', 'bob-pw'))).resolves.toEqual({
      ok: true,
      user: 'bob',
      groups: ['staff'],
    });
  });

  it('reports an unreachable server as unavailable and does not cache it', async () => {
    const port = await freePort();
    const auth = make({
      ldap: { url: `ldap://127.0.0.1:${port}`, bindDnTemplate: `uid={user},${PEOPLE}`, timeoutMs: 1000 },
    });
    const header = basic('alice', 'alice-pw');
    await expect(auth.authenticate(header)).resolves.toEqual({
      ok: false,
      reason: 'authentication service unavailable',
      unavailable: true,
    });
    await expect(auth.authenticate(header)).resolves.toEqual({
      ok: false,
      reason: 'authentication service unavailable',
      unavailable: true,
    });
  });

  describe('TLS', () => {
    const template = `uid={user},${PEOPLE}`;
    it('binds over ldaps:// and StartTLS when the server certificate checks out against the CA file', async () => {
      const ldaps = make({ ldap: { url: slapd.ldapsUrl!, bindDnTemplate: template, tls: { caFile: ca.caFile } } });
      await expect(ldaps.authenticate(basic('bob', 'bob-pw'))).resolves.toMatchObject({ ok: true, user: 'bob' });
      const startTls = make({
        ldap: { url: slapd.url, bindDnTemplate: template, tls: { caFile: ca.caFile, startTls: true } },
      });
      await expect(startTls.authenticate(basic('bob', 'bob-pw'))).resolves.toMatchObject({ ok: true, user: 'bob' });
    });

    it('refuses a server whose certificate it cannot verify, unless told to accept any', async () => {
      const untrusted = make({ ldap: { url: slapd.ldapsUrl!, bindDnTemplate: template } });
      await expect(untrusted.authenticate(basic('bob', 'bob-pw'))).resolves.toEqual({
        ok: false,
        reason: 'authentication service unavailable',
        unavailable: true,
      });
      const insecure = make({
        ldap: { url: slapd.ldapsUrl!, bindDnTemplate: template, tls: { rejectUnauthorized: false } },
      });
      await expect(insecure.authenticate(basic('bob', 'bob-pw'))).resolves.toMatchObject({ ok: true });
    });
  });

  it('refuses bad LDAP settings with a clear error', () => {
    expect(() => createAuthenticator({ ldap: { url: 'http://x' } })).toThrow('must start with ldap:// or ldaps://');
    expect(() => createAuthenticator({ ldap: { url: slapd.url } })).toThrow('give a bind DN template');
    expect(() => createAuthenticator({ ldap: { url: slapd.url, bindDnTemplate: `uid=x,${PEOPLE}` } })).toThrow(
      'has no {user} placeholder',
    );
  });
});
