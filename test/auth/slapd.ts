import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(users: LdapUser[], groups: LdapGroup[], tls?: { certFile: string; keyFile: string }): Promise<Slapd> {
    const dir = mkdtempSync(join(tmpdir(), 'slapd-'));
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
    const child = spawn('/usr/sbin/slapd', ['-d', '0', '-h', listen, '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const slapd = new Slapd(url, ldapsUrl, dir, child);
    try {
      await waitForPort(port, child, () => stderr);
      if (tlsPort) await waitForPort(tlsPort, child, () => stderr);
      // Groups go in over the wire so the memberof overlay maintains users' memberOf.
      const groupLdif = groups
        .map((g) => [`dn: cn=${g.cn},ou=groups,${SUFFIX}`, 'objectClass: groupOfNames', `cn: ${g.cn}`, ...g.members.map((m) => `member: uid=${m},ou=people,${SUFFIX}`)].join('\n'))
        .join('\n\n');
      writeFileSync(join(dir, 'groups.ldif'), groupLdif + '\n');
      if (groups.length) run('ldapadd', ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PW, '-f', join(dir, 'groups.ldif')]);
    } catch (err) {
      await slapd.stop();
      throw err;
    }
    return slapd;
  }

  async stop(): Promise<void> {
    const { child } = this;
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`slapd exited with ${child.exitCode}: ${stderr()}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > end) throw new Error(`slapd did not listen on 127.0.0.1:${port} within 10 s: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
