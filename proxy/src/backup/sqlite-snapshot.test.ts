import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { snapshotSqlite } from './sqlite-snapshot.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sqlite-snapshot-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('copies one committed state while a writer keeps committing (never half a transaction)', async () => {
  const path = join(dir, 'live.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (batch INTEGER, payload TEXT)');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
  // Each transaction adds 50 rows: a consistent copy holds a multiple of 50.
  const batch = db.transaction((n: number) => {
    for (let i = 0; i < 50; i++) insert.run(n, 'x'.repeat(200));
  });
  for (let n = 0; n < 40; n++) batch(n);
  let n = 40;
  let writing = true;
  const writer = (async () => {
    // Bounded: at most 2 000 more transactions, or until the snapshot is done.
    while (writing && n < 2040) {
      batch(n++);
      await new Promise((r) => setImmediate(r));
    }
  })();
  const copies = [];
  for (let i = 0; i < 3; i++)
    copies.push(await snapshotSqlite(path, join(dir, `copy-${i}.db`), { rows: 'SELECT count(*) FROM t' }));
  writing = false;
  await writer;
  for (const c of copies) {
    expect(c.counts.rows % 50).toBe(0);
    expect(c.counts.rows).toBeGreaterThanOrEqual(2000);
  }
  expect(n).toBeGreaterThan(40); // the writer did run during the copies
  const copy = new Database(join(dir, 'copy-0.db'), { readonly: true });
  expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
  expect(copy.pragma('quick_check', { simple: true })).toBe('ok');
  copy.close();
  db.close();
});

it('says which database could not be copied', async () => {
  await expect(snapshotSqlite(join(dir, 'missing.db'), join(dir, 'copy.db'))).rejects.toThrow(
    /backup of .*missing\.db: .*(unable to open|does not exist)/,
  );
});
