import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, type ChildHandle } from '../support/child-process.js';
import { freePort } from '../support/free-port.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { waitForPort } from '../support/wait-for-port.js';

export const SUFFIX = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PW = 'root-secret';

export interface LdapUser {
  uid: string;
  password: string;
}

export interface LdapGroup {
  cn: string;
  members: string[];
}

/** Debian's slapd as a real process: mdb backend, memberof overlay, on a free 127.0.0.1 port. */
export class Slapd {
  private constructor(
    readonly url: string,
    /** `ldaps://` URL when started with a certificate. */
    readonly ldapsUrl: string | undefined,
    private readonly tmp: TempDir,
    private readonly child: ChildHandle,
  ) {}

  get dir(): string {
    return this.tmp.path;
  }

  static async start(
    users: LdapUser[],
    groups: LdapGroup[],
    tls?: { certFile: string; keyFile: string },
  ): Promise<Slapd> {
    const tmp = tempDir('slapd');
    const dir = tmp.path;
    mkdirSync(join(dir, 'db'));
    const conf = join(dir, 'slapd.conf');
    writeFileSync(
      conf,
      [
        ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
        'modulepath /usr/lib/ldap',
        'moduleload back_mdb',
        'moduleload memberof',
        `pidfile ${join(dir, 'slapd.pid')}`,
        ...(tls ? [`TLSCertificateFile ${tls.certFile}`, `TLSCertificateKeyFile ${tls.keyFile}`] : []),
        `argsfile ${join(dir, 'slapd.args')}`,
        'database mdb',
        'maxsize 10485760',
        `suffix "${SUFFIX}"`,
        `rootdn "${ROOT_DN}"`,
        `rootpw ${ROOT_PW}`,
        `directory ${join(dir, 'db')}`,
        'overlay memberof',
        'access to attrs=userPassword by anonymous auth by * none',
        'access to * by * read',
        '',
      ].join('\n'),
    );
    const entries = [
      `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example`,
      `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people`,
      `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups`,
      ...users.map(
        (u) =>
          `dn: uid=${u.uid},ou=people,${SUFFIX}\nobjectClass: inetOrgPerson\nuid: ${u.uid}\ncn: ${u.uid}\nsn: ${u.uid}\nuserPassword: ${ssha(u.password)}`,
      ),
    ];
    writeFileSync(join(dir, 'base.ldif'), entries.join('\n\n') + '\n');
    run('slapadd', ['-f', conf, '-l', join(dir, 'base.ldif')]);

    const port = await freePort();
    const url = `ldap://127.0.0.1:${port}`;
    const tlsPort = tls ? await freePort() : undefined;
    const ldapsUrl = tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : undefined;
    const listen = [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : [])].join(' ');
    // `-d 0` keeps slapd in the foreground, so the child's PID is slapd's own.
    const child = startChild('slapd', '/usr/sbin/slapd', ['-d', '0', '-h', listen, '-f', conf], {
      ignoreStdout: true,
      stopGraceMs: 3000,
    });
    const slapd = new Slapd(url, ldapsUrl, tmp, child);
    try {
      await waitForPort(port, child, 10_000);
      if (tlsPort) await waitForPort(tlsPort, child, 10_000);
      // Groups go in over the wire so the memberof overlay maintains users' memberOf.
      const groupLdif = groups
        .map((g) =>
          [
            `dn: cn=${g.cn},ou=groups,${SUFFIX}`,
            'objectClass: groupOfNames',
            `cn: ${g.cn}`,
            ...g.members.map((m) => `member: uid=${m},ou=people,${SUFFIX}`),
          ].join('\n'),
        )
        .join('\n\n');
      writeFileSync(join(dir, 'groups.ldif'), groupLdif + '\n');
      if (groups.length)
        run('ldapadd', ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PW, '-f', join(dir, 'groups.ldif')]);
    } catch (err) {
      await slapd.stop();
      throw err;
    }
    return slapd;
  }

  async stop(): Promise<void> {
    await this.child.stop();
    this.tmp.remove();
  }
}

function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
}
