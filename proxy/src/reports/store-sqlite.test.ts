import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openReportStore } from './store.js';
import { describeReportStore } from './store-contract.testkit.js';
import { SCHEMA_SQLITE } from './schema.js';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'reports-sqlite-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeReportStore('SQLite', () => openReportStore({ sqlitePath: join(dir, `r${n++}`, 'reports.db') }));

describe('SQLite report store', () => {
  it('uses WAL and records its schema version, and reopens without re-migrating', async () => {
    const path = join(dir, 'reopen.db');
    const s1 = await openReportStore({ sqlitePath: path });
    await s1.ingestBatch('b1', 's', []);
    await s1.close();
    const s2 = await openReportStore({ sqlitePath: path });
    expect(await s2.ingestBatch('b1', 's', [])).toEqual({ inserted: 0, duplicate: true });
    await s2.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version FROM schema_migrations').all()).toEqual(
      SCHEMA_SQLITE.map((_, i) => ({ version: i + 1 })),
    );
    db.close();
  });

  it('refuses a database from a newer build, naming the file', async () => {
    const path = join(dir, 'newer.db');
    await (await openReportStore({ sqlitePath: path })).close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)').run();
    db.close();
    await expect(openReportStore({ sqlitePath: path })).rejects.toThrow(/newer.db: schema version 99/);
  });

  it('answers the filtered reports from the matching index', async () => {
    const path = join(dir, 'plan.db');
    await (await openReportStore({ sqlitePath: path })).close();
    {
      const db = new Database(path, { readonly: true });
      const plan = (sql: string) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1, 2, 'x') as { detail: string }[]).map((r) => r.detail).join(' ');
      expect(plan('SELECT count(*) FROM records WHERE ts >= ? AND ts < ? AND user_name = ?')).toMatch(/records_user_ts/);
      expect(plan('SELECT count(*) FROM records WHERE ts >= ? AND ts < ? AND host = ?')).toMatch(/records_host_ts/);
      expect(plan('SELECT count(*) FROM records WHERE ts >= ? AND ts < ? AND action = ?')).toMatch(/records_action_ts/);
      expect(plan('SELECT count(*) FROM records WHERE ts >= ? AND ts < ? AND slave = ?')).toMatch(/records_slave_ts/);
      db.close();
    }
  });
});
