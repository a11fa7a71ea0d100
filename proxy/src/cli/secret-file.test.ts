import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretFile } from './secret-file.js';

describe('SecretFile', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'secret-file-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('follows a Kubernetes-style rotation (..data symlink swap) and keeps the old value when the file is emptied', async () => {
    // The kubelet's layout: token -> ..data/token, ..data -> ..<timestamp>
    const v1 = join(dir, '..v1');
    const v2 = join(dir, '..v2');
    for (const [d, value] of [
      [v1, 'first'],
      [v2, 'second'],
    ] as const) {
      mkdirSync(d);
      writeFileSync(join(d, 'token'), `${value}\n`);
    }
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/token', join(dir, 'token'));
    const changes: string[] = [];
    const secret = new SecretFile(join(dir, 'token'), 'cluster token', (what) => changes.push(what));
    expect(secret.value).toBe('first');

    symlinkSync('..v2', join(dir, '..data.tmp'));
    renameSync(join(dir, '..data.tmp'), join(dir, '..data'));
    await new Promise((r) => setTimeout(r, 1100));
    expect(secret.value).toBe('second');
    expect(changes).toEqual(['cluster token']);

    writeFileSync(join(v2, 'token'), '');
    await new Promise((r) => setTimeout(r, 1100));
    expect(secret.value).toBe('second');
  });

  it('refuses an empty file at start', () => {
    writeFileSync(join(dir, 'token'), '\n');
    expect(() => new SecretFile(join(dir, 'token'), 'cluster token')).toThrow(/the cluster token file .* is empty/);
  });
});
