/**
 * Proxy authentication as the proxy core applies it: 407 with a Basic challenge before any
 * policy or dialling, user and groups handed to policy, credentials never forwarded or logged.
 * (The authenticators themselves, incl. LDAP, are tested beside their code and in test/auth.)
 */
import bcrypt from 'bcryptjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawRequest, startUpstream, viaProxy, writePolicy, type Upstream } from './harness.js';
import { startSlave, type SlaveProcess } from '../support/slave-process.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('slave proxy authentication', () => {
  const dir = tempDir('auth');
  let upstream: Upstream;
  let slave: SlaveProcess;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    base = `http://127.0.0.1:${upstream.port}`;
    writeFileSync(
      join(dir.path, 'users'),
      `alice:${bcrypt.hashSync('wonderland', 4)}:staff\nbob:${bcrypt.hashSync('builder', 4)}\n`,
    );
    writePolicy(
      join(dir.path, 'policy.yaml'),
      'auth',
      `
userGroups:
  - name: staff
    users: [carol] # alice is staff only through the users file's group column
rules:
  - name: staff-no-games
    action: deny
    message: Not during work
    match: {groups: [staff], urlRegex: "^/games"}
  - name: allow-users
    action: allow
accessRestriction:
  defaultAction: deny
  connectPorts: [${upstream.port}]
  ssrf: {allowRanges: [127.0.0.0/8]}
`,
    );
    slave = await startSlave([
      '--policy',
      join(dir.path, 'policy.yaml'),
      '--auth-users',
      join(dir.path, 'users'),
      '--auth-realm',
      'Corp Proxy',
      '--access-log',
      'json',
    ]);
  });

  afterAll(async () => {
    await slave?.stop('SIGKILL');
    await upstream?.close();
    dir.remove();
  });

  it('challenges with 407 and Proxy-Authenticate before contacting anything', async () => {
    for (const headers of [
      {},
      { 'Proxy-Authorization': basic('alice', 'wrong') },
      { 'Proxy-Authorization': 'Bearer abc' },
    ]) {
      const res = await viaProxy(slave.port, `${base}/x`, { headers });
      expect(res.status).toBe(407);
      expect(res.headers['proxy-authenticate']).toBe('Basic realm="Corp Proxy"');
    }
    const tunnel = await rawRequest(slave.port, `CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(tunnel.status).toBe(407);
    expect(tunnel.head).toMatch(/\r\nProxy-Authenticate: Basic realm="Corp Proxy"/);
    expect(upstream.connections()).toBe(0);
  });

  it('forwards for a valid user without passing the credentials on, and logs the user but not the secret', async () => {
    const res = await viaProxy(slave.port, `${base}/ok`, {
      headers: { 'Proxy-Authorization': basic('bob', 'builder') },
    });
    expect(res.status).toBe(200);
    expect(upstream.seen.at(-1)!.headers['proxy-authorization']).toBeUndefined();
    await until(
      'the access log line',
      () => slave.stdout().includes('"/ok') || slave.stdout().includes('/ok"') || undefined,
    );
    const line = slave
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { url: string; user?: string })
      .find((r) => r.url.endsWith('/ok'))!;
    expect(line.user).toBe('bob');
    expect(slave.stdout() + slave.stderr()).not.toContain(Buffer.from('bob:builder').toString('base64'));
    expect(slave.stdout() + slave.stderr()).not.toContain('builder');
  });

  it("hands the authenticator's groups to policy", async () => {
    const alice = await viaProxy(slave.port, `${base}/games/chess`, {
      headers: { 'Proxy-Authorization': basic('alice', 'wonderland') },
    });
    expect(alice.status).toBe(403);
    expect(alice.body.toString()).toContain('staff-no-games');
    const bob = await viaProxy(slave.port, `${base}/games/chess`, {
      headers: { 'Proxy-Authorization': basic('bob', 'builder') },
    });
    expect(bob.status).toBe(200);
  });
});
