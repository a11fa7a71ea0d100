import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  BackupFileError,
  readBackupArchive,
  writeBackupArchive,
  type BackupManifest,
} from './backup-archive.js';

const manifest: Omit<BackupManifest, 'files'> = {
  format: BACKUP_FORMAT,
  version: BACKUP_VERSION,
  createdAt: '2026-12-02T08:00:00.000Z',
  master: { version: '0.1.0', mode: 'standalone' },
  policy: { versions: 2, latestVersion: 2, latestHash: 'sha256:ab' },
  slaves: { count: 0 },
  reports: { store: 'postgres' },
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'backup-archive-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function archive(files: Record<string, string>): Promise<Buffer> {
  const paths: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    paths[name] = join(dir, `src-${name}`);
    writeFileSync(paths[name], content);
  }
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeBackupArchive(out, manifest, paths);
  return Buffer.concat(chunks);
}

const read = (bytes: Buffer, sink?: (name: string) => PassThrough) =>
  readBackupArchive(Readable.from([bytes]), sink as never);

it('round-trips every file with its size and SHA-256 in the manifest, and GNU tar reads it', async () => {
  const big = 'x'.repeat(700_000);
  const bytes = await archive({
    'policy.db': 'policy',
    'slaves.json': '{"format":1,"slaves":[]}',
    'cluster-token': big,
  });
  const got: Record<string, string> = {};
  const m = await read(bytes, (name) => {
    const p = new PassThrough();
    const parts: Buffer[] = [];
    p.on('data', (c: Buffer) => parts.push(c));
    p.on('end', () => (got[name] = Buffer.concat(parts).toString()));
    return p;
  });
  expect(m.files['policy.db']).toEqual({ bytes: 6, sha256: createHash('sha256').update('policy').digest('hex') });
  expect(got).toEqual({ 'policy.db': 'policy', 'slaves.json': '{"format":1,"slaves":[]}', 'cluster-token': big });
  const file = join(dir, 'b.tar.gz');
  writeFileSync(file, bytes);
  expect(execFileSync('tar', ['-tzf', file]).toString().split('\n').filter(Boolean)).toEqual([
    'manifest.json',
    'policy.db',
    'slaves.json',
    'cluster-token',
  ]);
  expect(execFileSync('tar', ['-xzOf', file, 'policy.db']).toString()).toBe('policy');
}, 30_000);

it.each<[string, (tar: Buffer) => Buffer, RegExp]>([
  ['truncated', (tar) => gzipSync(tar.subarray(0, 1024)), /truncated/],
  ['a byte changed in a file', (tar) => flipByteOf(tar, 'policy.db'), /policy\.db does not match its SHA-256/],
  ['no end marker', (tar) => gzipSync(tar.subarray(0, tar.length - 1024)), /truncated|end marker/],
  ['not gzip', () => Buffer.from('hello, not a backup'), /not a gzip-compressed SafeSquid backup/],
  ['gzip of something else', () => gzipSync(Buffer.from('hello')), /not a SafeSquid backup/],
])('refuses an archive that is %s', async (_what, damage, message) => {
  const tar = gunzipSync(await archive({ 'policy.db': 'policy' }));
  const err = await read(damage(tar)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BackupFileError);
  expect((err as Error).message).toMatch(message);
});

it('refuses a manifest of another format or version, naming it', async () => {
  const tar = gunzipSync(await archive({ 'policy.db': 'policy' }));
  const text = tar.toString('latin1');
  const other = Buffer.from(text.replace('"version": 1', '"version": 9'), 'latin1');
  expect(other.length).toBe(tar.length);
  await expect(read(gzipSync(other))).rejects.toThrow(/version 9 is not one this build reads/);
});

/** Flips a byte in the content of the entry `name` (its data starts one block after its header). */
function flipByteOf(tar: Buffer, name: string): Buffer {
  const at = tar.indexOf(Buffer.from(`${name}\0`)) + 512;
  const copy = Buffer.from(tar);
  copy[at] ^= 0x20;
  return gzipSync(copy);
}

it('the manifest is a file an administrator can read', async () => {
  const file = join(dir, 'b.tar.gz');
  writeFileSync(file, await archive({ 'policy.db': 'policy' }));
  const m = JSON.parse(execFileSync('tar', ['-xzOf', file, 'manifest.json']).toString());
  expect(m).toMatchObject({ format: 'safesquid-backup', version: 1, policy: { versions: 2 } });
  expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
});

it('gives up, rather than waiting forever, when the reader goes away mid-stream', async () => {
  const path = join(dir, 'big');
  writeFileSync(path, randomBytes(4 * 1024 * 1024)); // incompressible: more than any stream buffers
  const out = new PassThrough({ highWaterMark: 1024 }); // never read, like a client that stopped reading
  setTimeout(() => out.destroy(), 100);
  await expect(writeBackupArchive(out, manifest, { 'policy.db': path })).rejects.toThrow(
    /the connection closed before the whole backup was sent/,
  );
  // Gone before the first byte (while the master copied the databases): the same.
  const gone = new PassThrough();
  gone.destroy();
  await expect(writeBackupArchive(gone, manifest, { 'policy.db': path })).rejects.toThrow(/connection closed/);
}, 30_000);
