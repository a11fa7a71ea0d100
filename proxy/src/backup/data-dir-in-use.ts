/**
 * Is a master running on this data directory? A running master keeps policy.db (and
 * reports.db, sessions.db) open; SQLite's file locks say so to any process on the same host,
 * also one whose PID file would be stale or in another container. The probe asks for an
 * exclusive lock without waiting and lets it go at once: it changes nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const DATABASES = ['policy.db', 'reports.db', 'sessions.db'];

/** The first database of `dataDir` that another connection holds open, if any. */
export function databaseInUse(dataDir: string): string | undefined {
  for (const name of DATABASES) {
    const path = join(dataDir, name);
    if (!existsSync(path)) continue;
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { fileMustExist: true, timeout: 0 });
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      db.exec('ROLLBACK');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return path;
      throw new Error(`cannot check whether ${path} is in use: ${(err as Error).message}`, { cause: err });
    } finally {
      db?.close();
    }
  }
  return undefined;
}
