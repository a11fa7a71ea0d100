import bcrypt from 'bcryptjs';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUsersFile, readUsersFile, UsersFileError, UsersFileStore } from './users-file.js';
import type { UserEntry } from './users-file.js';

const HASH = bcrypt.hashSync('pw', 4);
const ARGON = '$argon2id$v=19$m=512,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$cyKf+5AJoVc/5AL8FPBwaWk0WRr0A+QI0bYSG5kVLFs';

describe('parseUsersFile', () => {
  it('reads users, optional groups, comments and blank lines', () => {
    const users = parseUsersFile(
      `# staff\nalice:${HASH}\r\n\n  bob:${ARGON}:staff, admins \ncarol:${HASH}:\n`,
      'users',
    );
    expect([...users.keys()]).toEqual(['alice', 'bob', 'carol']);
    expect(users.get('alice')).toEqual({ hash: HASH, groups: [] });
    expect(users.get('bob')).toEqual({ hash: ARGON, groups: ['staff', 'admins'] });
    expect(users.get('carol')?.groups).toEqual([]);
  });

  it.each([
    ['alice', ':1:', 'expected "user:hash"'],
    [`alice:${HASH}\nbob:plaintext`, ':2:', 'user "bob": the hash is neither bcrypt'],
    [`alice:${HASH}\nalice:${HASH}`, ':2:', 'user "alice" is listed twice'],
    [`:${HASH}`, ':1:', 'empty user name'],
    [`al ice:${HASH}`, ':1:', 'white space'],
    [`alice:${HASH}:staff,,x`, ':1:', 'bad group name ""'],
    [`alice:${HASH}:a:b`, ':1:', 'got 4 ":"-separated fields'],
  ])('refuses %p naming the file and line', (text, where, what) => {
    const err = (() => {
      try {
        parseUsersFile(text, '/etc/proxy/users');
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a UsersFileError');
    })();
    expect(err).toBeInstanceOf(UsersFileError);
    expect(err.message).toContain(`/etc/proxy/users${where}`);
    expect(err.message).toContain(what);
    expect(err.message).not.toContain(HASH);
  });

  it('names a missing file', () => {
    expect(() => readUsersFile('/nonexistent/users')).toThrow(/\/nonexistent\/users: cannot read users file/);
  });
});

describe('UsersFileStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'users-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reloads a changed file and keeps the old users when the new file is bad', async () => {
    const file = join(dir, 'users');
    writeFileSync(file, `alice:${HASH}\n`);
    const reloads: Map<string, UserEntry>[] = [];
    const errors: UsersFileError[] = [];
    const store = new UsersFileStore(file, { onReload: (u) => reloads.push(u), onError: (e) => errors.push(e) }, 20);
    try {
      expect(store.get('alice')).toBeDefined();
      writeFileSync(file, `bob:${HASH}:staff\n`);
      await waitFor(() => reloads.length === 1);
      expect(store.get('alice')).toBeUndefined();
      expect(store.get('bob')?.groups).toEqual(['staff']);

      writeFileSync(file, `bob:${HASH}:staff\ncarol:not-a-hash-at-all\n`);
      await waitFor(() => errors.length === 1);
      expect(errors[0].message).toMatch(/users:2: user "carol"/);
      expect(store.get('bob')).toBeDefined();
      expect(store.get('carol')).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('follows a Kubernetes Secret volume update (atomic swap of the ..data symlink)', async () => {
    // The kubelet's layout: users -> ..data/users, ..data -> ..<timestamp>/, swapped by rename.
    const version = (name: string, text: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'users'), text);
    };
    version('..2026_01', `alice:${HASH}\n`);
    symlinkSync('..2026_01', join(dir, '..data'));
    symlinkSync('..data/users', join(dir, 'users'));
    const reloads: Map<string, UserEntry>[] = [];
    const store = new UsersFileStore(
      join(dir, 'users'),
      { onReload: (u) => reloads.push(u), onError: () => undefined },
      20,
    );
    try {
      expect(store.get('alice')).toBeDefined();
      version('..2026_02', `bob:${HASH}\n`);
      symlinkSync('..2026_02', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, '..2026_01'), { recursive: true });
      await waitFor(() => reloads.length === 1);
      expect(store.get('alice')).toBeUndefined();
      expect(store.get('bob')).toBeDefined();
    } finally {
      store.close();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
