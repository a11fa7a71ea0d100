import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'reports-checkpoint-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteCheckpointer', () => {
  it('copies the WAL back into the database from its own thread', async () => {
    const path = join(dir, 'c.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (x TEXT)');
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run(`row ${i} ${'x'.repeat(100)}`);
    })();
    const c = new SqliteCheckpointer(path);
    try {
      const r = await c.run();
      expect(r.walFrames).toBeGreaterThan(10);
      expect(r.checkpointed).toBe(r.walFrames);
    } finally {
      await c.close();
      db.close();
    }
  });

  it('fails a checkpoint, rather than never answering, when its worker cannot open the database or is gone', async () => {
    const missing = new SqliteCheckpointer(join(dir, 'missing.db'));
    // The worker cannot open a database that is not there: each checkpoint says so.
    await expect(missing.run()).rejects.toThrow(/missing\.db: cannot open the database: unable to open database file/);
    await expect(missing.run()).rejects.toThrow(/cannot open/);
    await missing.close();
    // A worker that is gone would never answer: a checkpoint fails at once.
    await expect(missing.run()).rejects.toThrow(/exited/);
  });
});
