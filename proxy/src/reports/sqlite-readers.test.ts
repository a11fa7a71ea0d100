import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteReaders } from './sqlite-readers.js';

let dir: string;
let path: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'reports-readers-'));
  path = join(dir, 'r.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (x INTEGER)');
  db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs a long query off the event loop', async () => {
  const readers = new SqliteReaders(path, 1);
  try {
    // Warm up the worker so its start-up is not what is measured.
    expect(await readers.all('SELECT 1 AS one', [])).toEqual([{ one: 1 }]);
    const slow = readers.all(
      'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) SELECT count(*) AS n FROM c',
      [3_000_000],
    );
    const order: string[] = [];
    const ticks = new Promise<void>((resolve) =>
      setTimeout(() => {
        order.push('timer');
        resolve();
      }, 5),
    );
    await Promise.all([slow.then(() => order.push('query')), ticks]);
    expect(order[0]).toBe('timer');
    expect(await slow).toEqual([{ n: 3_000_000 }]);
  } finally {
    await readers.close();
  }
});

it('sees what the writer committed, and reports a bad query with the file', async () => {
  const readers = new SqliteReaders(path);
  const db = new Database(path);
  try {
    db.prepare('INSERT INTO t (x) VALUES (?)').run(42);
    expect(await readers.all('SELECT x FROM t', [])).toEqual([{ x: 42 }]);
    await expect(readers.all('SELECT nope FROM t', [])).rejects.toThrow(/r\.db: no such column: nope/);
    await expect(readers.all('INSERT INTO t (x) VALUES (1) RETURNING x', [])).rejects.toThrow(/readonly/);
  } finally {
    db.close();
    await readers.close();
  }
  await expect(readers.all('SELECT 1', [])).rejects.toThrow(/closed/);
});
