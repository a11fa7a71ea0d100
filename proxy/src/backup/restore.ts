/**
 * `safesquid master restore`: puts a backup back into a master's data directory.
 *
 * Everything is checked before anything is replaced: the archive (sizes, SHA-256, manifest),
 * then each database (SQLite quick_check, schema version this build knows, the counts the
 * manifest promises) and the slave registry (the master's own loader). The files are staged in
 * the data directory and renamed into place. A running master's data is never touched; a
 * stopped master's data is only replaced with `force`, and then moved aside, not deleted.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseSnapshot } from '../portal/slave-registry-file.js';
import { SCHEMA_SQLITE } from '../reports/schema.js';
import { BackupFileError, readBackupArchive, type BackupFileName, type BackupManifest } from './backup-archive.js';
import { databaseInUse } from './data-dir-in-use.js';
import { RestoreRefused } from '../errors.js';
export { RestoreRefused };

/** A master's state in its data directory, as restore replaces it (WAL side files included). */
const STATE_FILES = [
  'policy.db',
  'policy.db-wal',
  'policy.db-shm',
  'reports.db',
  'reports.db-wal',
  'reports.db-shm',
  'slaves.json',
  'sessions.db',
  'sessions.db-wal',
  'sessions.db-shm',
];

export interface RestoreResult {
  manifest: BackupManifest;
  /** Where the data directory's previous files went (with force). */
  replacedDir?: string;
  restored: BackupFileName[];
}

/** The master state files already in `dataDir`. */
export function existingState(dataDir: string): string[] {
  return STATE_FILES.filter((n) => existsSync(join(dataDir, n)));
}

export async function restoreBackup(o: { file: string; dataDir: string; force: boolean }): Promise<RestoreResult> {
  if (!existsSync(o.file)) throw new RestoreRefused(`--from: no such file ${o.file}`);
  mkdirSync(o.dataDir, { recursive: true });
  refuseIfRunning(o.dataDir);
  const existing = existingState(o.dataDir);
  if (existing.length > 0 && !o.force) {
    throw new RestoreRefused(
      `${o.dataDir} already holds a master's data (${existing.join(', ')}); restore would replace it. ` +
        'Stop that master and pass --force to move those files aside (into replaced-<time>/ in the data directory) and restore, ' +
        'or restore into an empty --data-dir',
    );
  }
  const stage = await mkdtemp(join(o.dataDir, '.restore-'));
  try {
    let manifest: BackupManifest;
    try {
      manifest = await readBackupArchive(createReadStream(o.file), (name) =>
        createWriteStream(join(stage, name), { mode: 0o600 }),
      );
    } catch (err) {
      if (err instanceof BackupFileError) throw new RestoreRefused(`${o.file} is not a usable backup: ${err.message}`);
      throw err;
    }
    try {
      checkStaged(stage, manifest);
    } catch (err) {
      throw new RestoreRefused(`${o.file} is not a usable backup: ${(err as Error).message}`);
    }
    const restored = Object.keys(manifest.files) as BackupFileName[];
    // A master may have started while the archive was read.
    refuseIfRunning(o.dataDir);
    let replacedDir: string | undefined;
    const aside = [...existingState(o.dataDir), ...restored.filter((n) => existsSync(join(o.dataDir, n)))];
    if (aside.length > 0) {
      replacedDir = join(
        o.dataDir,
        `replaced-${new Date()
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d+Z$/, 'Z')}`,
      );
      mkdirSync(replacedDir, { recursive: true, mode: 0o700 });
      for (const name of new Set(aside)) renameSync(join(o.dataDir, name), join(replacedDir, name));
    }
    for (const name of restored) renameSync(join(stage, name), join(o.dataDir, name));
    return { manifest, replacedDir, restored };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

function refuseIfRunning(dataDir: string): void {
  const busy = databaseInUse(dataDir);
  if (busy) {
    throw new RestoreRefused(
      `a master is running on ${dataDir} (${busy} is open in another process): stop it before restoring; ` +
        'restore never replaces a running master’s data',
    );
  }
}

type Row = Record<string, unknown>;

function withDb<T>(path: string, what: string, f: (db: Database.Database) => T): T {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`${what} cannot be opened: ${(err as Error).message}`);
  }
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`${what} is damaged (SQLite quick_check: ${String(check)})`);
    return f(db);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
      throw new Error(`${what} is not a sound SQLite database`);
    throw err;
  } finally {
    db.close();
  }
}

/** Each staged part is what the manifest says it is. */
function checkStaged(stage: string, m: BackupManifest): void {
  withDb(join(stage, 'policy.db'), 'policy.db', (db) => {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'policy_versions'").get();
    if (!has) throw new Error('policy.db has no policy_versions table');
    const n = Number((db.prepare('SELECT count(*) AS n FROM policy_versions').get() as Row).n);
    if (n !== m.policy.versions)
      throw new Error(`policy.db holds ${n} policy versions, the manifest says ${m.policy.versions}`);
    const latest = db.prepare('SELECT hash FROM policy_versions ORDER BY version DESC LIMIT 1').get() as
      | Row
      | undefined;
    if ((latest?.hash ?? null) !== m.policy.latestHash)
      throw new Error(
        `policy.db's newest version has hash ${String(latest?.hash)}, the manifest says ${m.policy.latestHash}`,
      );
  });
  if (m.reports.store === 'sqlite') {
    const { records, batches } = m.reports;
    withDb(join(stage, 'reports.db'), 'reports.db', (db) => {
      const version = Number(
        (db.prepare('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').get() as Row).v,
      );
      if (version > SCHEMA_SQLITE.length)
        throw new Error(
          `reports.db has schema version ${version}, newer than this build knows (${SCHEMA_SQLITE.length}): restore with a newer SafeSquid`,
        );
      const r = Number((db.prepare('SELECT count(*) AS n FROM records').get() as Row).n);
      const b = Number((db.prepare('SELECT count(*) AS n FROM batches').get() as Row).n);
      if (r !== records || b !== batches)
        throw new Error(`reports.db holds ${r} records in ${b} batches, the manifest says ${records} in ${batches}`);
    });
  }
  if (m.files['slaves.json']) {
    try {
      parseSnapshot(readFileSync(join(stage, 'slaves.json'), 'utf8'));
    } catch (err) {
      throw new Error(`slaves.json is not a slave registry snapshot: ${(err as Error).message}`);
    }
  }
  for (const name of ['cluster-token', 'admin-password'] as const) {
    if (m.files[name] && readFileSync(join(stage, name), 'utf8').trim() === '') throw new Error(`${name} is empty`);
  }
}
