/**
 * The backup file: a gzip-compressed tar whose first entry, `manifest.json`, says what the
 * backup holds (counts an administrator can check against the master) and the size and SHA-256
 * of every other entry. Reading checks all of it, so a truncated or altered file is refused
 * with the reason, before anything is restored.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { readTar, tarEnd, TarFormatError, tarHeader, tarPadding, writeChunk } from './tar.js';
import { BackupFileError } from '../errors.js';
export { BackupFileError };

export const BACKUP_FORMAT = 'safesquid-backup';
export const BACKUP_VERSION = 1;
const MANIFEST = 'manifest.json';
const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The files a backup may hold, as they are named in the master's data directory. */
export const BACKUP_FILES = ['policy.db', 'slaves.json', 'reports.db', 'cluster-token', 'admin-password'] as const;
export type BackupFileName = (typeof BACKUP_FILES)[number];

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  createdAt: string;
  master: { version: string; mode: 'standalone' | 'kubernetes' };
  policy: { versions: number; latestVersion: number | null; latestHash: string | null };
  slaves: { count: number };
  reports: { store: 'sqlite'; records: number; batches: number } | { store: 'postgres' };
  files: Partial<Record<BackupFileName, { bytes: number; sha256: string }>>;
}

async function digest(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Writes the archive of `files` (name -> path on disk) with `manifest` to `out`, and ends it. */
export async function writeBackupArchive(
  out: Writable,
  manifest: Omit<BackupManifest, 'files'>,
  files: Partial<Record<BackupFileName, string>>,
): Promise<BackupManifest> {
  const entries = Object.entries(files) as [BackupFileName, string][];
  const full: BackupManifest = { ...manifest, files: {} };
  for (const [name, path] of entries) full.files[name] = await digest(path);
  const gzip = createGzip({ level: 6 });
  gzip.pipe(out);
  // A client that goes away mid-stream would otherwise leave us waiting for a 'drain' forever.
  const onClose = () => gzip.destroy(new Error('the connection closed before the whole backup was sent'));
  out.once('close', onClose);
  // ... or went away already, while the parts were being copied and hashed.
  if (out.destroyed) onClose();
  try {
    await writeEntries(gzip, full, entries);
  } finally {
    out.off('close', onClose);
  }
  return full;
}

async function writeEntries(gzip: Writable, full: BackupManifest, entries: [BackupFileName, string][]): Promise<void> {
  const now = new Date(full.createdAt);
  const json = Buffer.from(JSON.stringify(full, null, 2) + '\n');
  await writeChunk(
    gzip,
    Buffer.concat([tarHeader({ name: MANIFEST, size: json.length, mtime: now }), json, tarPadding(json.length)]),
  );
  for (const [name, path] of entries) {
    const { size } = await stat(path);
    if (size !== full.files[name]?.bytes) throw new Error(`${path} changed while the backup was written`);
    await writeChunk(gzip, tarHeader({ name, size, mtime: now }));
    for await (const chunk of createReadStream(path)) await writeChunk(gzip, chunk as Buffer);
    await writeChunk(gzip, tarPadding(size));
  }
  gzip.end(tarEnd());
  await finished(gzip);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkManifest(doc: unknown): BackupManifest {
  const m = doc as Partial<BackupManifest> | null;
  if (!m || typeof m !== 'object' || m.format !== BACKUP_FORMAT)
    throw new BackupFileError(`manifest.json is not a SafeSquid backup manifest (format must be "${BACKUP_FORMAT}")`);
  if (m.version !== BACKUP_VERSION)
    throw new BackupFileError(
      `backup format version ${String(m.version)} is not one this build reads (${BACKUP_VERSION}): restore with the SafeSquid version that wrote it`,
    );
  const bad = (field: string) => new BackupFileError(`manifest.json: ${field} is missing or wrong`);
  if (typeof m.createdAt !== 'string') throw bad('createdAt');
  if (!m.policy || !isCount(m.policy.versions)) throw bad('policy.versions');
  if (!m.slaves || !isCount(m.slaves.count)) throw bad('slaves.count');
  if (!m.reports || (m.reports.store !== 'sqlite' && m.reports.store !== 'postgres')) throw bad('reports.store');
  if (m.reports.store === 'sqlite' && (!isCount(m.reports.records) || !isCount(m.reports.batches)))
    throw bad('reports.records/batches');
  if (!m.files || typeof m.files !== 'object') throw bad('files');
  for (const [name, f] of Object.entries(m.files)) {
    if (!(BACKUP_FILES as readonly string[]).includes(name)) throw bad(`files["${name}"] (not a file a backup holds)`);
    if (!f || !isCount(f.bytes) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256))
      throw bad(`files["${name}"]`);
  }
  if (!m.files['policy.db']) throw bad('files["policy.db"]');
  if (m.reports.store === 'sqlite' && !m.files['reports.db']) throw bad('files["reports.db"]');
  return m as BackupManifest;
}

/**
 * Reads and checks a backup archive from `input`. Each file's content goes to the stream
 * `sink(name)` returns (or nowhere), and is only good once this resolves: a wrong size or
 * checksum, a missing or unexpected entry, a truncated file all throw BackupFileError.
 */
export async function readBackupArchive(
  input: Readable,
  sink: (name: BackupFileName) => Writable | undefined = () => undefined,
): Promise<BackupManifest> {
  let manifest: BackupManifest | undefined;
  const seen = new Set<string>();
  const gunzip = createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  try {
    await readTar(gunzip, async (h, content) => {
      if (!manifest) {
        if (h.name !== MANIFEST) throw new BackupFileError(`the first entry is "${h.name}", not ${MANIFEST}`);
        if (h.size > MAX_MANIFEST_BYTES) throw new BackupFileError(`${MANIFEST} is too large (${h.size} bytes)`);
        const parts: Buffer[] = [];
        for await (const c of content) parts.push(c);
        let doc: unknown;
        try {
          doc = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch (err) {
          throw new BackupFileError(`${MANIFEST} is not JSON: ${(err as Error).message}`);
        }
        manifest = checkManifest(doc);
        return;
      }
      const expected = manifest.files[h.name as BackupFileName];
      if (!expected) throw new BackupFileError(`the archive holds "${h.name}", which the manifest does not list`);
      if (seen.has(h.name)) throw new BackupFileError(`the archive holds "${h.name}" twice`);
      seen.add(h.name);
      if (h.size !== expected.bytes)
        throw new BackupFileError(`${h.name} is ${h.size} bytes, the manifest says ${expected.bytes}`);
      const hash = createHash('sha256');
      const out = sink(h.name as BackupFileName);
      for await (const c of content) {
        hash.update(c);
        if (out) await writeChunk(out, c);
      }
      if (out) {
        out.end();
        await finished(out);
      }
      if (hash.digest('hex') !== expected.sha256)
        throw new BackupFileError(`${h.name} does not match its SHA-256 in the manifest (the file is damaged)`);
    });
  } catch (err) {
    if (err instanceof BackupFileError) throw err;
    if (err instanceof TarFormatError) throw new BackupFileError(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') throw new BackupFileError('the file ends early (a truncated copy or download?)');
    if (code === 'Z_DATA_ERROR')
      throw new BackupFileError(`not a gzip-compressed SafeSquid backup (${(err as Error).message})`);
    throw err;
  }
  if (!manifest) throw new BackupFileError('the archive is empty');
  const missing = Object.keys(manifest.files).filter((n) => !seen.has(n));
  if (missing.length) throw new BackupFileError(`the archive lacks ${missing.join(', ')} (truncated?)`);
  return manifest;
}

/** Checks a backup file without restoring anything. */
export async function verifyBackupFile(file: string): Promise<BackupManifest> {
  return readBackupArchive(createReadStream(file));
}
