import bcrypt from 'bcryptjs';
import { argon2id } from 'hash-wasm';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthenticator, type AuthLogger } from './create-authenticator.js';
import type { ProxyAuthenticator } from './types.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('createAuthenticator with a users file', () => {
  let dir: string;
  let file: string;
  let auth: ProxyAuthenticator;
  const logged: string[] = [];
  const logger: AuthLogger = {
    info: (o, m) => logged.push(JSON.stringify([o, m])),
    warn: (o, m) => logged.push(JSON.stringify([o, m])),
    error: (o, m) => logged.push(JSON.stringify([o, m])),
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-'));
    file = join(dir, 'users');
    const argon = await argon2id({
      password: 'bob-pw',
      salt: randomBytes(16),
      parallelism: 1,
      iterations: 2,
      memorySize: 256,
      hashLength: 32,
      outputType: 'encoded',
    });
    writeFileSync(file, `alice:${bcrypt.hashSync('alice-pw', 4)}:staff,admins\nbob:${argon}\n`);
    auth = createAuthenticator({ realm: 'Corp', users: { path: file } }, { logger, usersFilePollMs: 20 })!;
  });
  afterAll(async () => {
    await auth.close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is undefined when no back end is configured', () => {
    expect(createAuthenticator({ realm: 'x' })).toBeUndefined();
  });

  it('refuses to start on a bad users file, naming file and line', () => {
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'alice:plaintext\n');
    expect(() => createAuthenticator({ users: { path: bad } })).toThrow(`${bad}:1: user "alice"`);
  });

  it('accepts bcrypt and argon2 users with their groups', async () => {
    expect(auth.scheme).toBe('Basic');
    expect(auth.realm).toBe('Corp');
    await expect(auth.authenticate(basic('alice', 'alice-pw'))).resolves.toEqual({
      ok: true,
      user: 'alice',
      groups: ['staff', 'admins'],
    });
    await expect(auth.authenticate(basic('bob', 'bob-pw'))).resolves.toEqual({ ok: true, user: 'bob', groups: [] });
  });

  it('gives the same answer for a wrong password and an unknown user', async () => {
    const wrong = await auth.authenticate(basic('alice', 'nope'));
    const unknown = await auth.authenticate(basic('mallory', 'alice-pw'));
    expect(wrong).toEqual({ ok: false, reason: 'invalid user name or password' });
    expect(unknown).toEqual(wrong);
    await expect(auth.authenticate(undefined)).resolves.toEqual({ ok: false, reason: 'no Proxy-Authorization header' });
    await expect(auth.authenticate('Digest x')).resolves.toEqual({
      ok: false,
      reason: 'unsupported authentication scheme "Digest"',
    });
  });

  it('spends a hash verification on unknown users too, so timing does not reveal names', async () => {
    const slow = join(dir, 'slow-users');
    writeFileSync(slow, `alice:${bcrypt.hashSync('pw', 10)}\n`);
    const a = createAuthenticator({ users: { path: slow } })!;
    try {
      const t0 = performance.now();
      await a.authenticate(basic('nobody', 'pw'));
      // A bcrypt of cost 10 takes tens of milliseconds; a map miss alone takes microseconds.
      expect(performance.now() - t0).toBeGreaterThan(10);
    } finally {
      await a.close?.();
    }
  });

  it('answers a repeated good header from the cache, fast, and synchronously when asked', async () => {
    const header = basic('alice', 'alice-pw');
    expect(auth.cached?.(basic('alice', 'never-tried'))).toBeUndefined();
    expect(auth.cached?.(undefined)).toEqual({ ok: false, reason: 'no Proxy-Authorization header' });
    await auth.authenticate(header);
    const start = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) await auth.authenticate(header);
    const perCallUs = Number(process.hrtime.bigint() - start) / 1000 / 1000;
    expect(perCallUs).toBeLessThan(200);
    expect(auth.cached?.(header)).toEqual({ ok: true, user: 'alice', groups: ['staff', 'admins'] });
  });

  it('revokes a removed user at once on reload, and keeps users when the new file is bad', async () => {
    const header = basic('alice', 'alice-pw');
    await expect(auth.authenticate(header)).resolves.toMatchObject({ ok: true });
    writeFileSync(file, `carol:${bcrypt.hashSync('carol-pw', 4)}\n`);
    await waitFor(async () => !(await auth.authenticate(header)).ok);
    await expect(auth.authenticate(basic('carol', 'carol-pw'))).resolves.toMatchObject({ ok: true, user: 'carol' });

    writeFileSync(file, `carol:${bcrypt.hashSync('carol-pw', 4)}\ndave\n`);
    await waitFor(async () => logged.some((l) => l.includes('users file refused')));
    await expect(auth.authenticate(basic('carol', 'carol-pw'))).resolves.toMatchObject({ ok: true, user: 'carol' });
  });

  it('turns checks away as unavailable (not as bad credentials) beyond its queue', async () => {
    // 4 checks run and 1 000 wait; the rest are answered at once, and nothing of theirs is cached.
    const results = await Promise.all(
      Array.from({ length: 1010 }, (_, i) => auth.authenticate(basic('alice', `guess-${i}`))),
    );
    const busy = results.filter((r) => !r.ok && r.unavailable);
    expect(busy).toHaveLength(6);
    expect(busy[0]).toEqual({
      ok: false,
      reason: 'too many authentications in progress; try again',
      unavailable: true,
    });
    expect(results.filter((r) => !r.ok && r.reason === 'invalid user name or password')).toHaveLength(1004);
  });

  it('never logs a password or the header', async () => {
    await auth.authenticate(basic('alice', 'very-secret-guess'));
    const all = logged.join('\n');
    expect(all).not.toContain('very-secret-guess');
    expect(all).not.toContain(Buffer.from('alice:very-secret-guess').toString('base64'));
    expect(all).toContain('proxy authentication failed');
  });
});

async function waitFor(cond: () => Promise<boolean> | boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
